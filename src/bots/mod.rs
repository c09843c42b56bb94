//! Bot sessions (PROTOCOL §13): guided conversations between one user and
//! one bot, optionally on a topic (a template, a form, a support queue).
//!
//! A session is a chat of kind `bot` with the user (owner) and the bot (a
//! bot member, so the automation of §12 hears the user's messages). It is
//! completed by a reply that carries `complete: { result? }`: the chat gets
//! `completedAt` and `result`, its members `chat:completed`, and
//! `message:new` in it is refused with `CONFLICT` from then on.
//!
//! Session ids form a chain per (user, bot, topic): the first is derived
//! from the three, each next one from the one before. `bot:start` walks the
//! chain from the last session it recorded to the first session that is
//! not completed, or creates it. Two devices starting at once derive the
//! same id, so one session is created, never two.
//!
//! Events (`events.rs`): `bot:start`. Server events: `chat:completed`.
//! Storage: the chat store (`ChatStore::complete_chat`, `bot_session`).

pub mod events;
pub mod routes;
pub mod service;

use serde::Deserialize;

use crate::chat::ChatError;

/// `bot:start` payload.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartRequest {
    pub bot_id: String,
    #[serde(default)]
    pub topic: Option<String>,
    /// The new session's chat `metadata` (ignored when one is resumed).
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}

/// Every session's chat id starts with this; `chat:create` refuses such
/// ids, so no user can plant a chat where a session will be looked for.
pub const SESSION_PREFIX: &str = "bot_";

/// Longest topic.
pub const MAX_TOPIC_LEN: usize = 64;

/// The id of the session after `previous` (or the first) in the chain of
/// (user, bot, topic).
pub fn session_id(user: &str, key: &str, previous: Option<&str>) -> String {
    let name = format!(
        "{}:{user}\n{}:{key}\n{}",
        user.len(),
        key.len(),
        previous.unwrap_or("")
    );
    let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes());
    format!("{SESSION_PREFIX}{}", id.simple())
}

/// The key of a (bot, topic) pair in the per-user record.
pub fn session_key(bot: &str, topic: Option<&str>) -> String {
    format!("{bot}\n{}", topic.unwrap_or(""))
}

/// What can go wrong starting a session.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error("unknown bot")]
    UnknownBot,
    #[error("unknown topic for this bot")]
    UnknownTopic,
    #[error("guests may not talk to this bot")]
    NotForGuests,
    #[error("invalid: {0}")]
    Invalid(String),
    #[error(transparent)]
    Chat(#[from] ChatError),
}

impl From<crate::store::error::StoreError> for BotError {
    fn from(e: crate::store::error::StoreError) -> Self {
        BotError::Chat(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_chain_and_never_collide() {
        let first = session_id("u", &session_key("b", None), None);
        let next = session_id("u", &session_key("b", None), Some(&first));
        assert_ne!(first, next);
        assert_eq!(first, session_id("u", &session_key("b", None), None));
        assert_ne!(first, session_id("u", &session_key("b", Some("t")), None));
        assert_ne!(
            session_id("ab", &session_key("c", None), None),
            session_id("a", &session_key("bc", None), None)
        );
        assert!(crate::chat::validate_chat_id(&first).is_ok());
    }
}
