//! Reactions (PROTOCOL §7): per-message sets of (emoji, user).
//!
//! One user counts once per emoji; the emoji must be exactly one emoji of
//! the Unicode list (skin tones, flags and ZWJ sequences included), checked
//! with the `emojis` crate. Membership of the chat is required, and the
//! message must still be in its history.
//!
//! Events (`events.rs`): `reaction:new`, `reaction:remove`, `reaction:get`.
//! Server events: `reaction:new { chatId, messageId, emoji, userId }`,
//! `reaction:remove { … }`. Storage: [`ReactionStore`], in `store/memory`
//! and `store/redis/reactions.rs`.

pub mod events;
pub mod service;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Deserialize;

use crate::chat::ChatError;
use crate::store::error::{StoreError, StoreResult};

/// `{ emoji: [userId] }`, users in the order they reacted.
pub type Reactions = BTreeMap<String, Vec<String>>;

/// Most (emoji, user) pairs on one message.
pub const MAX_PER_MESSAGE: usize = 1000;

/// What can go wrong with a reaction.
#[derive(Debug, thiserror::Error)]
pub enum ReactionError {
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("message not found")]
    MessageNotFound,
    #[error("too many reactions on this message")]
    TooMany,
    #[error(transparent)]
    Chat(#[from] ChatError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::ids::IdError> for ReactionError {
    fn from(e: crate::ids::IdError) -> Self {
        ReactionError::Chat(e.into())
    }
}

/// The outcome of an add or remove.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// False when nothing changed (a repeated add, removing what is not there).
    pub changed: bool,
    /// Refused: the message already holds [`MAX_PER_MESSAGE`] pairs.
    pub full: bool,
    pub reactions: Reactions,
}

/// Per-message reaction sets.
#[async_trait]
pub trait ReactionStore: Send + Sync + 'static {
    /// Adds (emoji, user) unless present or the message holds `max` pairs.
    /// `ttl_secs` bounds how long the set outlives its last change.
    async fn add_reaction(
        &self,
        chat_id: &str,
        message_id: &str,
        emoji: &str,
        user_id: &str,
        max: usize,
        ttl_secs: u64,
    ) -> StoreResult<Change>;
    async fn remove_reaction(
        &self,
        chat_id: &str,
        message_id: &str,
        emoji: &str,
        user_id: &str,
    ) -> StoreResult<Change>;
    async fn reactions(&self, chat_id: &str, message_id: &str) -> StoreResult<Reactions>;
}

/// Exactly one emoji (a single grapheme of the Unicode emoji list).
pub fn validate_emoji(emoji: &str) -> Result<(), ReactionError> {
    if emoji.len() <= 64 && emojis::get(emoji).is_some() {
        Ok(())
    } else {
        Err(ReactionError::Invalid(
            "emoji must be a single emoji".into(),
        ))
    }
}

/// `reaction:new` / `reaction:remove` / `reaction:get` payload.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReactionRef {
    pub chat_id: String,
    pub message_id: String,
    #[serde(default)]
    pub emoji: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::validate_emoji;

    #[test]
    fn single_emoji_including_tones_flags_and_zwj() {
        for ok in ["👍", "👍🏽", "🇿🇦", "❤️", "👩‍❤️‍👨", "🏳️‍🌈", "🤞🏼"]
        {
            assert!(validate_emoji(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "ab", "👍👍", "👍 ", ":+1:", "<script>", "1", "🏽"] {
            assert!(validate_emoji(bad).is_err(), "{bad:?}");
        }
        assert!(validate_emoji(&"👍".repeat(100)).is_err());
    }
}
