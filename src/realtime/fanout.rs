//! The socketioxide implementations of [`Fanout`] and [`SocketOps`]
//! (declared in `crate::fanout`), whatever the adapter.

use async_trait::async_trait;
use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::SocketIo;

use super::conn::Conn;
use crate::cluster::Session;
use crate::fanout::{Fanout, LocalTransport, SocketOps};
use crate::rooms;
use crate::telemetry::metrics;

pub(crate) struct IoFanout<A: Adapter>(pub SocketIo<A>);

#[async_trait]
impl<A: Adapter> Fanout for IoFanout<A> {
    async fn emit(&self, rooms: Vec<String>, except: Vec<String>, event: &str, data: &Value) {
        metrics::fanout_published();
        if let Err(e) = self.0.to(rooms).except(except).emit(event, data).await {
            tracing::warn!(event, error = %e, "broadcast failed");
        }
    }

    async fn emit_all(&self, event: &str, data: &Value) {
        metrics::fanout_published();
        if let Err(e) = self.0.emit(event, data).await {
            tracing::warn!(event, error = %e, "broadcast failed");
        }
    }

    async fn join_user(&self, user_id: &str, rooms: Vec<String>) {
        if let Err(e) = self.0.to(rooms::user(user_id)).join(rooms).await {
            tracing::warn!(error = %e, "remote join failed");
        }
    }

    async fn leave_user(&self, user_id: &str, rooms: Vec<String>) {
        if let Err(e) = self.0.to(rooms::user(user_id)).leave(rooms).await {
            tracing::warn!(error = %e, "remote leave failed");
        }
    }

    async fn disconnect_user(&self, user_id: &str) {
        if let Err(e) = self.0.to(rooms::user(user_id)).disconnect().await {
            tracing::warn!(error = %e, "remote disconnect failed");
        }
    }

    fn local_sockets(&self) -> usize {
        self.0.sockets().len()
    }

    fn local_rooms(&self) -> Vec<(String, usize)> {
        let mut counts: std::collections::HashMap<String, usize> = Default::default();
        for s in self.0.sockets() {
            for r in s.rooms() {
                *counts.entry(r.to_string()).or_default() += 1;
            }
        }
        counts.into_iter().collect()
    }

    async fn local_channels(&self) -> Vec<(String, usize)> {
        let rooms = self.0.local().rooms().await.unwrap_or_default();
        rooms
            .iter()
            .filter_map(|r| match crate::rooms::kind(r) {
                crate::rooms::Kind::Channel(name) => {
                    let n = self.0.local().within(r.to_string()).sockets().len();
                    (n > 0).then(|| (name.to_string(), n))
                }
                _ => None,
            })
            .collect()
    }

    fn local_transports(&self) -> Vec<LocalTransport> {
        self.0
            .sockets()
            .iter()
            .map(|s| LocalTransport {
                peer: (s.transport_type() == socketioxide::TransportType::Websocket)
                    .then(|| {
                        s.req_parts()
                            .extensions
                            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                            .map(|c| c.0)
                    })
                    .flatten(),
                busy: s
                    .extensions
                    .get::<std::sync::Arc<Conn>>()
                    .is_some_and(|c| c.busy()),
            })
            .collect()
    }

    fn local_recipients(&self, rooms: Vec<String>, except: Vec<String>) -> usize {
        let ops = self.0.local();
        let ops = if rooms.is_empty() { ops } else { ops.to(rooms) };
        ops.except(except).sockets().len()
    }

    fn local_sessions(&self, node_id: &str) -> Vec<Session> {
        self.0
            .sockets()
            .iter()
            .filter_map(|s| s.extensions.get::<std::sync::Arc<Conn>>())
            .map(|conn| conn.session(node_id))
            .collect()
    }

    async fn close(&self) {
        self.0.close().await;
    }
}

pub(crate) struct SocketHandle<A: Adapter>(pub SocketRef<A>);

#[async_trait]
impl<A: Adapter> SocketOps for SocketHandle<A> {
    fn id(&self) -> String {
        self.0.id.to_string()
    }

    fn join(&self, rooms: Vec<String>) {
        self.0.join(rooms);
    }

    fn leave(&self, rooms: Vec<String>) {
        self.0.leave(rooms);
    }

    fn emit(&self, event: &str, data: &Value) {
        if let Err(e) = self.0.emit(event, data) {
            tracing::debug!(event, error = %e, "emit to socket failed");
        }
    }

    async fn emit_to_others(&self, rooms: Vec<String>, event: &str, data: &Value) {
        metrics::fanout_published();
        if let Err(e) = self.0.to(rooms).emit(event, data).await {
            tracing::warn!(event, error = %e, "broadcast failed");
        }
    }

    fn rooms(&self) -> Vec<String> {
        self.0.rooms().into_iter().map(|r| r.to_string()).collect()
    }

    fn disconnect(&self) {
        let _ = self.0.clone().disconnect();
    }
}
