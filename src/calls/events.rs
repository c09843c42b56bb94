//! Socket handlers of the call events.

use serde::Deserialize;
use serde_json::{json, Value};

use super::Actor;
use crate::realtime::cx::{parse, Cx};
use crate::realtime::reply::HandlerResult;

fn actor(cx: &Cx) -> Actor<'_> {
    Actor {
        user: cx.user_id(),
        socket: &cx.conn.socket_id,
    }
}

pub async fn initiate(cx: &Cx, data: Value) -> HandlerResult {
    let call = super::service::initiate(&cx.app, actor(cx), parse(data)?).await?;
    cx.conn.track_call(&call.id);
    Ok(json!({ "callId": call.id }))
}

pub async fn answer(cx: &Cx, data: Value) -> HandlerResult {
    let req: super::Answer = parse(data)?;
    let id = req.call_id.clone();
    super::service::answer(&cx.app, actor(cx), req).await?;
    cx.conn.track_call(&id);
    Ok(json!({}))
}

pub async fn reject(cx: &Cx, data: Value) -> HandlerResult {
    super::service::reject(&cx.app, actor(cx), parse(data)?).await?;
    Ok(json!({}))
}

pub async fn end(cx: &Cx, data: Value) -> HandlerResult {
    super::service::end(&cx.app, actor(cx), parse(data)?).await?;
    Ok(json!({}))
}

pub async fn ice_candidate(cx: &Cx, data: Value) -> HandlerResult {
    super::service::ice(&cx.app, actor(cx), parse(data)?).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
struct HistoryReq {
    #[serde(default)]
    limit: Option<usize>,
}

pub async fn history(cx: &Cx, data: Value) -> HandlerResult {
    let req: HistoryReq = parse(data)?;
    let calls = super::service::history(&cx.app, cx.user_id(), req.limit).await?;
    Ok(json!({ "calls": calls }))
}
