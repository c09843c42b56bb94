//! Socket handlers of the chat events: decode, call the service, answer.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::AppError;
use crate::realtime::cx::{parse, Cx};
use crate::realtime::reply::HandlerResult;
use crate::rooms;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChatRef {
    chat_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Members {
    chat_id: String,
    user_ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChatIds {
    chat_ids: Vec<String>,
}

pub async fn create(cx: &Cx, data: Value) -> HandlerResult {
    let chat = super::service::create(&cx.app, cx.user_id(), parse(data)?).await?;
    Ok(json!({ "chat": chat }))
}

pub async fn add_members(cx: &Cx, data: Value) -> HandlerResult {
    let req: Members = parse(data)?;
    let chat =
        super::service::add_members(&cx.app, Some(cx.user_id()), &req.chat_id, &req.user_ids)
            .await?;
    Ok(json!({ "chat": chat }))
}

pub async fn remove_members(cx: &Cx, data: Value) -> HandlerResult {
    let req: Members = parse(data)?;
    let chat =
        super::service::remove_members(&cx.app, Some(cx.user_id()), &req.chat_id, &req.user_ids)
            .await?;
    Ok(json!({ "chat": chat }))
}

pub async fn join(cx: &Cx, data: Value) -> HandlerResult {
    let req: ChatRef = parse(data)?;
    let chat = super::service::member_chat(&cx.app, cx.user_id(), &req.chat_id).await?;
    room_budget(cx, 1)?;
    cx.socket.join(vec![rooms::chat(&chat.id)]);
    Ok(json!({ "chat": chat }))
}

pub async fn leave(cx: &Cx, data: Value) -> HandlerResult {
    let req: ChatRef = parse(data)?;
    super::validate_chat_id(&req.chat_id)?;
    cx.socket.leave(vec![rooms::chat(&req.chat_id)]);
    Ok(json!({}))
}

/// `SB_MAX_CHATS_PER_SOCKET`: a connection receives the live events of at
/// most that many chats.
fn room_budget(cx: &Cx, more: usize) -> Result<(), AppError> {
    let max = cx.app.config.security.max_chats_per_socket;
    if rooms::chats_in(&cx.socket.rooms()) + more > max {
        return Err(AppError::conflict(format!(
            "a connection follows at most {max} chats; chat:leave some first"
        )));
    }
    Ok(())
}

pub async fn join_multiple(cx: &Cx, data: Value) -> HandlerResult {
    let req: ChatIds = parse(data)?;
    let max = cx.app.config.chat.max_ids_per_request;
    if req.chat_ids.len() > max {
        return Err(AppError::too_large(format!(
            "at most {max} chatIds per request"
        )));
    }
    room_budget(cx, req.chat_ids.len())?;
    let attempts = req.chat_ids.iter().map(|id| async move {
        (
            id,
            super::service::member_chat(&cx.app, cx.user_id(), id).await,
        )
    });
    let mut joined = Vec::new();
    let mut failed = Vec::new();
    for (id, result) in futures::future::join_all(attempts).await {
        match result {
            Ok(chat) => {
                cx.socket.join(vec![rooms::chat(&chat.id)]);
                joined.push(chat.id);
            }
            Err(e) => {
                let e: AppError = e.into();
                failed.push(json!({ "chatId": id, "code": e.code }));
            }
        }
    }
    Ok(json!({ "joined": joined, "failed": failed }))
}

pub async fn active_members(cx: &Cx, data: Value) -> HandlerResult {
    let req: ChatRef = parse(data)?;
    let users = super::service::active_members(&cx.app, cx.user_id(), &req.chat_id).await?;
    let members: Vec<Value> = users
        .into_iter()
        .map(|(u, status)| json!({ "userId": u, "status": status }))
        .collect();
    Ok(json!({ "members": members }))
}

pub async fn list(cx: &Cx, data: Value) -> HandlerResult {
    let _: serde::de::IgnoredAny = parse(data)?;
    let chats = super::service::list(&cx.app, cx.user_id()).await?;
    Ok(json!({ "chats": chats }))
}
