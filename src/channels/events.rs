//! Socket handlers of the channel events.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::realtime::cx::{parse, Cx};
use crate::realtime::reply::HandlerResult;
use crate::rooms;

#[derive(Deserialize)]
struct Sub {
    channel: String,
}

#[derive(Deserialize)]
struct Pub {
    channel: String,
    data: Value,
}

pub async fn subscribe(cx: &Cx, data: Value) -> HandlerResult {
    let req: Sub = parse(data)?;
    super::service::check(&cx.app, &cx.conn.identity, &req.channel, false)?;
    cx.socket.join(vec![rooms::channel(&req.channel)]);
    Ok(json!({}))
}

pub async fn unsubscribe(cx: &Cx, data: Value) -> HandlerResult {
    let req: Sub = parse(data)?;
    super::validate_channel(&req.channel)?;
    cx.socket.leave(vec![rooms::channel(&req.channel)]);
    Ok(json!({}))
}

pub async fn publish(cx: &Cx, data: Value) -> HandlerResult {
    let req: Pub = parse(data)?;
    super::service::check(&cx.app, &cx.conn.identity, &req.channel, true)?;
    super::service::publish(&cx.app, &req.channel, &req.data).await?;
    Ok(json!({}))
}
