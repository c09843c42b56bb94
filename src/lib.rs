//! Switchboard: a horizontally scalable Socket.IO messaging gateway.
//!
//! The map:
//! - **Socket path**: a client frame → socketioxide → `realtime::conn`
//!   (per-connection FIFO queue) → `realtime::dispatch` (the event table) →
//!   `<domain>/events.rs` → `<domain>` service → `store` → fan-out.
//! - **HTTP path**: axum routes in `http.rs` (health, readiness, metrics) →
//!   the same domain services.
//! - **Cross-node path**: the socketioxide Redis adapter (fred driver)
//!   carries broadcasts and remote joins; shared state lives in Redis
//!   (`store/redis`), with the connection registry and node heartbeats in
//!   `cluster`.
//!
//! `server::run` is the entry point main and the tests share.

pub mod admin;
pub mod api;
pub mod app;
pub mod auth;
pub mod background;
pub mod bots;
pub mod calls;
pub mod channels;
pub mod chat;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod error;
pub mod fanout;
pub mod http;
pub mod ids;
pub mod inbox;
pub mod messages;
pub mod notifications;
pub mod presence;
pub mod rate_limit;
pub mod reactions;
pub mod realtime;
pub mod rooms;
pub mod security;
pub mod server;
pub mod shutdown;
pub mod store;
pub mod telemetry;
/// Test support (a real redis-server per test): only in test builds and
/// with the `testing` feature, never in the release binary.
#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub mod testing;
pub mod time;
pub mod transports;
pub mod webhooks;
