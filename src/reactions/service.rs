//! The reactions service: the logic behind `events.rs` and `routes.rs`.

use serde_json::json;

use super::{validate_emoji, ReactionError, ReactionRef, Reactions, MAX_PER_MESSAGE};
use crate::app::App;
use crate::chat::{self, ChatError};
use crate::messages::service::Origin;
use crate::rooms;

/// Checks the chat, membership and that the message exists.
async fn check(app: &App, user: &str, r: &ReactionRef) -> Result<(), ReactionError> {
    chat::validate_chat_id(&r.chat_id)?;
    if r.message_id.is_empty() || r.message_id.len() > crate::messages::validate::MAX_REF_LEN {
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
