//! Socket handlers of the message events: decode, call the service, answer.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{service::Origin, Cursor};
use crate::error::AppError;
use crate::realtime::cx::{parse, Cx};
use crate::realtime::reply::HandlerResult;

pub async fn new(cx: &Cx, data: Value) -> HandlerResult {
    let origin = Origin::Socket(cx.socket.as_ref());
    let message = super::service::send(&cx.app, cx.user_id(), parse(data)?, origin).await?;
    Ok(json!({ "message": message }))
}

pub async fn delivered(cx: &Cx, data: Value) -> HandlerResult {
    let origin = Origin::Socket(cx.socket.as_ref());
    super::service::receipt(
        &cx.app,
        cx.user_id(),
        parse(data)?,
        Cursor::Delivered,
        origin,
    )
    .await?;
    Ok(json!({}))
}

pub async fn read(cx: &Cx, data: Value) -> HandlerResult {
    let origin = Origin::Socket(cx.socket.as_ref());
    super::service::receipt(&cx.app, cx.user_id(), parse(data)?, Cursor::Read, origin).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChatRef {
    chat_id: String,
}

pub async fn typing(cx: &Cx, data: Value) -> HandlerResult {
    let req: ChatRef = parse(data)?;
    crate::chat::service::require_member(&cx.app, cx.user_id(), &req.chat_id).await?;
    super::typing::start(&cx.app, &cx.conn, &req.chat_id).await;
    Ok(json!({}))
}

pub async fn stop_typing(cx: &Cx, data: Value) -> HandlerResult {
    let req: ChatRef = parse(data)?;
    crate::ids::validate_chat_id(&req.chat_id).map_err(AppError::from)?;
    super::typing::stop(&cx.app, &cx.conn, &req.chat_id).await;
    Ok(json!({}))
}

pub async fn history(cx: &Cx, data: Value) -> HandlerResult {
    let page = super::service::history(&cx.app, cx.user_id(), parse(data)?).await?;
    Ok(json!({ "messages": page.messages, "hasMore": page.has_more }))
}

pub async fn sync(cx: &Cx, data: Value) -> HandlerResult {
    let chats = super::service::sync(&cx.app, cx.user_id(), parse(data)?).await?;
    Ok(json!({ "chats": chats }))
}
