//! Cross-node operations behind one object-safe handle, so that domain
//! services need not be generic over the socketioxide adapter, nor name the
//! Socket.IO layer at all.
//!
//! [`Fanout`] acts on rooms across the cluster; [`SocketOps`] acts on the one
//! socket an event came from. `realtime/fanout.rs` implements both for
//! socketioxide's types, whatever the adapter. Room names come from
//! [`crate::rooms`].

use async_trait::async_trait;
use serde_json::Value;

use crate::cluster::Session;

/// Cluster-wide room operations.
/// One local connection, for the drain: the TCP peer of its transport
/// (none for long-polling) and whether an event of it awaits its ack.
#[derive(Debug, Clone, Copy)]
pub struct LocalTransport {
    pub peer: Option<std::net::SocketAddr>,
    pub busy: bool,
}

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
    /// Every room with sockets on this node, with how many (admin stats;
    /// walks every socket).
    fn local_rooms(&self) -> Vec<(String, usize)>;
    /// The channels (`rooms::channel`) with subscribers on this node, with
    /// how many. Walks the local sockets' rooms once (the adapter's
    /// `local().rooms()`), then counts each channel's sockets.
    async fn local_channels(&self) -> Vec<(String, usize)>;
    /// This node's connections as the drain sees them.
    fn local_transports(&self) -> Vec<LocalTransport>;
    /// Sockets of this node in any of `rooms` (all when empty) and in none
    /// of `except`: the local recipients of a broadcast.
    fn local_recipients(&self, rooms: Vec<String>, except: Vec<String>) -> usize;
    /// The registry entries of this node's connections (re-registered after
    /// a heartbeat gap).
    fn local_sessions(&self, node_id: &str) -> Vec<Session>;
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
