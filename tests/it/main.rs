//! Integration tests: real nodes on 127.0.0.1:0, real Socket.IO clients,
//! a real redis-server, several nodes sharing it.

#[path = "../common/mod.rs"]
mod common;

mod api;
mod bots;
mod calls;
mod channels;
mod chats;
mod cluster;
mod connect;
mod drain;
mod durability;
mod faults;
mod messages;
mod node_faults;
mod notifications;
mod observability;
mod partitions;
mod presence;
mod reactions;
mod redis_cluster;
mod redis_tls;
mod security;
mod traces;
mod webhooks;
