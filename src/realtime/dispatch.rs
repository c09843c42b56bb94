//! The event table: every client event of the protocol and its handler.
//!
//! A newcomer finds any feature from here in two hops: event name → handler
//! in `<domain>/events.rs` → service function in `<domain>/mod.rs`.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::conn::{Conn, Job};
use super::fanout::SocketOps;
use super::reply::{self, HandlerResult};
use crate::app::AppState;
use crate::error::{AppError, ErrorCode};
use crate::telemetry::metrics;
use crate::{calls, channels, chat, messages, notifications, presence, reactions};

/// What a handler gets: the app, the connection, and its socket.
pub struct Cx {
    pub app: AppState,
    pub conn: Arc<Conn>,
    pub socket: Arc<dyn SocketOps>,
}

impl Cx {
    pub fn user_id(&self) -> &str {
        self.conn.user_id()
    }
}

/// Every client event, in protocol order (also the metric labels).
pub const EVENTS: &[&str] = &[
    "chat:create",
    "chat:add-members",
    "chat:remove-members",
    "chat:join",
    "chat:leave",
    "chat:join-multiple",
    "chat:get-active-members",
    "chat:list",
    "message:new",
    "message:delivered",
    "message:read",
    "message:typing",
    "message:stop-typing",
    "chat:history",
    "chat:sync",
    "presence:update",
    "presence:subscribe",
    "presence:unsubscribe",
    "presence:get",
    "call:initiate",
    "call:answer",
    "call:reject",
    "call:end",
    "call:ice-candidate",
    "call:history",
    "reaction:new",
    "reaction:remove",
    "reaction:get",
    "notification:get-pending",
    "notification:read",
    "notification:clear",
    "notification:clear-all",
    "channel:subscribe",
    "channel:unsubscribe",
    "channel:publish",
    "auth:refresh",
];

async fn dispatch(cx: &Cx, event: &str, data: Value) -> HandlerResult {
    match event {
        "chat:create" => chat::events::create(cx, data).await,
        "chat:add-members" => chat::events::add_members(cx, data).await,
        "chat:remove-members" => chat::events::remove_members(cx, data).await,
        "chat:join" => chat::events::join(cx, data).await,
        "chat:leave" => chat::events::leave(cx, data).await,
        "chat:join-multiple" => chat::events::join_multiple(cx, data).await,
        "chat:get-active-members" => chat::events::active_members(cx, data).await,
        "chat:list" => chat::events::list(cx, data).await,
        "message:new" => messages::events::new(cx, data).await,
        "message:delivered" => messages::events::delivered(cx, data).await,
        "message:read" => messages::events::read(cx, data).await,
        "message:typing" => messages::events::typing(cx, data).await,
        "message:stop-typing" => messages::events::stop_typing(cx, data).await,
        "chat:history" => messages::events::history(cx, data).await,
        "chat:sync" => messages::events::sync(cx, data).await,
        "presence:update" => presence::events::update(cx, data).await,
        "presence:subscribe" => presence::events::subscribe(cx, data).await,
        "presence:unsubscribe" => presence::events::unsubscribe(cx, data).await,
        "presence:get" => presence::events::get(cx, data).await,
        "call:initiate" => calls::events::initiate(cx, data).await,
        "call:answer" => calls::events::answer(cx, data).await,
        "call:reject" => calls::events::reject(cx, data).await,
        "call:end" => calls::events::end(cx, data).await,
        "call:ice-candidate" => calls::events::ice_candidate(cx, data).await,
        "call:history" => calls::events::history(cx, data).await,
        "reaction:new" => reactions::events::new(cx, data).await,
        "reaction:remove" => reactions::events::remove(cx, data).await,
        "reaction:get" => reactions::events::get(cx, data).await,
        "notification:get-pending" => notifications::events::get_pending(cx, data).await,
        "notification:read" => notifications::events::read(cx, data).await,
        "notification:clear" => notifications::events::clear(cx, data).await,
        "notification:clear-all" => notifications::events::clear_all(cx, data).await,
        "channel:subscribe" => channels::events::subscribe(cx, data).await,
        "channel:unsubscribe" => channels::events::unsubscribe(cx, data).await,
        "channel:publish" => channels::events::publish(cx, data).await,
        "auth:refresh" => crate::auth::events::refresh(cx, data).await,
        _ => Err(AppError::invalid("unknown event")),
    }
}

