//! Socket handlers of the presence events.

use serde_json::{json, Value};

use super::{PresenceError, Update, Users};
use crate::error::ErrorCode;
use crate::realtime::cx::{parse, Cx};
use crate::realtime::reply::HandlerResult;
use crate::rooms;

pub async fn update(cx: &Cx, data: Value) -> HandlerResult {
    let req: Update = parse(data)?;
    let presence = super::service::update(&cx.app, cx.user_id(), req).await?;
    Ok(json!({ "presence": presence }))
}

fn failed(refused: &[String]) -> Vec<Value> {
    refused
        .iter()
        .map(|u| json!({ "userId": u, "code": ErrorCode::Forbidden }))
        .collect()
}

/// Watches the allowed users (room `p:USER` on this socket) and answers
/// their presences; refused users are listed in `failed`.
pub async fn subscribe(cx: &Cx, data: Value) -> HandlerResult {
    let req: Users = parse(data)?;
    let (ok, refused) = super::service::allowed(&cx.app, cx.user_id(), &req.user_ids).await?;
    // The socket's rooms are the subscriptions (events of one connection
    // run one at a time, so nothing changes them between count and join).
    let max = cx.app.config.presence.max_subscriptions;
    let joined = cx.socket.rooms();
    let wanted: Vec<String> = ok.iter().map(|u| rooms::presence(u)).collect();
    let new = wanted.iter().filter(|r| !joined.contains(r)).count();
    if rooms::presences_in(&joined) + new > max {
        return Err(PresenceError::TooManySubscriptions(max).into());
    }
    cx.socket.join(wanted);
    let presences = super::service::presences(&cx.app, &ok).await?;
    Ok(json!({ "presences": presences, "failed": failed(&refused) }))
}

pub async fn unsubscribe(cx: &Cx, data: Value) -> HandlerResult {
    let req: Users = parse(data)?;
    let ids = crate::ids::validate_user_ids(&req.user_ids, cx.app.config.chat.max_ids_per_request)?;
    cx.socket
        .leave(ids.iter().map(|u| rooms::presence(u)).collect());
    Ok(json!({}))
}

pub async fn get(cx: &Cx, data: Value) -> HandlerResult {
    let req: Users = parse(data)?;
    let (ok, refused) = super::service::allowed(&cx.app, cx.user_id(), &req.user_ids).await?;
    let presences = super::service::presences(&cx.app, &ok).await?;
    Ok(json!({ "presences": presences, "failed": failed(&refused) }))
}
