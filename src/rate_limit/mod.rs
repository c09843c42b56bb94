//! Rate limits (PROTOCOL §10) as data: every limited action, its default
//! and its configuration variable in one table, checked by one call.
//!
//! The limiter is GCRA (generic cell rate algorithm): `COUNT` per `SECS`
//! with a burst of `COUNT`, kept as one "theoretical arrival time" per key.
//! On Redis it is one Lua script using Redis's own clock, so every node
//! shares one budget per user and node clocks cannot widen it; the memory
//! backend runs the same algorithm in process. Keys are per user (all its
//! devices on all nodes together) and, for new connections, per client IP.
//!
//! Each limit says what happens when the store cannot be reached: `open`
//! lets the request through (counted in
//! `switchboard_rate_limit_total{result="fail_open"}`), `closed` refuses it
//! with `UNAVAILABLE`.
//!
//! Storage: [`RateLimitStore`], in `store/memory` and
//! `store/redis/rate_limit.rs`. Metric: `switchboard_rate_limit_total{action,result}`.

use std::time::Duration;

use async_trait::async_trait;

use crate::app::App;
use crate::error::{AppError, ErrorCode};
use crate::store::{StoreError, StoreResult};

/// Every limited action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// New Socket.IO connections per client IP.
    Connect,
    /// `message:new`.
    Message,
    /// `message:typing`, `message:stop-typing`.
    Typing,
    /// `message:delivered`, `message:read`.
    Receipt,
    /// `presence:update`.
    Presence,
    /// `call:initiate`.
    Call,
    /// `reaction:new`, `reaction:remove`.
    Reaction,
    /// The other call events (answer, reject, end, ICE candidates).
    Signal,
    /// `chat:create`, `chat:add-members`, `chat:remove-members`.
    ChatChange,
    /// `channel:publish`.
    Publish,
    /// Everything else (reads, joins, subscriptions, notifications).
    Other,
}

/// (action, metric label, variable, default).
#[rustfmt::skip]
pub const TABLE: &[(Action, &str, &str, &str)] = &[
    (Action::Connect,    "connect",     "SB_RATE_CONNECT",     "60/60 open"),
    (Action::Message,    "message",     "SB_RATE_MESSAGE",     "30/60 closed"),
    (Action::Typing,     "typing",      "SB_RATE_TYPING",      "10/10 open"),
    (Action::Receipt,    "receipt",     "SB_RATE_RECEIPT",     "100/60 open"),
    (Action::Presence,   "presence",    "SB_RATE_PRESENCE",    "20/60 open"),
    (Action::Call,       "call",        "SB_RATE_CALL",        "5/60 closed"),
    (Action::Reaction,   "reaction",    "SB_RATE_REACTION",    "50/60 open"),
    (Action::Signal,     "signal",      "SB_RATE_SIGNAL",      "600/60 open"),
    (Action::ChatChange, "chat_change", "SB_RATE_CHAT_CHANGE", "30/60 closed"),
    (Action::Publish,    "publish",     "SB_RATE_PUBLISH",     "60/60 open"),
    (Action::Other,      "other",       "SB_RATE_OTHER",       "300/60 open"),
];

impl Action {
    pub fn label(self) -> &'static str {
        TABLE.iter().find(|r| r.0 == self).map_or("other", |r| r.1)
    }

    /// The action an event counts against.
    pub fn of_event(event: &str) -> Action {
        match event {
            "message:new" => Action::Message,
            "message:typing" | "message:stop-typing" => Action::Typing,
            "message:delivered" | "message:read" => Action::Receipt,
            "presence:update" => Action::Presence,
            "call:initiate" => Action::Call,
            "reaction:new" | "reaction:remove" => Action::Reaction,
            "call:answer" | "call:reject" | "call:end" | "call:ice-candidate" => Action::Signal,
            "chat:create" | "chat:add-members" | "chat:remove-members" => Action::ChatChange,
            "channel:publish" => Action::Publish,
            _ => Action::Other,
        }
    }
}

/// One configured limit: `count` per `period`, or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub count: u32,
    pub period: Duration,
    /// Let requests through when the store is unreachable.
    pub fail_open: bool,
}