/// The rate limit of the event's action, then the handler.
async fn limited(cx: &Cx, event: &str, data: Value) -> HandlerResult {
    let action = crate::rate_limit::Action::of_event(event);
    crate::rate_limit::check(&cx.app, action, cx.user_id()).await?;
    dispatch(cx, event, data).await
}

fn label(event: &str) -> &'static str {
    EVENTS
        .iter()
        .find(|e| **e == event)
        .copied()
        .unwrap_or("unknown")
}

/// How long a connection may stay unset-up before its worker gives up.
const GATE_TIMEOUT: Duration = Duration::from_secs(30);

/// The worker of one connection: takes its events one at a time, in order.
pub async fn run(cx: Cx, mut rx: mpsc::Receiver<Box<Job>>, gate: oneshot::Receiver<()>) {
    match tokio::time::timeout(GATE_TIMEOUT, gate).await {
        Ok(Ok(())) => {}
        _ => return,
    }
    while let Some(job) = rx.recv().await {
        let job = *job;
        let Some(event) = job.event else {
            let err = AppError::invalid("the event name must be a string");
            reply::send(cx.socket.as_ref(), "", job.ack, Err(err));
            continue;
        };
        let label = label(&event);
        let started = Instant::now();
        let result = match job.data {
            None => Err(AppError::invalid("the payload is not valid JSON")),
            // Boxed: the worker of an idle connection then holds a small
            // future instead of one sized for the largest handler.
            Some(data) => AssertUnwindSafe(Box::pin(limited(&cx, &event, data)))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    tracing::error!(event = label, "handler panicked");
                    Err(AppError::new(ErrorCode::Internal, "internal error"))
                }),
        };
        metrics::event(label, started.elapsed());
        reply::send(cx.socket.as_ref(), &event, job.ack, result);
    }
}

/// Decodes a payload into a request type: `INVALID_PAYLOAD` with the reason
/// when it does not fit. A missing payload is read as `{}`.
pub fn parse<T: serde::de::DeserializeOwned>(data: Value) -> Result<T, AppError> {
    let data = match data {
        Value::Null => Value::Object(Default::default()),
        Value::Object(_) => data,
        _ => return Err(AppError::invalid("the payload must be an object")),
    };
    serde_json::from_value(data).map_err(|e| AppError::invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_idle_worker_is_small() {
        // The per-connection worker lives as long as the connection; what it
        // holds while idle is paid once per connection.
        fn size<F: std::future::Future>(_: &F) -> usize {
            std::mem::size_of::<F>()
        }
        let (_, rx) = tokio::sync::mpsc::channel(1);
        let (_, gate) = tokio::sync::oneshot::channel();
        let cx = super::Cx {
            app: crate::app::AppState(std::sync::Arc::new(
                crate::app::App::with_stores(
                    &mut crate::config::Config::defaults(),
                    crate::store::Stores::memory(),
                )
                .unwrap(),
            )),
            conn: super::Conn::new(
                crate::auth::Identity {
                    user_id: "u".into(),
                    device_id: None,
                    name: None,
                    role: None,
                    expires_at: 0,
                },
                "d".into(),
                "s".into(),
                1,
            )
            .0,
            socket: std::sync::Arc::new(NoSocket),
        };
        let fut = super::run(cx, rx, gate);
        assert!(size(&fut) < 1024, "worker future is {} bytes", size(&fut));
    }

    struct NoSocket;
    #[async_trait::async_trait]
    impl crate::realtime::fanout::SocketOps for NoSocket {
        fn id(&self) -> String {
            String::new()
        }
        fn join(&self, _: Vec<String>) {}
        fn leave(&self, _: Vec<String>) {}
        fn emit(&self, _: &str, _: &serde_json::Value) {}
        async fn emit_to_others(&self, _: Vec<String>, _: &str, _: &serde_json::Value) {}
        fn rooms(&self) -> Vec<String> {
            Vec::new()
        }
        fn disconnect(&self) {}
    }
}
