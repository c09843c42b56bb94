//! The event table: every client event of the protocol and its handler.
//!
//! A newcomer finds any feature from here in two hops: event name → handler
//! in `<domain>/events.rs` → service function in `<domain>/service.rs`.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures::FutureExt;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::conn::Job;
use super::cx::Cx;
use super::reply::{self, HandlerResult};
use crate::error::{AppError, ErrorCode};
use crate::rate_limit::{self, Action};
use crate::telemetry::{metrics, traces};
use crate::{auth, bots, calls, channels, chat, messages, notifications, presence, reactions};
use tracing::Instrument;

/// One client event of the protocol: its name (also its metric label) and
/// the rate-limit class it counts against. Its handler is the arm of the
/// same line in [`event_table!`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSpec {
    pub name: &'static str,
    pub action: Action,
    /// Who may send it: guests (PROTOCOL §14) only what their bot sessions
    /// need.
    pub audience: Audience,
}

/// Who may send an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Users only: a guest gets `FORBIDDEN`.
    Users,
    /// Users and guests.
    Everyone,
}

impl EventSpec {
    /// The `event` label of the event metrics.
    pub fn label(&self) -> &'static str {
        self.name
    }
}

/// The one declaration of every client event: name, rate class, handler.
/// It yields [`EVENTS`] (names, rate classes, metric labels) and the match
/// of `handle`, so none of them can be forgotten when an event is added.
macro_rules! event_table {
    ($($name:literal => $action:ident, $who:ident, $handler:path;)*) => {
        /// Every client event, in protocol order.
        pub const EVENTS: &[EventSpec] = &[$(EventSpec { name: $name, action: Action::$action, audience: Audience::$who }),*];

        async fn handle(cx: &Cx, event: &str, data: Value) -> HandlerResult {
            match event {
                $($name => $handler(cx, data).await,)*
                _ => Err(AppError::invalid("unknown event")),
            }
        }
    };
}

event_table! {
    "chat:create"              => ChatChange, Users,    chat::events::create;
    "chat:add-members"         => ChatChange, Users,    chat::events::add_members;
    "chat:remove-members"      => ChatChange, Users,    chat::events::remove_members;
    "chat:join"                => Other,      Users,    chat::events::join;
    "chat:leave"               => Other,      Users,    chat::events::leave;
    "chat:join-multiple"       => Other,      Users,    chat::events::join_multiple;
    "chat:get-active-members"  => Other,      Users,    chat::events::active_members;
    "chat:list"                => Other,      Users,    chat::events::list;
    "message:new"              => Message,    Everyone, messages::events::new;
    "message:delivered"        => Receipt,    Everyone, messages::events::delivered;
    "message:read"             => Receipt,    Everyone, messages::events::read;
    "message:typing"           => Typing,     Everyone, messages::events::typing;
    "message:stop-typing"      => Typing,     Everyone, messages::events::stop_typing;
    "chat:history"             => Other,      Everyone, messages::events::history;
    "chat:sync"                => Other,      Everyone, messages::events::sync;
    "presence:update"          => Presence,   Users,    presence::events::update;
    "presence:subscribe"       => Other,      Users,    presence::events::subscribe;
    "presence:unsubscribe"     => Other,      Users,    presence::events::unsubscribe;
    "presence:get"             => Other,      Users,    presence::events::get;
    "call:initiate"            => Call,       Users,    calls::events::initiate;
    "call:answer"              => Signal,     Users,    calls::events::answer;
    "call:reject"              => Signal,     Users,    calls::events::reject;
    "call:end"                 => Signal,     Users,    calls::events::end;
    "call:ice-candidate"       => Signal,     Users,    calls::events::ice_candidate;
    "call:history"             => Other,      Users,    calls::events::history;
    "reaction:new"             => Reaction,   Users,    reactions::events::new;
    "reaction:remove"          => Reaction,   Users,    reactions::events::remove;
    "reaction:get"             => Other,      Users,    reactions::events::get;
    "notification:get-pending" => Other,      Users,    notifications::events::get_pending;
    "notification:read"        => Other,      Users,    notifications::events::read;
    "notification:clear"       => Other,      Users,    notifications::events::clear;
    "notification:clear-all"   => Other,      Users,    notifications::events::clear_all;
    "channel:subscribe"        => Other,      Users,    channels::events::subscribe;
    "channel:unsubscribe"      => Other,      Users,    channels::events::unsubscribe;
    "channel:publish"          => Publish,    Users,    channels::events::publish;
    "auth:refresh"             => Other,      Users,    auth::events::refresh;
    "bot:start"                => ChatChange, Everyone, bots::events::start;
}

/// The table's entry of an event, if it is one.
pub fn spec(event: &str) -> Option<&'static EventSpec> {
    EVENTS.iter().find(|e| e.name == event)
}

/// The rate-limit class of an event (unknown events count as `Other`).
pub fn rate_class(event: &str) -> Action {
    spec(event).map_or(Action::Other, |e| e.action)
}

