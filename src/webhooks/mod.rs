//! Automation webhooks (PROTOCOL §12): events POSTed to the automation
//! backend (n8n and the like), signed, through a durable queue, and the
//! bot replies that come back.
//!
//! - **What is sent.** A user message in a chat with bot members goes to the
//!   automation once per bot (`event: "message:new"`, `botId` set), and the
//!   chat sees the bot typing until the reply arrives. Event kinds listed in
//!   `SB_WEBHOOK_EVENTS` (`message:new` for every message, `presence:update`)
//!   are sent too, without a bot.
//! - **How.** [`WebhookQueue`] is a durable queue in the store: deliveries
//!   wait in a ready set scored by due time, a node claims a batch with a
//!   lease (`in flight`), and acks, reschedules (exponential backoff from
//!   `SB_WEBHOOK_BACKOFF_MS`) or dead-letters each (after
//!   `SB_WEBHOOK_MAX_ATTEMPTS`). A delivery whose lease expires (its node
//!   died) is claimed again by another node with the same correlation id:
//!   at-least-once.
//! - **Signature.** `X-Switchboard-Signature: t=<unix>,v1=<hex
//!   HMAC-SHA256(secret, "t.body")>` on requests, and required on
//!   `POST /api/v1/webhooks/inbound` (timestamps older than
//!   `SB_WEBHOOK_TOLERANCE_SECS` refused).
//! - **Replies.** A 2xx response `{ replies: [...] }` (sync), or later
//!   through the inbound route; a correlation id is answered once. Each
//!   reply is posted into the chat as the bot through `messages::service::send`.
//! - **Reply cache.** Requests matching `SB_CACHE_RULES` go through
//!   [`crate::webhooks::cache`] first.
//!
//! Files: `queue.rs` (types and storage trait), `sign.rs`, `worker.rs`
//! (delivery), `replies.rs`, `routes.rs` (inbound). Storage in
//! `store/memory` and `store/redis/webhooks.rs`. Metrics:
//! `switchboard_webhooks_total{outcome}`,
//! `switchboard_webhook_duration_seconds`.

pub mod cache;
pub mod deliver;
pub mod queue;
pub mod replies;
pub mod routes;
pub mod service;
pub mod sign;
pub mod worker;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

pub use crate::config::automation::Format;
use crate::messages::{Media, Message, MessageType};
use queue::Delivery;

/// What goes to the automation for a user message to a bot. `session`:
/// the chat's `{ topic, metadata }` when it is a bot session (§13).
pub fn delivery_for(
    m: &Message,
    bot: Option<&str>,
    cache_key: Option<String>,
    session: Option<Value>,
) -> Delivery {
    Delivery {
        bot_id: bot.map(str::to_string),
        sender_id: Some(m.sender_id.clone()),
        cache_key,
        session,
        ..Delivery::new(
            "message:new",
            Some(m.chat_id.clone()),
            json!({ "message": m }),
        )
    }
}

/// The JSON body POSTed for a delivery, in the configured format.
pub fn payload(d: &Delivery, format: Format) -> Value {
    let timestamp = crate::time::rfc3339_from_ms(crate::time::now_ms());
    match (format, d.data.get("message")) {
        (Format::Evolution, Some(m)) if d.event == "message:new" => {
            let secs = m["createdAt"]
                .as_str()
                .and_then(|t| {
                    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .map_or(0, |t| t.unix_timestamp());
            json!({
                "event": "messages.upsert",
                "instance": d.bot_id,
                "data": {
                    "key": { "remoteJid": d.chat_id, "fromMe": false, "id": m["id"], "participant": m["senderId"] },
                    "pushName": m["senderId"],
                    "message": { "conversation": m["content"] },
                    "messageType": "conversation",
                    "messageTimestamp": secs,
                },
                "date_time": timestamp,
                "sender": d.bot_id,
                "correlationId": d.correlation_id,
                "chatId": d.chat_id,
                "botId": d.bot_id,
            })
        }
        _ => json!({
            "event": d.event,
            "data": d.data,
            "chatId": d.chat_id,
            "botId": d.bot_id,
            // A bot session (§13) is its chat; elsewhere chat and bot.
            "sessionId": d.chat_id.as_ref().map(|c| match &d.bot_id {
                Some(_) if c.starts_with(crate::bots::SESSION_PREFIX) => c.clone(),
                Some(b) => format!("{c}:{b}"),
                None => c.clone(),
            }),
            "session": d.session,
            "correlationId": d.correlation_id,
            "timestamp": timestamp,
        }),
    }
}

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
#[schema(example = json!({ "correlationId": "corr_0190b7c2", "replies": [{ "content": "Here is your NDA." }], "complete": { "result": { "document": "https://files.example/nda.pdf" } } }))]
pub struct Inbound {
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub replies: Vec<Reply>,
    /// Completes the bot session (§13) after the replies are posted.
    #[serde(default)]
    pub complete: Option<Complete>,
}

/// `complete` of a reply: the session's `result` (any JSON, at most
/// [`MAX_RESULT_BYTES`] serialized).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct Complete {
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
}

/// Largest session `result`.
pub const MAX_RESULT_BYTES: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    #[error("this correlation id was already answered")]
    AlreadyAnswered,
    #[error("unknown or expired correlationId")]
    UnknownCorrelation,
    #[error("at most {MAX_REPLIES} replies")]
    TooMany,
    #[error("complete.result is larger than {MAX_RESULT_BYTES} bytes")]
    ResultTooLarge,
    #[error(transparent)]
    Store(#[from] crate::store::error::StoreError),
}
