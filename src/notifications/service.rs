//! The notifications service: the logic behind `events.rs` and `routes.rs`.

use serde_json::json;

use super::{
    mentions, new, preview, Kind, Notification, NotificationError, DEFAULT_PAGE, MAX_PAGE,
};
use crate::app::App;
use crate::messages::Message;
use crate::rooms;

/// Stores a notification for each user and pushes it to their devices.
pub async fn notify(
    app: &App,
    users: &[String],
    n: &Notification,
) -> Result<(), NotificationError> {
    let cfg = &app.config.notifications;
    let mut forwarded = Vec::with_capacity(users.len());
    for user in users {
        let mut own = n.clone();
        own.id = format!("n_{}", uuid::Uuid::now_v7().simple());
        app.stores
            .notifications
            .push(user, &own, cfg.max_per_user, cfg.ttl.as_secs())
            .await?;
        let event = json!({ "notification": own });
        app.fanout()
            .emit(vec![rooms::user(user)], vec![], "notification:new", &event)
            .await;
        forwarded.push((user.clone(), event));
    }
    crate::webhooks::service::forward_to_users(app, "notification:new", forwarded).await;
    Ok(())
}

/// Notification ids are opaque: non-empty, at most 128 bytes.
fn check_id(id: &str) -> Result<(), NotificationError> {
    if id.is_empty() || id.len() > 128 {
        return Err(NotificationError::Invalid("id is not valid".into()));
    }
    Ok(())
}

/// The user's unread notifications, newest first, at most `limit`
/// (default [`DEFAULT_PAGE`], at most [`MAX_PAGE`]).
pub async fn pending(
    app: &App,
    user: &str,
    limit: Option<usize>,
) -> Result<Vec<Notification>, NotificationError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(NotificationError::Invalid(format!(
            "limit must be 1-{MAX_PAGE}"
        )));
    }
    let ttl = app.config.notifications.ttl.as_secs();
    Ok(app.stores.notifications.list(user, limit, ttl).await?)
}

/// Marks one of the user's notifications read.
pub async fn mark_read(app: &App, user: &str, id: &str) -> Result<(), NotificationError> {
    check_id(id)?;
    match app.stores.notifications.mark_read(user, id).await? {
        true => Ok(()),
        false => Err(NotificationError::NotFound),
    }
}

/// Removes one of the user's notifications.
pub async fn clear(app: &App, user: &str, id: &str) -> Result<(), NotificationError> {
    check_id(id)?;
    match app.stores.notifications.clear(user, id).await? {
        true => Ok(()),
        false => Err(NotificationError::NotFound),
    }
}

/// Removes all of the user's notifications; how many there were.
pub async fn clear_all(app: &App, user: &str) -> Result<usize, NotificationError> {
    Ok(app.stores.notifications.clear_all(user).await?)
}

/// The after-store listener of the notifications: mentions and replies.
pub struct NotificationListener;

#[async_trait::async_trait]
impl crate::app::MessageListener for NotificationListener {
    fn wants(&self, _: &App, m: &Message, _: Option<&crate::messages::ChatContext>) -> bool {
        m.reply_to.is_some() || m.content.contains('@')
    }

    async fn on_stored(&self, app: &crate::app::AppState, s: &crate::app::Stored) {
        on_message(app, &s.message).await;
    }
}

/// After a message is stored: mention and reply notifications. Runs off the
/// send path; failures are logged, the message is already delivered.
pub async fn on_message(app: &App, m: &Message) {
    let data = json!({ "chatId": m.chat_id, "messageId": m.id, "senderId": m.sender_id });
    let mut notified: Vec<String> = Vec::new();
    if m.content.contains('@') && !m.encrypted {
        if let Ok(Some(chat)) = app.stores.chats.get_chat(&m.chat_id).await {
            let users = mentions(&m.content, &chat.members, &m.sender_id);
            let n = new(
                Kind::Mention,
                format!("{} mentioned you", m.sender_id),
                preview(m),
                data.clone(),
            );
            if let Err(e) = notify(app, &users, &n).await {
                tracing::warn!(error = %e, "mention notifications failed");
            }
            notified = users;
        }
    }
    if let Some(reply_to) = &m.reply_to {
        let original = async {
            let seq = app
                .stores
                .messages
                .seq_of(&m.chat_id, reply_to)
                .await
                .ok()??;
            let page = app
                .stores
                .messages
                .before(&m.chat_id, Some(seq + 1), 1)
                .await
                .ok()?;
            page.messages.into_iter().find(|o| o.seq == seq)
        }
        .await;
        if let Some(o) =
            original.filter(|o| o.sender_id != m.sender_id && !notified.contains(&o.sender_id))
        {
            let n = new(
                Kind::Reply,
                format!("{} replied to you", m.sender_id),
                preview(m),
                data,
            );
            if let Err(e) = notify(app, &[o.sender_id], &n).await {
                tracing::warn!(error = %e, "reply notification failed");
            }
        }
    }
}

/// Users added to a chat by someone else hear about it.
pub async fn on_added(app: &App, chat: &crate::chat::Chat, added: &[String], actor: Option<&str>) {
    let users: Vec<String> = added
        .iter()
        .filter(|u| Some(u.as_str()) != actor)
        .cloned()
        .collect();
    if users.is_empty() {
        return;
    }
    let title = match &chat.title {
        Some(t) => format!("You were added to {t}"),
        None => "You were added to a chat".to_string(),
    };
    let n = new(
        Kind::Chat,
        title,
        None,
        json!({ "chatId": chat.id, "by": actor }),
    );
    if let Err(e) = notify(app, &users, &n).await {
        tracing::warn!(error = %e, "chat notifications failed");
    }
}
