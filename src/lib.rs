//! Switchboard: a horizontally scalable Socket.IO messaging gateway.

pub mod chat;
pub mod cluster;
pub mod error;
pub mod messages;
pub mod store;
