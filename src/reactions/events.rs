//! Socket handlers of the reaction events.

use serde_json::{json, Value};

use crate::messages::service::Origin;
use crate::realtime::cx::{parse, Cx};
use crate::realtime::reply::HandlerResult;

pub async fn new(cx: &Cx, data: Value) -> HandlerResult {
    let origin = Origin::Socket(cx.socket.as_ref());
    let reactions =
        super::service::react(&cx.app, cx.user_id(), parse(data)?, true, origin).await?;
    Ok(json!({ "reactions": reactions }))
}

pub async fn remove(cx: &Cx, data: Value) -> HandlerResult {
    let origin = Origin::Socket(cx.socket.as_ref());
    let reactions =
        super::service::react(&cx.app, cx.user_id(), parse(data)?, false, origin).await?;
    Ok(json!({ "reactions": reactions }))
}

pub async fn get(cx: &Cx, data: Value) -> HandlerResult {
    let reactions = super::service::get(&cx.app, cx.user_id(), parse(data)?).await?;
    Ok(json!({ "reactions": reactions }))
}
