//! The inbox service: the logic behind `events.rs` and `routes.rs`.

use serde_json::Value;

use super::{validate_event, Outcome, Queued};
use crate::app::App;
use crate::error::AppError;
use crate::rooms;

/// Sends `event` to every device of `user`, or queues it when the user is
/// offline and `persist` is set.
pub async fn send(
    app: &App,
    user: &str,
    event: &str,
    data: Value,
    persist: bool,
) -> Result<Outcome, AppError> {
    crate::ids::validate_user_id(user)?;
    validate_event(event)?;
    if crate::messages::validate::json_len(&data) > app.config.messages.max_content_bytes {
        return Err(AppError::too_large("data is too large"));
    }
    let online = app.stores.cluster.online(&[user.to_string()]).await?[0];
    if online || !persist {
        if online {
            emit(app, user, event, &data).await;
        }
        return Ok(if online {
            Outcome::Live
        } else {
            Outcome::Dropped
        });
    }
    let cfg = &app.config.inbox;
    let item = Queued {
        event: event.to_string(),
        data,
    };
    app.stores
        .inbox
        .push_inbox(user, &item, cfg.max, cfg.ttl.as_secs())
        .await?;
    // The user may have connected (and drained its queue) meanwhile.
    if app.stores.cluster.online(&[user.to_string()]).await?[0] {
        deliver(app, user).await;
    }
    Ok(Outcome::Queued)
}

async fn emit(app: &App, user: &str, event: &str, data: &Value) {
    app.fanout()
        .emit(vec![rooms::user(user)], vec![], event, data)
        .await;
}

/// Emits the user's queued events, oldest first, to all its devices.
pub async fn deliver(app: &App, user: &str) {
    match app.stores.inbox.take_inbox(user).await {
        Ok(items) => {
            for q in items {
                emit(app, user, &q.event, &q.data).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not read the offline queue"),
    }
}
