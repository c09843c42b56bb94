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

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::App;
use crate::messages::Message;
use crate::realtime::rooms;
use crate::store::{StoreError, StoreResult};

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

/// Stores a notification for each user and pushes it to their devices.
pub async fn notify(
    app: &App,
    users: &[String],
    n: &Notification,
) -> Result<(), NotificationError> {
    let cfg = &app.config.notifications;
    for user in users {
        let mut own = n.clone();
        own.id = format!("n_{}", uuid::Uuid::now_v7().simple());
        app.stores
            .notifications
            .push(user, &own, cfg.max_per_user, cfg.ttl.as_secs())
            .await?;
        app.fanout()
            .emit(
                vec![rooms::user(user)],
                vec![],
                "notification:new",
                &json!({ "notification": own }),
            )
            .await;
    }
    Ok(())
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

/// After a message is stored: mention and reply notifications. Runs off the
/// send path; failures are logged, the message is already delivered.
pub async fn on_message(app: &App, m: &Message) {
    let data = json!({ "chatId": m.chat_id, "messageId": m.id, "senderId": m.sender_id });
    let mut notified: Vec<String> = Vec::new();
    if m.content.contains('@') && !m.encrypted {
        if let Ok(Some(chat)) = app.stores.chats.get_chat(&m.chat_id).await {
            let users = mentions(&m.content, &chat.members, &m.sender_id);
            let n = new(
                Kind::Mention,
                format!("{} mentioned you", m.sender_id),
                preview(m),
                data.clone(),
            );
            if let Err(e) = notify(app, &users, &n).await {
                tracing::warn!(error = %e, "mention notifications failed");
            }
            notified = users;
        }
    }
    if let Some(reply_to) = &m.reply_to {
        let original = async {
            let seq = app
                .stores
                .messages
                .seq_of(&m.chat_id, reply_to)
                .await
                .ok()??;
            let page = app
                .stores
                .messages
                .before(&m.chat_id, Some(seq + 1), 1)
                .await
                .ok()?;
            page.messages.into_iter().find(|o| o.seq == seq)
        }
        .await;
        if let Some(o) =
            original.filter(|o| o.sender_id != m.sender_id && !notified.contains(&o.sender_id))
        {
            let n = new(
                Kind::Reply,
                format!("{} replied to you", m.sender_id),
                preview(m),
                data,
            );
            if let Err(e) = notify(app, &[o.sender_id], &n).await {
                tracing::warn!(error = %e, "reply notification failed");
            }
        }
    }
}

/// Users added to a chat by someone else hear about it.
pub async fn on_added(app: &App, chat: &crate::chat::Chat, added: &[String], actor: Option<&str>) {
    let users: Vec<String> = added
        .iter()
        .filter(|u| Some(u.as_str()) != actor)
        .cloned()
        .collect();
    if users.is_empty() {
        return;
    }
    let title = match &chat.title {
        Some(t) => format!("You were added to {t}"),
        None => "You were added to a chat".to_string(),
    };
    let n = new(
        Kind::Chat,
        title,
        None,
        json!({ "chatId": chat.id, "by": actor }),
    );
    if let Err(e) = notify(app, &users, &n).await {
        tracing::warn!(error = %e, "chat notifications failed");
    }
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
