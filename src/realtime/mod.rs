//! Socket.IO plumbing: the path from a client frame to a domain service.
//!
//! ```text
//! frame → socketioxide → Enqueue extractor (runs in arrival order, on the
//!   socket's read loop) → per-connection FIFO queue (conn.rs) → one worker
//!   task per connection → dispatch.rs (the event table) →
//!   <domain>/events.rs → <domain> service → ack or `error` event (reply.rs)
//! ```
//!
//! socketioxide spawns a task per incoming event, so two events of one socket
//! could otherwise finish out of order. Every event of a connection therefore
//! goes through one queue drained by one task: a connection's events are
//! handled, stored and delivered in the order it sent them (PROTOCOL §4), and
//! one client cannot make a node run unbounded concurrent work.
//!
//! Room names live in `crate::rooms`; cross-node operations (emit to rooms,
//! join or remove a user's sockets on every node, disconnect) go through the
//! `crate::fanout::Fanout` handle, implemented here in `fanout.rs` for
//! whatever adapter (local or Redis).

pub mod conn;
pub mod cx;
pub mod dispatch;
pub mod enqueue;
pub mod fanout;
pub mod pubsub;
pub mod reply;
mod setup;

pub use setup::{attach_local, attach_redis};
