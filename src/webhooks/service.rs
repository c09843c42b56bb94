//! The webhooks service: the logic behind `events.rs` and `routes.rs`.

use serde_json::json;

use super::delivery_for;
use super::queue::Delivery;
use crate::app::App;
use crate::messages::Message;

/// After a message is stored (off the send path): deliveries for its chat's
/// bots (or answers from the reply cache) and for `SB_WEBHOOK_EVENTS`.
pub async fn on_message(app: &crate::app::AppState, m: &Message) {
    let cfg = &app.config.webhooks;
    if cfg.url.is_none() {
        return;
    }
    let chat = match app.stores.chats.get_chat(&m.chat_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "webhook: could not load the chat");
            return;
        }
    };
    let from_bot = chat.bots.contains(&m.sender_id);
    let mut sent = false;
    if !from_bot && !m.encrypted {
        for bot in &chat.bots {
            sent = true;
            if let Err(e) = crate::webhooks::cache::service::handle(app, m, bot).await {
                tracing::warn!(error = %e, "webhook: could not queue a bot delivery");
            }
        }
    }
    if !sent && cfg.events.iter().any(|e| e == "message:new") {
        if let Err(e) = super::deliver::enqueue(app, &delivery_for(m, None, None)).await {
            tracing::warn!(error = %e, "webhook: could not queue a delivery");
        }
    }
}

/// The after-store listener of the webhooks.
pub struct WebhookListener;

#[async_trait::async_trait]
impl crate::app::MessageListener for WebhookListener {
    fn wants(&self, app: &App, _: &Message) -> bool {
        app.config.webhooks.url.is_some()
    }

    async fn on_stored(&self, app: &crate::app::AppState, m: &Message) {
        on_message(app, m).await;
    }
}

/// `SB_WEBHOOK_EVENTS` includes `presence:update`.
pub async fn on_presence(app: &App, presence: &crate::presence::Presence) {
    let cfg = &app.config.webhooks;
    if cfg.url.is_none() || !cfg.events.iter().any(|e| e == "presence:update") {
        return;
    }
    let d = Delivery {
        id: uuid::Uuid::now_v7().simple().to_string(),
        correlation_id: format!("corr_{}", uuid::Uuid::now_v7().simple()),
        event: "presence:update".into(),
        chat_id: None,
        bot_id: None,
        sender_id: None,
        data: json!({ "presence": presence }),
        attempt: 0,
        created_ms: crate::time::now_ms(),
        cache_key: None,
        refresh: false,
        traceparent: None,
    };
    if let Err(e) = super::deliver::enqueue(app, &d).await {
        tracing::warn!(error = %e, "webhook: could not queue a delivery");
    }
}
