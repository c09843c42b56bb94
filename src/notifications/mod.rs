//! Notifications (PROTOCOL §8): stored per user with a count bound and a
//! TTL, pushed live to every device of the user, kept for
//! `notification:get-pending`.
//!
//! Created by the server for mentions (`@userId` of a member in a message),
//! replies to a user's message, and being added to a chat (missed calls come
//! with calls). A user only ever sees and changes its own notifications: the
//! store is keyed by the token's user.
//!
//! Events (`events.rs`): `notification:get-pending`, `notification:read`,
//! `notification:clear`, `notification:clear-all`. Server event:
//! `notification:new { notification }`. Storage: [`NotificationStore`].

pub mod events;
pub mod routes;
pub mod service;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::messages::Message;
use crate::store::error::{StoreError, StoreResult};

/// `mention` | `reply` | `call` | `chat` | `system`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Mention,
    Reply,
    Call,
    Chat,
    System,
}

/// `low` | `normal` | `high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
}

/// The `notification` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    pub priority: Priority,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sound: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge: Option<u32>,
    pub read: bool,
    pub created_at: String,
    /// Creation time in epoch ms (ordering and TTL), not sent.
    #[serde(default, skip_serializing)]
    pub created_ms: i64,
}

/// Per-user notification storage. Implementations keep at most `max` per
/// user (dropping the oldest) and forget entries older than `ttl_secs`.
#[async_trait]
pub trait NotificationStore: Send + Sync + 'static {
    async fn push(
        &self,
        user_id: &str,
        n: &Notification,
        max: usize,
        ttl_secs: u64,
    ) -> StoreResult<()>;
    /// Newest first, at most `limit`, none older than `ttl_secs`.
    async fn list(
        &self,
        user_id: &str,
        limit: usize,
        ttl_secs: u64,
    ) -> StoreResult<Vec<Notification>>;
    /// `false` when the user has no such notification.
    async fn mark_read(&self, user_id: &str, id: &str) -> StoreResult<bool>;
    async fn clear(&self, user_id: &str, id: &str) -> StoreResult<bool>;
    async fn clear_all(&self, user_id: &str) -> StoreResult<usize>;
}

#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("notification not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Default and largest page of `notification:get-pending`.
pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 200;

pub fn new(
    kind: Kind,
    title: String,
    body: Option<String>,
    data: serde_json::Value,
) -> Notification {
    let now = crate::time::now_ms();
    Notification {
        id: format!("n_{}", uuid::Uuid::now_v7().simple()),
        kind,
        title: Some(title),
        body,
        data: Some(data),
        priority: Priority::Normal,
        sound: None,
        badge: None,
        read: false,
        created_at: crate::time::rfc3339_from_ms(now),
        created_ms: now,
    }
}

/// The users a message mentions: `@id` tokens naming members other than the
/// sender.
pub fn mentions(content: &str, members: &[String], sender: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for token in content.split(|c: char| c.is_whitespace()) {
        let Some(name) = token.strip_prefix('@') else {
            continue;
        };
        let name = name.trim_end_matches([',', '.', '!', '?', ':', ';', ')']);
        if let Some(m) = members.iter().find(|m| m.as_str() == name) {
            if m != sender && !out.contains(m) {
                out.push(m.clone());
            }
        }
    }
    out
}

fn preview(m: &Message) -> Option<String> {
    (!m.encrypted).then(|| m.content.chars().take(140).collect())
}

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn mentions_are_members_other_than_the_sender() {
        let members: Vec<String> = ["alice", "bob", "carol"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            mentions("hi @bob, and @carol!", &members, "alice"),
            vec!["bob", "carol"]
        );
        assert_eq!(
            mentions("@alice @mallory bob@x @bob @bob", &members, "alice"),
            vec!["bob"]
        );
        assert!(mentions("no mentions", &members, "alice").is_empty());
    }
}
