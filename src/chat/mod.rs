//! Chats: rooms with members (PROTOCOL §3).
//!
//! A chat has an id, a kind, members, owners and bots. Membership is the
//! authority for everything in a chat; every service function here checks it.
//!
//! Events (see `events.rs`): `chat:create`, `chat:add-members`,
//! `chat:remove-members`, `chat:join`, `chat:leave`, `chat:join-multiple`,
//! `chat:get-active-members`, `chat:list`.
//! Server events: `chat:updated`, `chat:member-joined`, `chat:member-left`.
//! Storage: [`ChatStore`], implemented in `store/memory` and `store/redis/chat.rs`.

pub mod events;
pub mod routes;
pub mod service;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::store::error::{StoreError, StoreResult};

/// Longest chat id, user id and title accepted.
pub use crate::ids::{
    validate_chat_id, validate_user_id, validate_user_ids, IdError, MAX_ID_LEN, MAX_USER_ID_LEN,
};
pub const MAX_TITLE_LEN: usize = 200;

/// `PUT /api/v1/chats/{chatId}`: the whole chat. Owners and bots are
/// members too (added when missing).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutChat {
    /// direct | group | channel
    #[schema(value_type = String)]
    pub kind: ChatKind,
    #[serde(default)]
    pub title: Option<String>,
    pub members: Vec<String>,
    #[serde(default)]
    pub owners: Vec<String>,
    #[serde(default)]
    pub bots: Vec<String>,
}

/// `direct` | `group` | `channel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatKind {
    Direct,
    Group,
    Channel,
}

/// The `chat` object of the protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Chat {
    pub id: String,
    pub kind: ChatKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub members: Vec<String>,
    pub owners: Vec<String>,
    #[serde(default)]
    pub bots: Vec<String>,
    pub created_at: String,
}

impl Chat {
    pub fn is_member(&self, user_id: &str) -> bool {
        self.members.iter().any(|m| m == user_id)
    }
    pub fn is_owner(&self, user_id: &str) -> bool {
        self.owners.iter().any(|m| m == user_id)
    }
}

/// What can go wrong in the chat domain.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("too large: {0}")]
    TooLarge(String),
    #[error("chat not found")]
    NotFound,
    #[error("not a member")]
    NotMember,
    #[error("not an owner")]
    NotOwner,
    #[error("chat exists")]
    Exists,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<IdError> for ChatError {
    fn from(e: IdError) -> Self {
        match e {
            IdError::Invalid(m) => ChatError::Invalid(m),
            IdError::TooMany(m) => ChatError::TooLarge(m),
        }
    }
}

/// The result of a membership change: the chat after it, and who actually
/// joined or left (users already in / not in the chat are not repeated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipChange {
    pub chat: Chat,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// Storage of chats and of the per-user index of chats.
///
/// Implementations keep `members`, `owners` and `bots` free of duplicates,
/// keep insertion order of members, and make each call atomic.
#[async_trait]
pub trait ChatStore: Send + Sync + 'static {
    /// Store a new chat. `Ok(false)` when a chat with this id already exists
    /// (nothing is changed then).
    async fn create_chat(&self, chat: &Chat) -> StoreResult<bool>;
    /// Create or replace a chat wholesale (HTTP API). Returns the previous
    /// chat, if any. Users no longer members are dropped from the index.
    async fn put_chat(&self, chat: &Chat) -> StoreResult<Option<Chat>>;
    async fn get_chat(&self, chat_id: &str) -> StoreResult<Option<Chat>>;
    /// Add members; `None` when the chat does not exist.
    async fn add_members(
        &self,
        chat_id: &str,
        user_ids: &[String],
    ) -> StoreResult<Option<MembershipChange>>;
    /// Remove members (also from owners and bots); `None` when the chat does
    /// not exist.
    async fn remove_members(
        &self,
        chat_id: &str,
        user_ids: &[String],
    ) -> StoreResult<Option<MembershipChange>>;
    async fn is_member(&self, chat_id: &str, user_id: &str) -> StoreResult<bool>;
    /// Ids of the chats a user is a member of, most recently joined last,
    /// at most `limit`.
    async fn chats_of_user(&self, user_id: &str, limit: usize) -> StoreResult<Vec<String>>;
}
