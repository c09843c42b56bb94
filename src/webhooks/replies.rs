//! Bot replies: posted into the chat as the bot, once per correlation id.

use super::queue::Delivery;
use super::{Complete, Reply, ReplyError, MAX_REPLIES, MAX_RESULT_BYTES};
use crate::app::AppState;

/// The answer to a delivery: cached when the request was cacheable (and
/// served to the identical requests that waited for it), posted into the
/// chat unless it was a background refresh; then, with `complete`, the bot
/// session is completed (§13). Once per correlation id.
pub async fn handle(
    app: &AppState,
    d: &Delivery,
    replies: Vec<Reply>,
    complete: Option<Complete>,
) -> Result<usize, ReplyError> {
    if replies.len() > MAX_REPLIES {
        return Err(ReplyError::TooMany);
    }
    if complete
        .as_ref()
        .and_then(|c| c.result.as_ref())
        .is_some_and(|r| r.to_string().len() > MAX_RESULT_BYTES)
    {
        return Err(ReplyError::ResultTooLarge);
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
        if let Some(c) = complete {
            if let Err(e) = crate::bots::service::complete(app, chat, c.result).await {
                tracing::warn!(error = %e, chat, "bot session: could not complete");
            }
        }
    }
    Ok(posted)
}

/// `POST /api/v1/webhooks/inbound`, after the signature: the delivery the
/// correlation id names, answered once.
pub async fn inbound(
    app: &AppState,
    correlation_id: &str,
    replies: Vec<Reply>,
    complete: Option<Complete>,
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
    handle(app, &d, replies, complete).await
}

/// A delivery that will never be answered (dead-lettered): the bot stops
/// typing, the chat gets `bot:error` (PROTOCOL §12) and, with
/// `SB_BOT_FALLBACK_TEXT`, the fallback as a bot message. `retryable`: the
/// backend failed for a while (asking again later may work), as opposed to
/// refusing the request for good (a 4xx).
pub async fn abandon(app: &AppState, d: &Delivery, retryable: bool) {
    if let Some(key) = &d.cache_key {
        crate::webhooks::cache::service::abandoned(app, key).await;
    }
    let (false, Some(chat), Some(bot)) = (d.refresh, &d.chat_id, &d.bot_id) else {
        return;
    };
    super::deliver::bot_typing(app, chat, bot, false).await;
    super::deliver::bot_error(app, chat, &d.correlation_id, retryable).await;
    if let Some(text) = &app.config.webhooks.fallback_text {
        let fallback = [Reply {
            content: text.clone(),
            kind: Default::default(),
            media: None,
        }];
        // Keyed by the correlation id: a repeat posts nothing new.
        let key = format!("{}:fallback", d.correlation_id);
        super::deliver::post(app, chat, bot, &key, &fallback).await;
    }
}
