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

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use crate::app::App;
use crate::chat::{self, ChatError};
use crate::messages::Origin;
use crate::realtime::rooms;
use crate::store::{StoreError, StoreResult};

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

/// Checks the chat, membership and that the message exists.
async fn check(app: &App, user: &str, r: &ReactionRef) -> Result<(), ReactionError> {
    chat::validate_chat_id(&r.chat_id)?;
    if r.message_id.is_empty() || r.message_id.len() > crate::messages::MAX_REF_LEN {
        return Err(ReactionError::Invalid("messageId is not valid".into()));
    }
    if !app.stores.chats.is_member(&r.chat_id, user).await? {
        return Err(ChatError::NotMember.into());
    }
    if app
        .stores
        .messages
        .seq_of(&r.chat_id, &r.message_id)
        .await?
        .is_none()
    {
        return Err(ReactionError::MessageNotFound);
    }
    Ok(())
}

/// `reaction:new` (`add`) and `reaction:remove`: change the set and, when it
/// changed, tell the chat.
pub async fn react(
    app: &App,
    user: &str,
    r: ReactionRef,
    add: bool,
    origin: Origin<'_>,
) -> Result<Reactions, ReactionError> {
    let emoji = r
        .emoji
        .clone()
        .ok_or_else(|| ReactionError::Invalid("emoji is required".into()))?;
    validate_emoji(&emoji)?;
    check(app, user, &r).await?;
    let store = &app.stores.reactions;
    let change = if add {
        let ttl = app.config.messages.history_max_age.as_secs();
        store
            .add_reaction(
                &r.chat_id,
                &r.message_id,
                &emoji,
                user,
                MAX_PER_MESSAGE,
                ttl,
            )
            .await?
    } else {
        store
            .remove_reaction(&r.chat_id, &r.message_id, &emoji, user)
            .await?
    };
    if change.full {
        return Err(ReactionError::TooMany);
    }
    if change.changed {
        let event = if add {
            "reaction:new"
        } else {
            "reaction:remove"
        };
        let data = json!({
            "chatId": r.chat_id,
            "messageId": r.message_id,
            "emoji": emoji,
            "userId": user,
        });
        origin
            .emit(app, vec![rooms::chat(&r.chat_id)], event, &data)
            .await;
    }
    Ok(change.reactions)
}

/// `reaction:get`.
pub async fn get(app: &App, user: &str, r: ReactionRef) -> Result<Reactions, ReactionError> {
    check(app, user, &r).await?;
    Ok(app
        .stores
        .reactions
        .reactions(&r.chat_id, &r.message_id)
        .await?)
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