/// Parses `COUNT/SECS [open|closed]`, or `off`.
pub fn parse_limit(text: &str) -> Result<Option<Limit>, String> {
    let text = text.trim();
    if text == "off" {
        return Ok(None);
    }
    let mut parts = text.split_whitespace();
    let rate = parts
        .next()
        .ok_or("expected COUNT/SECS [open|closed] or off")?;
    let fail_open = match parts.next() {
        None | Some("open") => true,
        Some("closed") => false,
        Some(other) => return Err(format!("unknown failure mode {other:?} (open or closed)")),
    };
    if parts.next().is_some() {
        return Err("expected COUNT/SECS [open|closed] or off".into());
    }
    let (count, secs) = rate
        .split_once('/')
        .ok_or("expected COUNT/SECS [open|closed] or off")?;
    let count: u32 = count.parse().map_err(|_| format!("bad count {count:?}"))?;
    let secs: u64 = secs.parse().map_err(|_| format!("bad seconds {secs:?}"))?;
    if count == 0 || count > 1_000_000 || secs == 0 || secs > 86_400 {
        return Err("count must be 1..=1000000 and seconds 1..=86400".into());
    }
    Ok(Some(Limit {
        count,
        period: Duration::from_secs(secs),
        fail_open,
    }))
}

/// The limits of every action (`None`: unlimited).
#[derive(Debug, Clone, Default)]
pub struct Limits(pub Vec<(Action, Option<Limit>)>);

impl Limits {
    pub fn get(&self, a: Action) -> Option<Limit> {
        self.0.iter().find(|(x, _)| *x == a).and_then(|(_, l)| *l)
    }
}

#[async_trait]
pub trait RateLimitStore: Send + Sync + 'static {
    /// Counts one request against `key` under `limit`: `None` when allowed,
    /// otherwise how long until the next request would be.
    async fn hit(&self, key: &str, count: u32, period: Duration) -> StoreResult<Option<Duration>>;
}

/// The one check: `subject` (a user id, or a client IP for `Connect`) may
/// do `action` now, or gets `RATE_LIMITED` with `retryAfterMs`.
pub async fn check(app: &App, action: Action, subject: &str) -> Result<(), AppError> {
    let Some(limit) = app.config.limits.get(action) else {
        return Ok(());
    };
    let key = format!("{}:{subject}", action.label());
    let label = action.label();
    match app
        .stores
        .rate_limits
        .hit(&key, limit.count, limit.period)
        .await
    {
        Ok(None) => Ok(()),
        Ok(Some(wait)) => {
            crate::telemetry::metrics::rate_limit(label, "limited");
            Err(AppError::rate_limited(wait.as_millis().max(1) as u64))
        }
        Err(e @ StoreError::Unavailable(_)) | Err(e @ StoreError::Internal(_)) => {
            if limit.fail_open {
                crate::telemetry::metrics::rate_limit(label, "fail_open");
                tracing::warn!(action = label, error = %e, "rate limit store unreachable: failing open");
                Ok(())
            } else {
                crate::telemetry::metrics::rate_limit(label, "fail_closed");
                Err(AppError::new(
                    ErrorCode::Unavailable,
                    "the rate limiter is unavailable; retry later",
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse() {
        assert_eq!(
            parse_limit("30/60").unwrap(),
            Some(Limit {
                count: 30,
                period: Duration::from_secs(60),
                fail_open: true
            })
        );
        assert!(!parse_limit("5/1 closed").unwrap().unwrap().fail_open);
        assert_eq!(parse_limit("off").unwrap(), None);
        for bad in [
            "",
            "30",
            "0/60",
            "30/0",
            "x/1",
            "1/x",
            "1/1 maybe",
            "1/1 open x",
        ] {
            assert!(parse_limit(bad).is_err(), "{bad:?}");
        }
        for (_, _, _, default) in TABLE {
            assert!(parse_limit(default).unwrap().is_some());
        }
    }

    #[test]
    fn events_map_to_actions() {
        assert_eq!(Action::of_event("message:new"), Action::Message);
        assert_eq!(Action::of_event("message:read"), Action::Receipt);
        assert_eq!(Action::of_event("chat:history"), Action::Other);
        assert_eq!(Action::of_event("call:ice-candidate"), Action::Signal);
    }
}
