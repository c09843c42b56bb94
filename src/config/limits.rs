//! Rate limits as data (PROTOCOL §10): every limited action with its
//! metric label, its variable, its default and its help, in one table.
//! The `SB_RATE_*` rows of the variable table are generated from it, and
//! `rate_limit::service::check` is the one call that enforces them.

use std::time::Duration;

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
    /// HTTP API requests per integration key and route class.
    Api,
    /// Inbound automation replies (`POST /api/v1/webhooks/inbound`).
    Inbound,
    /// Guest sessions created per client IP (`POST /api/v1/guest-sessions`).
    Guest,
}

/// One row of the rate-limit table.
#[derive(Debug, Clone, Copy)]
pub struct RateRow {
    pub action: Action,
    /// The `action` label of `switchboard_rate_limit_total`.
    pub label: &'static str,
    /// The variable that sets it (its `--help` row is generated from here).
    pub env: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

/// Every limited action: label, variable, default, help.
#[rustfmt::skip]
pub const TABLE: &[RateRow] = &[
    RateRow { action: Action::Connect, label: "connect", env: "SB_RATE_CONNECT", default: "60/60 open",
        help: "New connections per client IP (IPv6: per /64): COUNT/SECONDS, then open|closed (when Redis is down: let through or refuse), or off." },
    RateRow { action: Action::Message, label: "message", env: "SB_RATE_MESSAGE", default: "30/60 closed",
        help: "message:new per user (all devices and nodes together)." },
    RateRow { action: Action::Typing, label: "typing", env: "SB_RATE_TYPING", default: "10/10 open",
        help: "message:typing and message:stop-typing per user." },
    RateRow { action: Action::Receipt, label: "receipt", env: "SB_RATE_RECEIPT", default: "100/60 open",
        help: "message:delivered and message:read per user." },
    RateRow { action: Action::Presence, label: "presence", env: "SB_RATE_PRESENCE", default: "20/60 open",
        help: "presence:update per user." },
    RateRow { action: Action::Call, label: "call", env: "SB_RATE_CALL", default: "5/60 closed",
        help: "call:initiate per user." },
    RateRow { action: Action::Reaction, label: "reaction", env: "SB_RATE_REACTION", default: "50/60 open",
        help: "reaction:new and reaction:remove per user." },
    RateRow { action: Action::Signal, label: "signal", env: "SB_RATE_SIGNAL", default: "600/60 open",
        help: "call:answer, call:reject, call:end and call:ice-candidate per user." },
    RateRow { action: Action::ChatChange, label: "chat_change", env: "SB_RATE_CHAT_CHANGE", default: "30/60 closed",
        help: "chat:create, chat:add-members and chat:remove-members per user." },
    RateRow { action: Action::Publish, label: "publish", env: "SB_RATE_PUBLISH", default: "60/60 open",
        help: "channel:publish per user." },
    RateRow { action: Action::Other, label: "other", env: "SB_RATE_OTHER", default: "300/60 open",
        help: "Every other client event per user (reads, joins, subscriptions, notifications)." },
    RateRow { action: Action::Api, label: "api", env: "SB_RATE_API", default: "600/60 open",
        help: "HTTP API requests per integration key and route class (messages, chats, users, channels, notifications, presence); over it: 429 with Retry-After." },
    RateRow { action: Action::Inbound, label: "inbound", env: "SB_RATE_INBOUND", default: "60/60 open",
        help: "Inbound automation replies (POST /api/v1/webhooks/inbound), all together; over it: 429 with Retry-After." },
    RateRow { action: Action::Guest, label: "guest", env: "SB_RATE_GUEST", default: "3/300 closed",
        help: "Guest sessions created per client IP (POST /api/v1/guest-sessions); over it: 429 with Retry-After." },
];

impl Action {
    pub fn label(self) -> &'static str {
        TABLE
            .iter()
            .find(|r| r.action == self)
            .map_or("other", |r| r.label)
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
        for row in TABLE {
            assert!(parse_limit(row.default).unwrap().is_some());
        }
    }
}