/// Who may send it, the rate limit of the event's class, then its handler.
async fn limited(cx: &Cx, event: &str, spec: Option<&EventSpec>, data: Value) -> HandlerResult {
    if cx.conn.identity.guest && spec.is_some_and(|s| s.audience == Audience::Users) {
        return Err(AppError::forbidden(
            "guests may only use their bot sessions",
        ));
    }
    let action = spec.map_or(Action::Other, |e| e.action);
    rate_limit::service::check(&cx.app, action, cx.user_id()).await?;
    handle(cx, event, data).await
}

/// The metric label of an event: its name, or `unknown` (bounded label set).
pub fn label(spec: Option<&EventSpec>) -> &'static str {
    spec.map_or("unknown", EventSpec::label)
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
        cx.conn
            .working
            .store(true, std::sync::atomic::Ordering::Release);
        handle_job(&cx, *job).await;
        cx.conn
            .working
            .store(false, std::sync::atomic::Ordering::Release);
    }
}

/// One event: look-up, rate limit, handler, metrics, ack.
async fn handle_job(cx: &Cx, job: Job) {
    {
        let Some(event) = job.event else {
            let err = AppError::invalid("the event name must be a string");
            reply::send(cx.socket.as_ref(), "", job.ack, Err(err));
            return;
        };
        // One look-up in the table for both the label and the rate class.
        let spec = spec(&event);
        let label = label(spec);
        let started = Instant::now();
        // `Span::none()` unless traces are exported.
        let span = traces::event_span(label, &cx.conn.socket_id, cx.user_id());
        let result = match job.data {
            None => Err(AppError::invalid("the payload is not valid JSON")),
            // Boxed: the worker of an idle connection then holds a small
            // future instead of one sized for the largest handler.
            Some(data) => AssertUnwindSafe(Box::pin(
                limited(cx, &event, spec, data).instrument(span.clone()),
            ))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                tracing::error!(event = label, "handler panicked");
                Err(AppError::new(ErrorCode::Internal, "internal error"))
            }),
        };
        metrics::event(
            label,
            result.as_ref().err().map(|e| e.code),
            started.elapsed(),
        );
        if let Err(e) = &result {
            span.record("error.type", e.code.as_str());
        }
        span.in_scope(|| reply::send(cx.socket.as_ref(), &event, job.ack, result));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::conn::Conn;

    #[test]
    fn events_map_to_actions() {
        assert_eq!(rate_class("message:new"), Action::Message);
        assert_eq!(rate_class("message:read"), Action::Receipt);
        assert_eq!(rate_class("chat:history"), Action::Other);
        assert_eq!(rate_class("call:ice-candidate"), Action::Signal);
    }

    /// Every event of the table has a name, a rate class, a metric label and
    /// a handler: dispatching it reaches a handler (which refuses the bad
    /// payload), never "unknown event".
    #[tokio::test]
    async fn every_event_has_all_four() {
        let cx = test_cx();
        let mut seen = std::collections::HashSet::new();
        for e in EVENTS {
            assert!(seen.insert(e.name), "{} is declared twice", e.name);
            assert!(e.name.contains(':'), "{} is not family:action", e.name);
            assert_eq!(label(spec(e.name)), e.name);
            assert_eq!(rate_class(e.name), e.action);
            let out = handle(&cx, e.name, Value::String("not an object".into())).await;
            if let Err(err) = out {
                assert_ne!(err.message, "unknown event", "{} has no handler", e.name);
            }
        }
        assert_eq!(label(spec("no:such-event")), "unknown");
        assert_eq!(rate_class("no:such-event"), Action::Other);
        let out = handle(&cx, "no:such-event", Value::Null).await;
        assert_eq!(out.unwrap_err().message, "unknown event");
    }

    fn test_cx() -> Cx {
        Cx {
            app: crate::app::AppState(std::sync::Arc::new(
                crate::app::App::with_stores(
                    &mut crate::config::Config::defaults(),
                    crate::store::Stores::memory(),
                )
                .unwrap(),
            )),
            conn: Conn::new(
                crate::auth::Identity {
                    user_id: "u".into(),
                    device_id: None,
                    name: None,
                    role: None,
                    expires_at: 0,
                    guest: false,
                },
                "d".into(),
                "s".into(),
                1,
            )
            .0,
            socket: std::sync::Arc::new(NoSocket),
        }
    }

    #[test]
    fn an_idle_worker_is_small() {
        // The per-connection worker lives as long as the connection; what it
        // holds while idle is paid once per connection.
        fn size<F: std::future::Future>(_: &F) -> usize {
            std::mem::size_of::<F>()
        }
        let (_, rx) = tokio::sync::mpsc::channel(1);
        let (_, gate) = tokio::sync::oneshot::channel();
        let fut = run(test_cx(), rx, gate);
        assert!(size(&fut) < 1024, "worker future is {} bytes", size(&fut));
    }

    struct NoSocket;
    #[async_trait::async_trait]
    impl crate::fanout::SocketOps for NoSocket {
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
