//! The webhooks service: the logic behind `events.rs` and `routes.rs`.

use serde_json::json;

use super::delivery_for;
use super::queue::Delivery;
use crate::app::App;
use crate::messages::{ChatContext, Message};

/// After a message is stored (off the send path): deliveries for its chat's
/// bots (or answers from the reply cache) and for `SB_WEBHOOK_EVENTS`.
/// `known`: the chat's context as the append read it; without it, the chat
/// is looked up.
pub async fn on_message(app: &crate::app::AppState, m: &Message, known: Option<&ChatContext>) {
    let cfg = &app.config.webhooks;
    let looked_up;
    let chat = match known {
        Some(c) => c,
        None => match app.stores.chats.get_chat(&m.chat_id).await {
            Ok(Some(c)) => {
                looked_up = ChatContext::of(&c);
                &looked_up
            }
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "webhook: could not load the chat");
                return;
            }
        },
    };
    let from_bot = chat.bots.contains(&m.sender_id);
    if cfg.url.is_none() {
        // No backend: a bot session's message cannot be answered (§12).
        if !from_bot && !m.encrypted {
            for bot in &chat.bots {
                let d = delivery_for(m, Some(bot), None, None);
                super::replies::abandon(app, &d, false).await;
            }
        }
        return;
    }
    let session = (chat.kind == Some(crate::chat::ChatKind::Bot))
        .then(|| json!({ "topic": chat.topic, "metadata": chat.metadata }));
    let mut sent = false;
    if !from_bot && !m.encrypted {
        for bot in &chat.bots {
            sent = true;
            let session = session.clone();
            match crate::webhooks::cache::service::handle(app, m, bot, session).await {
                Ok(None) => {}
                // The queue is full (SB_WEBHOOK_MAX_QUEUE): answered at once,
                // as when the backend cannot be reached.
                Ok(Some(shed)) => super::replies::abandon(app, &shed, true).await,
                Err(e) => tracing::warn!(error = %e, "webhook: could not queue a bot delivery"),
            }
        }
    }
    if !sent && cfg.events.iter().any(|e| e == "message:new") {
        if let Err(e) = super::deliver::enqueue(app, &delivery_for(m, None, None, None)).await {
            tracing::warn!(error = %e, "webhook: could not queue a delivery");
        }
    }
}

/// The after-store listener of the webhooks.
pub struct WebhookListener;

#[async_trait::async_trait]
impl crate::app::MessageListener for WebhookListener {
    /// A user's message in a chat with bots (a delivery to each, or without
    /// a backend `bot:error`), and every message when `message:new` is
    /// forwarded. When the append did not say whether the chat has bots:
    /// with a backend every message, without one the messages of bot
    /// sessions.
    fn wants(&self, app: &App, m: &Message, chat: Option<&ChatContext>) -> bool {
        let cfg = &app.config.webhooks;
        if cfg.url.is_some() && cfg.events.iter().any(|e| e == "message:new") {
            return true;
        }
        match chat {
            Some(c) => !c.bots.is_empty() && !c.bots.contains(&m.sender_id),
            None => cfg.url.is_some() || m.chat_id.starts_with(crate::bots::SESSION_PREFIX),
        }
    }

    async fn on_stored(&self, app: &crate::app::AppState, s: &crate::app::Stored) {
        on_message(app, &s.message, s.chat.as_ref()).await;
    }
}

/// `SB_WEBHOOK_EVENTS` includes `presence:update`.
pub async fn on_presence(app: &App, presence: &crate::presence::Presence) {
    let cfg = &app.config.webhooks;
    if cfg.url.is_none() || !cfg.events.iter().any(|e| e == "presence:update") {
        return;
    }
    let d = Delivery::new("presence:update", None, json!({ "presence": presence }));
    if let Err(e) = super::deliver::enqueue(app, &d).await {
        tracing::warn!(error = %e, "webhook: could not queue a delivery");
    }
}

/// `POST /admin/webhooks/dead-letters/{id}/replay`: the dead letter goes
/// back to the queue as a fresh delivery (attempts from 1, same delivery
/// and correlation ids, its correlation record renewed for the reply
/// window); a bot shows typing again. `None` when there is no such dead
/// letter.
pub async fn replay_dead(
    app: &crate::app::AppState,
    id: &str,
) -> Result<Option<Delivery>, crate::store::error::StoreError> {
    let Some(entry) = app.stores.webhooks.take_dead(id).await? else {
        return Ok(None);
    };
    let Ok(mut d) = serde_json::from_value::<Delivery>(entry["delivery"].clone()) else {
        tracing::warn!(
            id,
            "webhook: an unreadable dead letter was dropped on replay"
        );
        return Ok(None);
    };
    d.attempt = 0;
    super::deliver::enqueue_bounded(app, &d, 0).await?;
    if let (false, Some(chat), Some(bot)) = (d.refresh, &d.chat_id, &d.bot_id) {
        super::deliver::bot_typing(app, chat, bot, true).await;
    }
    crate::telemetry::metrics::webhook("replayed");
    Ok(Some(d))
}

/// `SB_WEBHOOK_EVENTS` includes `event`, addressed to users
/// (`notification:new`, `call:incoming`, `call:missed`): one delivery per
/// `(user, data)`, whose `data` gains `userId` and `online` (whether the
/// user had a live connection anywhere, one lookup for all of them), so
/// that a push relay (APNs, FCM) can reach the devices that are not
/// connected. Nothing is read when the kind is not configured.
pub async fn forward_to_users(app: &App, event: &str, to: Vec<(String, serde_json::Value)>) {
    let cfg = &app.config.webhooks;
    if to.is_empty() || cfg.url.is_none() || !cfg.events.iter().any(|e| e == event) {
        return;
    }
    let users: Vec<String> = to.iter().map(|(u, _)| u.clone()).collect();
    // Unknown (the store failed): offline, so a relay pushes; none is lost.
    let online = app.stores.cluster.online(&users).await.unwrap_or_default();
    for (i, (user, mut data)) in to.into_iter().enumerate() {
        data["userId"] = json!(user);
        data["online"] = json!(online.get(i).copied().unwrap_or(false));
        let chat = data["chatId"].as_str().map(str::to_string);
        let d = Delivery::new(event, chat, data);
        if let Err(e) = super::deliver::enqueue(app, &d).await {
            tracing::warn!(error = %e, event, "webhook: could not queue a delivery");
        }
    }
}
