//! Socket handlers of the notification events: always the caller's own.

use serde::Deserialize;
use serde_json::{json, Value};

use super::service;
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

pub async fn get_pending(cx: &Cx, data: Value) -> HandlerResult {
    let req: Page = parse(data)?;
    let list = service::pending(&cx.app, cx.user_id(), req.limit).await?;
    Ok(json!({ "notifications": list }))
}

pub async fn read(cx: &Cx, data: Value) -> HandlerResult {
    let req: Id = parse(data)?;
    service::mark_read(&cx.app, cx.user_id(), &req.id).await?;
    Ok(json!({}))
}

pub async fn clear(cx: &Cx, data: Value) -> HandlerResult {
    let req: Id = parse(data)?;
    service::clear(&cx.app, cx.user_id(), &req.id).await?;
    Ok(json!({}))
}

pub async fn clear_all(cx: &Cx, data: Value) -> HandlerResult {
    let _: serde::de::IgnoredAny = parse(data)?;
    let n = service::clear_all(&cx.app, cx.user_id()).await?;
    Ok(json!({ "cleared": n }))
}
