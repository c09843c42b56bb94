//! The automation wing: the offline inbox, webhooks and the reply cache.

use std::time::Duration;

use super::reader::Reader;

#[derive(Debug, Clone)]
pub struct InboxConfig {
    pub max: usize,
    pub ttl: Duration,
}

/// `switchboard` (our JSON) | `evolution` (Evolution API `messages.upsert`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Switchboard,
    Evolution,
}

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: Option<String>,
    pub secret: Option<String>,
    pub events: Vec<String>,
    pub format: Format,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub backoff: Duration,
    pub concurrency: usize,
    pub tolerance: Duration,
    /// How long a correlation id can be answered (the reply window).
    pub correlation_ttl: Duration,
    /// How often the worker polls the queue when nothing wakes it.
    pub poll: Duration,
}

#[derive(Debug, Clone)]
pub struct CacheConfig {
    pub rules: Vec<Rule>,
    pub ttl: Duration,
    pub stale: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    User,
}

/// One rule of `SB_CACHE_RULES`: `PATTERN SCOPE [day]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Lower-cased; a trailing `*` in the rule makes it a prefix.
    pub pattern: String,
    pub prefix: bool,
    pub scope: Scope,
    pub day: bool,
}

/// Parses `PATTERN global|user [day]; ...`.
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, String> {
    let mut out = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let f: Vec<&str> = part.split_whitespace().collect();
        let (pattern, scope, day) = match f[..] {
            [p, s] => (p, s, false),
            [p, s, "day"] => (p, s, true),
            _ => {
                return Err(format!(
                    "cache rule {part:?}: expected `PATTERN global|user [day]`"
                ))
            }
        };
        let scope = match scope {
            "global" => Scope::Global,
            "user" => Scope::User,
            other => return Err(format!("cache rule {part:?}: unknown scope {other:?}")),
        };
        let (pattern, prefix) = match pattern.strip_suffix('*') {
            Some(p) => (p, true),
            None => (pattern, false),
        };
        out.push(Rule {
            pattern: pattern.to_lowercase(),
            prefix,
            scope,
            day,
        });
    }
    Ok(out)
}

pub(super) fn read_inbox(r: &mut Reader) -> InboxConfig {
    InboxConfig {
        max: r.ranged("SB_INBOX_MAX") as usize,
        ttl: r.secs("SB_INBOX_TTL_SECS"),
    }
}

pub(super) fn read_webhooks(r: &mut Reader) -> WebhookConfig {
    let events = r.list("SB_WEBHOOK_EVENTS");
    for e in &events {
        if !["message:new", "presence:update"].contains(&e.as_str()) {
            r.error(format!(
                "SB_WEBHOOK_EVENTS: unknown kind {e:?} (message:new, presence:update)"
            ));
        }
    }
    let format = match r.string("SB_WEBHOOK_FORMAT").as_str() {
        "switchboard" => Format::Switchboard,
        "evolution" => Format::Evolution,
        other => {
            r.error(format!(
                "SB_WEBHOOK_FORMAT={other:?} is not valid: expected switchboard or evolution"
            ));
            Format::Switchboard
        }
    };
    let webhooks = WebhookConfig {
        url: r.opt("SB_WEBHOOK_URL"),
        secret: r.opt("SB_WEBHOOK_SECRET"),
        events,
        format,
        timeout: r.ms("SB_WEBHOOK_TIMEOUT_MS"),
        max_attempts: r.ranged("SB_WEBHOOK_MAX_ATTEMPTS") as u32,
        backoff: r.ms("SB_WEBHOOK_BACKOFF_MS"),
        concurrency: r.ranged("SB_WEBHOOK_CONCURRENCY") as usize,
        tolerance: r.secs("SB_WEBHOOK_TOLERANCE_SECS"),
        correlation_ttl: r.secs("SB_WEBHOOK_REPLY_WINDOW_SECS"),
        poll: r.ms("SB_WEBHOOK_POLL_MS"),
    };
    if let Some(url) = &webhooks.url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            r.error("SB_WEBHOOK_URL must start with http:// or https://");
        }
        if webhooks.secret.is_none() {
            r.error("SB_WEBHOOK_SECRET is required with SB_WEBHOOK_URL");
        }
    }
    if webhooks.secret.as_ref().is_some_and(|s| s.len() < 16) {
        r.error("SB_WEBHOOK_SECRET must be at least 16 characters");
    }
    webhooks
}

pub(super) fn read_cache(r: &mut Reader) -> CacheConfig {
    let rules = parse_rules(&r.string("SB_CACHE_RULES")).unwrap_or_else(|e| {
        r.error(format!("SB_CACHE_RULES: {e}"));
        Vec::new()
    });
    CacheConfig {
        rules,
        ttl: r.secs("SB_CACHE_TTL_SECS"),
        stale: r.secs("SB_CACHE_STALE_SECS"),
    }
}
