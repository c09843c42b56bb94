//! Cross-node operations behind one object-safe handle, so that domain
//! services need not be generic over the socketioxide adapter.
//!
//! [`Fanout`] acts on rooms across the cluster; [`SocketOps`] acts on the one
//! socket an event came from. Both are implemented for socketioxide's types,
//! whatever the adapter.

use async_trait::async_trait;
use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::SocketIo;

/// Cluster-wide room operations.
#[async_trait]
pub trait Fanout: Send + Sync + 'static {
    /// Emit to every socket in `rooms` (on every node) except those in
    /// `except`.
    async fn emit(&self, rooms: Vec<String>, except: Vec<String>, event: &str, data: &Value);
    /// Emit to every socket on every node.
    async fn emit_all(&self, event: &str, data: &Value);
    /// Make every socket of a user, on every node, join `rooms`.
    async fn join_user(&self, user_id: &str, rooms: Vec<String>);
    /// Make every socket of a user, on every node, leave `rooms`.
    async fn leave_user(&self, user_id: &str, rooms: Vec<String>);
    /// Disconnect every socket of a user, on every node.
    async fn disconnect_user(&self, user_id: &str);
    /// Sockets connected to this node.
    fn local_sockets(&self) -> usize;
    /// The connections of this node (re-registered after a heartbeat gap).
    fn local_conns(&self) -> Vec<std::sync::Arc<super::conn::Conn>>;
    /// Close every transport of this node (clients reconnect elsewhere).
    async fn close(&self);
}

/// Operations on the socket an event came from.
#[async_trait]
pub trait SocketOps: Send + Sync + 'static {
    fn id(&self) -> String;
    fn join(&self, rooms: Vec<String>);
    fn leave(&self, rooms: Vec<String>);
    /// Emit to this socket only.
    fn emit(&self, event: &str, data: &Value);
    /// Emit to `rooms` on every node, except this socket.
    async fn emit_to_others(&self, rooms: Vec<String>, event: &str, data: &Value);
    /// The rooms this socket is in, on this node.
    fn rooms(&self) -> Vec<String>;
    /// Close this connection.
    fn disconnect(&self);
}

pub(crate) struct IoFanout<A: Adapter>(pub SocketIo<A>);

#[async_trait]
impl<A: Adapter> Fanout for IoFanout<A> {
    async fn emit(&self, rooms: Vec<String>, except: Vec<String>, event: &str, data: &Value) {
        if let Err(e) = self.0.to(rooms).except(except).emit(event, data).await {
            tracing::warn!(event, error = %e, "broadcast failed");
        }
    }

    async fn emit_all(&self, event: &str, data: &Value) {
        if let Err(e) = self.0.emit(event, data).await {
            tracing::warn!(event, error = %e, "broadcast failed");
        }
    }

    async fn join_user(&self, user_id: &str, rooms: Vec<String>) {
        if let Err(e) = self.0.to(super::rooms::user(user_id)).join(rooms).await {
            tracing::warn!(error = %e, "remote join failed");
        }
    }

    async fn leave_user(&self, user_id: &str, rooms: Vec<String>) {
        if let Err(e) = self.0.to(super::rooms::user(user_id)).leave(rooms).await {
            tracing::warn!(error = %e, "remote leave failed");
        }
    }

    async fn disconnect_user(&self, user_id: &str) {
        if let Err(e) = self.0.to(super::rooms::user(user_id)).disconnect().await {
            tracing::warn!(error = %e, "remote disconnect failed");
        }
    }

    fn local_sockets(&self) -> usize {
        self.0.sockets().len()
    }

    fn local_conns(&self) -> Vec<std::sync::Arc<super::conn::Conn>> {
        self.0
            .sockets()
            .iter()
            .filter_map(|s| s.extensions.get::<std::sync::Arc<super::conn::Conn>>())
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
