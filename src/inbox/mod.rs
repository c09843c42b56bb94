//! Server events addressed to a user (`POST /api/v1/users/{userId}/events`)
//! and the offline queue behind `persist: true`.
//!
//! An event goes live to every device of the user on every node. With
//! `persist: true` and the user offline, it is queued instead (at most
//! `SB_INBOX_MAX` per user, dropped after `SB_INBOX_TTL_SECS`) and emitted,
//! in order, to the user's next connection right after `connected`.
//!
//! Storage: [`InboxStore`], in `store/memory` and `store/redis/inbox.rs`.

pub mod routes;
pub mod service;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::error::StoreResult;

/// A queued event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Queued {
    pub event: String,
    pub data: Value,
}

#[async_trait]
pub trait InboxStore: Send + Sync + 'static {
    /// Appends to the user's queue, keeping the newest `max`; the queue
    /// expires `ttl_secs` after its last push.
    async fn push_inbox(
        &self,
        user_id: &str,
        item: &Queued,
        max: usize,
        ttl_secs: u64,
    ) -> StoreResult<()>;
    /// Takes the whole queue, oldest first (atomically: each item is taken
    /// once).
    async fn take_inbox(&self, user_id: &str) -> StoreResult<Vec<Queued>>;
}

/// Event names a server may not emit (Socket.IO's reserved names and our
/// own lifecycle events).
const RESERVED: &[&str] = &[
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
    "connected",
    "error",
];

/// A valid custom event name: 1–100 printable characters, not reserved.
pub fn validate_event(name: &str) -> Result<(), InboxError> {
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err(InboxError::Invalid(
            "event must be 1-100 characters without control characters".into(),
        ));
    }
    if RESERVED.contains(&name) {
        return Err(InboxError::Invalid(format!("event {name:?} is reserved")));
    }
    Ok(())
}

/// Why an event for a user was refused.
#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("invalid: {0}")]
    Invalid(String),
}

/// How an event was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Emitted to the user's live connections.
    Live,
    /// The user was offline: queued for its next connection.
    Queued,
    /// The user was offline and nothing was asked to persist.
    Dropped,
}
