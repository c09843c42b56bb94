//! Messages, receipts and typing (PROTOCOL §4).
//!
//! The server assigns `id`, a gap-free per-chat `seq`, `senderId` (from the
//! token only) and `createdAt`; a message is acked only after it is stored.
//! Storing is one atomic step in the store (membership check, `clientId`
//! idempotency, `seq`, history append, trim): one Redis round trip.
//!
//! Events (see `events.rs`): `message:new`, `message:delivered`,
//! `message:read`, `message:typing`, `message:stop-typing`, `chat:history`,
//! `chat:sync`. Storage: [`MessageStore`], implemented in `store/memory` and
//! `store/redis/messages.rs`.

pub mod events;
pub mod routes;
pub mod service;
pub mod typing;
pub mod validate;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::chat::ChatError;
use crate::store::error::{StoreError, StoreResult};

/// `text` (default) | `image` | `video` | `audio` | `file` | `link`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    #[default]
    Text,
    Image,
    Video,
    Audio,
    File,
    Link,
}

/// Media attached to a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Media {
    pub url: String,
    pub mime: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// The `message` object of the protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: String,
    pub chat_id: String,
    pub seq: u64,
    pub sender_id: String,
    #[serde(rename = "type")]
    pub kind: MessageType,
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<Media>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub forwarded_from: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    pub encrypted: bool,
    pub created_at: String,
    /// Milliseconds since the epoch of `created_at`; used for age-based
    /// retention, not sent to clients.
    #[serde(default, skip_serializing)]
    #[schema(ignore)]
    pub created_ms: i64,
}

/// What the store needs to append a message: everything but `seq`.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The message with `seq` = 0; the store assigns the real one.
    pub message: Message,
    /// Keep at most this many messages per chat.
    pub max_messages: u64,
    /// Drop messages older than this (milliseconds since the epoch).
    pub min_created_ms: i64,
    /// How long a `clientId` is remembered for idempotency, in seconds.
    pub client_id_ttl_secs: u64,
}

/// What the after-store listeners need of the message's chat, read by the
/// append itself so that they need no second lookup: the chat's bot
/// members and, when it has any, its kind, topic and metadata (a bot
/// session's `session` of the webhook, §13).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatContext {
    pub bots: Vec<String>,
    /// Only read when the chat has bots.
    pub kind: Option<crate::chat::ChatKind>,
    pub topic: Option<String>,
    pub metadata: Option<serde_json::Value>,
}

impl ChatContext {
    pub fn of(chat: &crate::chat::Chat) -> Self {
        let bots = !chat.bots.is_empty();
        ChatContext {
            bots: chat.bots.clone(),
            kind: bots.then_some(chat.kind),
            topic: chat.topic.clone().filter(|_| bots),
            metadata: chat.metadata.clone().filter(|_| bots),
        }
    }
}

/// The result of an append.
#[derive(Debug, Clone, PartialEq)]
pub enum Appended {
    /// Stored now, with its `seq`; the chat's context when the store read
    /// it with the append (`None`: a listener that needs it looks the
    /// chat up).
    Stored(Message, Option<ChatContext>),
    /// A message with the same `clientId` from the same sender was already
    /// stored: this is it, nothing was written.
    Duplicate(Message),
    /// The sender is not a member of the chat (or the chat does not exist).
    NotMember,
    /// The chat is a completed bot session (§13): nothing was stored.
    Completed,
}

/// Which per-user cursor to move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    Delivered,
    Read,
}

/// A page of history, ascending by `seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub messages: Vec<Message>,
    /// More messages exist beyond this page in the direction of paging.
    pub has_more: bool,
}

/// The messages after a cursor, for `chat:sync`.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncSlice {
    pub messages: Vec<Message>,
    /// False when messages after the cursor were already trimmed.
    pub complete: bool,
    /// True when `limit` cut the slice short.
    pub has_more: bool,
}

/// What can go wrong in the messages domain.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("too large: {0}")]
    TooLarge(String),
    #[error("message not found")]
    NotFound,
    #[error(transparent)]
    Chat(#[from] ChatError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::ids::IdError> for MessageError {
    fn from(e: crate::ids::IdError) -> Self {
        MessageError::Chat(e.into())
    }
}

/// Per-chat message history and per-user cursors.
#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    /// Atomically: check that the sender is a member, return the stored
    /// message when its `clientId` was seen, otherwise assign the next `seq`,
    /// append, trim by count and age, and move the sender's delivered and
    /// read cursors to the new `seq`.
    async fn append(&self, new: NewMessage) -> StoreResult<Appended>;
    /// Messages with `seq` < `before` (or the newest when `None`), newest
    /// `limit` of them, returned ascending.
    async fn before(&self, chat_id: &str, before: Option<u64>, limit: usize) -> StoreResult<Page>;
    /// Messages with `seq` > `after`, oldest `limit` of them, ascending.
    async fn after(&self, chat_id: &str, after: u64, limit: usize) -> StoreResult<SyncSlice>;
    /// The `seq` of a stored message, `None` when unknown or trimmed.
    async fn seq_of(&self, chat_id: &str, message_id: &str) -> StoreResult<Option<u64>>;
    /// The highest `seq` assigned in a chat (0 when none).
    async fn last_seq(&self, chat_id: &str) -> StoreResult<u64>;
    /// Move a cursor forward to `seq`; `true` when it moved, `false` when it
    /// was already at or past `seq` (it never moves backward).
    async fn advance_cursor(
        &self,
        chat_id: &str,
        user_id: &str,
        cursor: Cursor,
        seq: u64,
    ) -> StoreResult<bool>;
    /// The read cursor of a user in a chat (0 when none).
    async fn read_cursor(&self, chat_id: &str, user_id: &str) -> StoreResult<u64>;
}
