//! Bot replies: posted into the chat as the bot, once per correlation id.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::queue::Delivery;
use crate::app::AppState;
use crate::messages::{service::Origin, validate::SendMessage, Media, MessageType};

/// Most replies in one answer.
pub const MAX_REPLIES: usize = 20;

/// One reply message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reply {
    #[serde(default)]
    pub content: String,
    /// text (default) | image | video | audio | file | location | link
    #[serde(default, rename = "type")]
    #[schema(value_type = Option<String>)]
    pub kind: MessageType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub media: Option<Media>,
}

/// A synchronous response body, or `POST /api/v1/webhooks/inbound`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Inbound {
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub replies: Vec<Reply>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    #[error("this correlation id was already answered")]
    AlreadyAnswered,
    #[error("at most {MAX_REPLIES} replies")]
    TooMany,
    #[error(transparent)]
    Store(#[from] crate::store::error::StoreError),
}

/// Posts `replies` (validated like `message:new`) into `chat` as `bot`;
/// client ids derived from `key` make a repeat store nothing new. Returns
/// how many were posted.
pub async fn post(app: &AppState, chat: &str, bot: &str, key: &str, replies: &[Reply]) -> usize {
    let mut n = 0;
    for (i, r) in replies.iter().enumerate() {
        let req = SendMessage {
            chat_id: chat.to_string(),
            content: r.content.clone(),
            kind: r.kind,
            media: r.media.clone(),
            reply_to: None,
            forwarded_from: None,
            client_id: Some(format!("{key}:{i}")),
            encrypted: false,
        };
        match crate::messages::service::send(app, bot, req, Origin::Server).await {
            Ok(_) => n += 1,
            Err(e) => tracing::warn!(error = %e, chat, bot, "webhook: a bot reply was refused"),
        }
    }
    n
}

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
        crate::cache::service::answered(app, key, &replies).await;
    }
    if let (false, Some(chat), Some(bot)) = (d.refresh, &d.chat_id, &d.bot_id) {
        posted = post(app, chat, bot, &d.correlation_id, &replies).await;
        super::service::bot_typing(app, chat, bot, false).await;
    }
    Ok(posted)
}

/// A delivery that will never be answered (dead-lettered).
pub async fn abandon(app: &AppState, d: &Delivery) {
    if let Some(key) = &d.cache_key {
        crate::cache::service::abandoned(app, key).await;
    }
    if let (false, Some(chat), Some(bot)) = (d.refresh, &d.chat_id, &d.bot_id) {
        super::service::bot_typing(app, chat, bot, false).await;
    }
}
