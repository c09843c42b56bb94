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
#[schema(example = json!({ "kind": "group", "title": "Support", "members": ["alice"], "bots": ["helpbot"], "metadata": { "plan": "pro" } }))]
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
    /// A JSON object of at most 4 KB, returned with the chat.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// `direct` | `group` | `channel` | `bot` (a bot session, PROTOCOL §13:
/// created by `bot:start`, or over HTTP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChatKind {
    Direct,
    Group,
    Channel,
    Bot,
}

/// Largest chat `metadata`, serialized.
pub const MAX_METADATA_BYTES: usize = 4096;

/// Checks chat `metadata`: a JSON object of at most [`MAX_METADATA_BYTES`]
/// serialized. `null` is no metadata.
pub fn validate_metadata(
    metadata: Option<serde_json::Value>,
) -> Result<Option<serde_json::Value>, ChatError> {
    match metadata {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v @ serde_json::Value::Object(_)) => {
            if v.to_string().len() > MAX_METADATA_BYTES {
                return Err(ChatError::TooLarge(format!(
                    "metadata is larger than {MAX_METADATA_BYTES} bytes"
                )));
            }
            Ok(Some(v))
        }
        Some(_) => Err(ChatError::Invalid("metadata must be a JSON object".into())),
    }
}

/// The `chat` object of the protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// A bot session's topic (§13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// When a bot session was completed; it takes no more messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// The session's result, from the completing reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
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
    #[error("the session is completed")]
    Completed,
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
    /// Completes a bot session: sets `completedAt` and `result` unless it
    /// is completed already. `None` when the chat does not exist; the bool
    /// says whether this call completed it (so `chat:completed` goes once).
    async fn complete_chat(
        &self,
        chat_id: &str,
        completed_at: &str,
        result: Option<&serde_json::Value>,
    ) -> StoreResult<Option<(Chat, bool)>>;
    /// The newest bot session a user started under `key` (bot and topic),
    /// as last recorded: a hint, checked by the caller.
    async fn bot_session(&self, user_id: &str, key: &str) -> StoreResult<Option<String>>;
    async fn set_bot_session(&self, user_id: &str, key: &str, chat_id: &str) -> StoreResult<()>;
}

#[cfg(test)]
mod tests {
    use super::service::direct_chat_id;
    use super::*;

    #[test]
    fn chat_ids_are_restricted() {
        assert!(validate_chat_id("room-1:a_b.c").is_ok());
        for bad in ["", "a b", "a{b}", "a\nb", &"x".repeat(129)] {
            assert!(validate_chat_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn direct_chat_id_is_symmetric_and_unambiguous() {
        assert_eq!(
            direct_chat_id("alice", "bob"),
            direct_chat_id("bob", "alice")
        );
        assert_ne!(direct_chat_id("ab", "c"), direct_chat_id("a", "bc"));
        assert!(validate_chat_id(&direct_chat_id("x", "y")).is_ok());
    }

    #[test]
    fn user_id_lists_are_bounded_and_deduplicated() {
        let ids = vec!["a".to_string(), "b".into(), "a".into()];
        assert_eq!(validate_user_ids(&ids, 10).unwrap(), vec!["a", "b"]);
        assert!(matches!(
            validate_user_ids(&ids, 2).map_err(ChatError::from),
            Err(ChatError::TooLarge(_))
        ));
        assert!(validate_user_ids(&["".to_string()], 10).is_err());
    }
}
