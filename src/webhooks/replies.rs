//! Bot replies: posted into the chat as the bot, once per correlation id.

use super::queue::Delivery;
use super::{Reply, ReplyError, MAX_REPLIES};
use crate::app::AppState;

/// The answer to a delivery: cached when the request was cacheable (and
/// served to the identical requests that waited for it), posted into the
/// chat unless it was a background refresh. Once per correlation id.
pub async fn handle(
    app: &AppState,
    d: &Delivery,
    replies: Vec<Reply>,
) -> Result<usize, ReplyError> {
    if replies.len() > MAX_REPLIES {
        return Err(ReplyError::TooMany);
    }
    let ttl = app.config.webhooks.correlation_ttl;
    if !app
        .stores
        .webhooks
        .mark_answered(&d.correlation_id, ttl)
        .await?
    {
        return Err(ReplyError::AlreadyAnswered);
    }
    let mut posted = 0;
    if let Some(key) = &d.cache_key {
        crate::webhooks::cache::service::answered(app, key, &replies).await;
    }
    if let (false, Some(chat), Some(bot)) = (d.refresh, &d.chat_id, &d.bot_id) {
        posted = super::deliver::post(app, chat, bot, &d.correlation_id, &replies).await;
        super::deliver::bot_typing(app, chat, bot, false).await;
    }
    Ok(posted)
}

/// `POST /api/v1/webhooks/inbound`, after the signature: the delivery the
/// correlation id names, answered once.
pub async fn inbound(
    app: &AppState,
    correlation_id: &str,
    replies: Vec<Reply>,
) -> Result<usize, ReplyError> {
    let q = &app.stores.webhooks;
    let Some(d) = q.recall(correlation_id).await? else {
        // An answered correlation id keeps only its mark.
        return Err(if q.is_answered(correlation_id).await? {
            ReplyError::AlreadyAnswered
        } else {
            ReplyError::UnknownCorrelation
        });
    };
    handle(app, &d, replies).await
}

/// A delivery that will never be answered (dead-lettered).
pub async fn abandon(app: &AppState, d: &Delivery) {
    if let Some(key) = &d.cache_key {
        crate::webhooks::cache::service::abandoned(app, key).await;
    }
    if let (false, Some(chat), Some(bot)) = (d.refresh, &d.chat_id, &d.bot_id) {
        super::deliver::bot_typing(app, chat, bot, false).await;
    }
}
