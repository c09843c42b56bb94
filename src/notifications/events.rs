//! Socket handlers of the notification events: always the caller's own.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{NotificationError, DEFAULT_PAGE, MAX_PAGE};
use crate::error::AppError;
use crate::realtime::cx::{parse, Cx};
use crate::realtime::reply::HandlerResult;

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    limit: Option<usize>,
}

#[derive(Deserialize)]
struct Id {
    id: String,
}

fn check_id(id: &str) -> Result<(), AppError> {
    if id.is_empty() || id.len() > 128 {
        return Err(NotificationError::Invalid("id is not valid".into()).into());
    }
    Ok(())
}

pub async fn get_pending(cx: &Cx, data: Value) -> HandlerResult {
    let req: Page = parse(data)?;
    let limit = req.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(AppError::invalid(format!("limit must be 1-{MAX_PAGE}")));
    }
    let ttl = cx.app.config.notifications.ttl.as_secs();
    let list = cx
        .app
        .stores
        .notifications
        .list(cx.user_id(), limit, ttl)
        .await
        .map_err(AppError::from)?;
    Ok(json!({ "notifications": list }))
}

pub async fn read(cx: &Cx, data: Value) -> HandlerResult {
    let req: Id = parse(data)?;
    check_id(&req.id)?;
    let store = &cx.app.stores.notifications;
    if !store
        .mark_read(cx.user_id(), &req.id)
        .await
        .map_err(AppError::from)?
    {
        return Err(NotificationError::NotFound.into());
    }
    Ok(json!({}))
}

pub async fn clear(cx: &Cx, data: Value) -> HandlerResult {
    let req: Id = parse(data)?;
    check_id(&req.id)?;
    let store = &cx.app.stores.notifications;
    if !store
        .clear(cx.user_id(), &req.id)
        .await
        .map_err(AppError::from)?
    {
        return Err(NotificationError::NotFound.into());
    }
    Ok(json!({}))
}

pub async fn clear_all(cx: &Cx, data: Value) -> HandlerResult {
    let _: serde::de::IgnoredAny = parse(data)?;
    let n = cx
        .app
        .stores
        .notifications
        .clear_all(cx.user_id())
        .await
        .map_err(AppError::from)?;
    Ok(json!({ "cleared": n }))
}
