//! Typing indicators. The state lives with the typist's connection (on its
//! node): starting to type announces `message:typing` to the other members;
//! renewals only extend a timer; the timer, `message:stop-typing` or the
//! disconnect announce `message:stop-typing`.

use std::sync::Arc;

use serde_json::json;

use crate::app::{App, AppState};
use crate::realtime::conn::Conn;
use crate::rooms;

async fn announce(app: &App, user: &str, chat_id: &str, event: &str) {
    app.fanout()
        .emit(
            vec![rooms::chat(chat_id)],
            vec![rooms::user(user)],
            event,
            &json!({ "chatId": chat_id, "userId": user }),
        )
        .await;
}

/// The user is typing in `chat_id` (membership already checked).
pub async fn start(app: &AppState, conn: &Arc<Conn>, chat_id: &str) {
    let timeout = app.config.messages.typing_timeout;
    let timer = {
        let app = app.clone();
        let conn = conn.clone();
        let chat = chat_id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let expired = conn.typing.lock().remove(&chat).is_some();
            if expired {
                announce(&app, conn.user_id(), &chat, "message:stop-typing").await;
            }
        })
    };
    let previous = conn
        .typing
        .lock()
        .insert(chat_id.to_string(), timer.abort_handle());
    match previous {
        Some(old) => old.abort(),
        None => announce(app, conn.user_id(), chat_id, "message:typing").await,
    }
}

/// The user stopped typing in `chat_id`.
pub async fn stop(app: &App, conn: &Conn, chat_id: &str) {
    let timer = conn.typing.lock().remove(chat_id);
    if let Some(timer) = timer {
        timer.abort();
        announce(app, conn.user_id(), chat_id, "message:stop-typing").await;
    }
}

/// The connection closed: stop every indicator it had.
pub async fn stop_all(app: &App, conn: &Conn) {
    let chats: Vec<(String, tokio::task::AbortHandle)> = conn.typing.lock().drain().collect();
    for (chat, timer) in chats {
        timer.abort();
        announce(app, conn.user_id(), &chat, "message:stop-typing").await;
    }
}
