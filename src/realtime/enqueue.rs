//! The extractor that queues every event of a connection in arrival order.
//!
//! [`Enqueue`] is a socketioxide extractor: extractors run synchronously on
//! the socket's read loop in arrival order, so pushing the event into the
//! connection's FIFO queue there preserves the order the client sent.

use std::convert::Infallible;
use std::sync::Arc;

use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Event, SocketRef, TryData};
use socketioxide::handler::FromMessageParts;
use socketioxide::socket::Socket;

use super::conn::{AckFn, Conn, Job};
use super::fanout::SocketHandle;
use crate::fanout::SocketOps;

/// The extractor of the fallback handler: queues the event in arrival order.
pub struct Enqueue;

impl<A: Adapter> FromMessageParts<A> for Enqueue {
    type Error = Infallible;

    fn from_message_parts(
        s: &Arc<Socket<A>>,
        v: &mut socketioxide::handler::Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        let Some(conn) = s.extensions.get::<Arc<Conn>>() else {
            return Ok(Enqueue);
        };
        let size = match v {
            socketioxide::handler::Value::Str(text, bins) => {
                text.len() + bins.as_ref().map_or(0, |b| b.iter().map(|b| b.len()).sum())
            }
            socketioxide::handler::Value::Bytes(b) => b.len(),
        };
        let event = Event::from_message_parts(s, v, ack_id).ok().map(|e| e.0);
        let Ok(TryData(data)) = TryData::<Value>::from_message_parts(s, v, ack_id);
        let ack: Option<AckFn> = ack_id.map(|_| {
            let sender = AckSender::from_message_parts(s, v, ack_id)
                .unwrap_or_else(|never: Infallible| match never {});
            Box::new(move |reply: &Value| {
                if let Err(e) = sender.send(reply) {
                    tracing::debug!(error = %e, "ack not sent");
                }
            }) as AckFn
        });
        let job = Job {
            event,
            data: data.ok(),
            size,
            ack,
        };
        if let Err((why, job)) = conn.enqueue(job) {
            let Ok(sock) = SocketRef::from_message_parts(s, v, ack_id);
            let handle: &dyn SocketOps = &SocketHandle(sock);
            let label = super::dispatch::label(super::dispatch::spec(
                job.event.as_deref().unwrap_or_default(),
            ));
            super::reply::refuse_unqueued(handle, job, why, label);
        }
        Ok(Enqueue)
    }
}
