//! What the automation wing does to the outside world: queue a delivery
//! (and wake this node's worker), show the bot typing, and post a bot's
//! replies into the chat through `messages::service::send`. The reply
//! cache, the listener and the inbound route all go through here, which
//! keeps them free of one another.

use serde_json::json;

use super::queue::Delivery;
use super::Reply;
use crate::app::{App, AppState};
use crate::messages::{service::Origin, validate::SendMessage};
use crate::rooms;

/// Queues a delivery and remembers its correlation id for the reply.
/// The delivery carries the current trace context when it has none.
///
/// Back-pressure: when `SB_WEBHOOK_MAX_QUEUE` deliveries already wait or
/// are in flight, the delivery is shed instead (counted as
/// `outcome="shed"`) and this returns `false`: a bot request is then
/// answered with `bot:error` (see `webhooks::service::on_message`), other
/// events are dropped.
pub async fn enqueue(app: &App, d: &Delivery) -> Result<bool, crate::store::error::StoreError> {
    enqueue_bounded(app, d, app.config.webhooks.max_queue).await
}

/// [`enqueue`] with a bound of its own (0: none; an operator's replay of a
/// dead letter is not shed).
pub async fn enqueue_bounded(
    app: &App,
    d: &Delivery,
    max: usize,
) -> Result<bool, crate::store::error::StoreError> {
    let traced;
    let d = match crate::telemetry::traces::current_traceparent() {
        Some(tp) if d.traceparent.is_none() => {
            traced = Delivery {
                traceparent: Some(tp),
                ..d.clone()
            };
            &traced
        }
        _ => d,
    };
    let q = &app.stores.webhooks;
    // A delivery its correlation id names is found in the queue while it
    // waits or is in flight; its record for the reply window is written
    // once it was sent and not answered at once (see `worker`). An older
    // one (a dead letter replayed across the upgrade) needs it now.
    if !d.named_by_correlation() {
        remember(app, d).await?;
    }
    if !q.enqueue(d, max).await? {
        crate::telemetry::metrics::webhook("shed");
        tracing::debug!(correlation = %d.correlation_id, event = %d.event, "webhook: queue full, shed");
        return Ok(false);
    }
    crate::telemetry::metrics::webhook("queued");
    app.webhook_wakeup();
    Ok(true)
}

/// Keeps what answering `d` needs under its correlation id for the reply
/// window (`SB_WEBHOOK_REPLY_WINDOW_SECS`).
pub async fn remember(app: &App, d: &Delivery) -> Result<(), crate::store::error::StoreError> {
    let ttl = app.config.webhooks.correlation_ttl;
    app.stores.webhooks.remember(&d.answerable(), ttl).await
}

/// The bot appears typing in the chat (or stops).
pub async fn bot_typing(app: &App, chat_id: &str, bot: &str, typing: bool) {
    let event = if typing {
        "message:typing"
    } else {
        "message:stop-typing"
    };
    app.fanout()
        .emit(
            vec![rooms::chat(chat_id)],
            vec![],
            event,
            &json!({ "chatId": chat_id, "userId": bot }),
        )
        .await;
}

/// `bot:error { chatId, correlationId, code: "BOT_UNAVAILABLE", message,
/// retryable }` to the chat's members: a bot request will not be answered.
pub async fn bot_error(app: &App, chat_id: &str, correlation_id: &str, retryable: bool) {
    crate::telemetry::metrics::bot_error(retryable);
    let message = if retryable {
        "the assistant could not be reached; try again later"
    } else {
        "the assistant refused this request"
    };
    app.fanout()
        .emit(
            vec![rooms::chat(chat_id)],
            vec![],
            "bot:error",
            &json!({
                "chatId": chat_id,
                "correlationId": correlation_id,
                "code": "BOT_UNAVAILABLE",
                "message": message,
                "retryable": retryable,
            }),
        )
        .await;
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
