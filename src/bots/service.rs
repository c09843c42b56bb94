//! Bot session service functions: start (or resume) and complete. Socket
//! handlers, the guest route and the automation's replies call these.

use serde_json::json;

use super::{session_id, session_key, BotError, StartRequest, MAX_TOPIC_LEN};
use crate::app::App;
use crate::chat::{validate_metadata, Chat, ChatKind};
use crate::rooms;

/// Completed sessions `start` steps over before giving up (the record of
/// the newest session makes it one or two in practice).
const MAX_WALK: usize = 1000;

/// `bot:start`: the user's newest session with this bot and topic that is
/// not completed (`true`: resumed), or a new one.
pub async fn start(
    app: &App,
    user: &str,
    guest: bool,
    req: StartRequest,
) -> Result<(Chat, bool), BotError> {
    let bots = &app.config.bots;
    if crate::ids::validate_user_id(&req.bot_id).is_err() || !bots.knows(&req.bot_id) {
        return Err(BotError::UnknownBot);
    }
    if guest && !app.config.guests.bots.contains(&req.bot_id) {
        return Err(BotError::NotForGuests);
    }
    let topic = req.topic.filter(|t| !t.is_empty());
    if let Some(t) = &topic {
        if t.chars().count() > MAX_TOPIC_LEN || t.chars().any(char::is_control) {
            return Err(BotError::Invalid(format!(
                "topic must be 1-{MAX_TOPIC_LEN} characters"
            )));
        }
    }
    if !bots.allows_topic(&req.bot_id, topic.as_deref()) {
        return Err(BotError::UnknownTopic);
    }
    // Guests cannot invent topics: each would be one more stored session.
    if guest && topic.is_some() && !bots.topics.contains_key(&req.bot_id) {
        return Err(BotError::Invalid(
            "guests may only use the topics configured for this bot".into(),
        ));
    }
    let metadata = validate_metadata(req.metadata)?;
    let key = session_key(&req.bot_id, topic.as_deref());
    let store = &app.stores.chats;
    let recorded = store.bot_session(user, &key).await?;
    let mut id = recorded
        .clone()
        .unwrap_or_else(|| session_id(user, &key, None));
    for _ in 0..MAX_WALK {
        match store.get_chat(&id).await? {
            Some(c)
                if c.kind == ChatKind::Bot
                    && c.completed_at.is_none()
                    && c.is_owner(user)
                    && c.bots.contains(&req.bot_id) =>
            {
                if recorded.as_deref() != Some(id.as_str()) {
                    store.set_bot_session(user, &key, &id).await?;
                }
                return Ok((c, true));
            }
            Some(_) => id = session_id(user, &key, Some(&id)),
            None => {
                let chat = Chat {
                    id: id.clone(),
                    kind: ChatKind::Bot,
                    title: None,
                    members: vec![user.to_string(), req.bot_id.clone()],
                    owners: vec![user.to_string()],
                    bots: vec![req.bot_id.clone()],
                    created_at: crate::time::now_rfc3339(),
                    topic: topic.clone(),
                    metadata: metadata.clone(),
                    completed_at: None,
                    result: None,
                };
                // Lost a race with another device: the next turn finds it.
                if !store.create_chat(&chat).await? {
                    continue;
                }
                store.set_bot_session(user, &key, &id).await?;
                let fanout = app.fanout();
                let room = rooms::chat(&id);
                fanout.join_user(user, vec![room.clone()]).await;
                fanout
                    .emit(vec![room], vec![], "chat:updated", &json!({ "chat": chat }))
                    .await;
                return Ok((chat, false));
            }
        }
    }
    Err(BotError::Invalid(
        "too many completed sessions with this bot and topic".into(),
    ))
}

/// Completes a session (a reply with `complete`, §13): `completedAt` and
/// `result` on the chat, `chat:completed { chatId, result }` to its members
/// and, when `SB_WEBHOOK_EVENTS` lists it, to the automation. Once: a
/// repeat changes nothing. Returns the chat, `None` when it does not exist.
pub async fn complete(
    app: &App,
    chat_id: &str,
    result: Option<serde_json::Value>,
) -> Result<Option<Chat>, BotError> {
    let now = crate::time::now_rfc3339();
    let Some((chat, first)) = app
        .stores
        .chats
        .complete_chat(chat_id, &now, result.as_ref())
        .await?
    else {
        return Ok(None);
    };
    if first {
        let data = json!({ "chatId": chat.id, "result": chat.result });
        app.fanout()
            .emit(vec![rooms::chat(&chat.id)], vec![], "chat:completed", &data)
            .await;
        let cfg = &app.config.webhooks;
        if cfg.url.is_some() && cfg.events.iter().any(|e| e == "chat:completed") {
            let d = crate::webhooks::queue::Delivery::new(
                "chat:completed",
                Some(chat.id.clone()),
                json!({ "chat": chat }),
            );
            if let Err(e) = crate::webhooks::deliver::enqueue(app, &d).await {
                tracing::warn!(error = %e, "webhook: could not queue chat:completed");
            }
        }
    }
    Ok(Some(chat))
}
