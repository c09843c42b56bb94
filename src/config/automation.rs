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
    /// Most deliveries queued or in flight (0: unbounded); past it new
    /// ones are shed.
    pub max_queue: usize,
    /// Posted as the bot when a bot request cannot be answered.
    pub fallback_text: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CacheConfig {
    pub rules: Vec<Rule>,
    pub ttl: Duration,
    pub stale: Duration,
    /// Entries kept at most (least recently used evicted first).
    pub max_entries: usize,
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

/// Bot sessions (PROTOCOL §13): the bots `bot:start` knows, and their
/// topics.
#[derive(Debug, Clone, Default)]
pub struct BotConfig {
    /// Every known bot: `SB_BOTS`, the bots of `SB_BOT_TOPICS` and
    /// `SB_GUEST_BOTS`.
    pub bots: Vec<String>,
    /// bot → its topics; a bot not here takes any topic (or none).
    pub topics: std::collections::HashMap<String, Vec<String>>,
}

impl BotConfig {
    pub fn knows(&self, bot: &str) -> bool {
        self.bots.iter().any(|b| b == bot)
    }

    /// Whether `topic` is allowed for `bot` (a known bot).
    pub fn allows_topic(&self, bot: &str, topic: Option<&str>) -> bool {
        match self.topics.get(bot) {
            Some(list) => topic.is_some_and(|t| list.iter().any(|l| l == t)),
            None => true,
        }
    }
}

/// Guests (PROTOCOL §14).
#[derive(Debug, Clone)]
pub struct GuestConfig {
    pub enabled: bool,
    /// HS256 secret of guest tokens.
    pub secret: Option<String>,
    pub ttl: Duration,
    /// The bots guests may start sessions with.
    pub bots: Vec<String>,
}

/// Parses `BOT=TOPIC|TOPIC; ...`.
pub fn parse_topics(text: &str) -> Result<Vec<(String, Vec<String>)>, String> {
    let mut out = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((bot, topics)) = part.split_once('=') else {
            return Err(format!("{part:?}: expected `BOT=TOPIC|TOPIC`"));
        };
        let topics: Vec<String> = topics
            .split('|')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        if bot.trim().is_empty() || topics.is_empty() {
            return Err(format!("{part:?}: expected `BOT=TOPIC|TOPIC`"));
        }
        out.push((bot.trim().to_string(), topics));
    }
    Ok(out)
}

pub(super) fn read_bots(r: &mut Reader) -> (BotConfig, GuestConfig) {
    let mut bots = r.list("SB_BOTS");
    let topics = parse_topics(&r.string("SB_BOT_TOPICS")).unwrap_or_else(|e| {
        r.error(format!("SB_BOT_TOPICS: {e}"));
        Vec::new()
    });
    let guests = GuestConfig {
        enabled: r.parse::<bool>("SB_GUEST_SESSIONS", "true or false"),
        secret: r.opt("SB_GUEST_SECRET"),
        ttl: r.secs("SB_GUEST_TOKEN_TTL_SECS"),
        bots: r.list("SB_GUEST_BOTS"),
    };
    for b in topics.iter().map(|(b, _)| b).chain(&guests.bots) {
        if !bots.contains(b) {
            bots.push(b.clone());
        }
    }
    for b in &bots {
        if crate::ids::validate_user_id(b).is_err() || crate::ids::is_guest(b) {
            r.error(format!("SB_BOTS: {b:?} is not a valid bot user id"));
        }
    }
    if guests.enabled {
        match &guests.secret {
            None => r.error("SB_GUEST_SESSIONS=true needs SB_GUEST_SECRET"),
            Some(s) if s.len() < 32 => r.error("SB_GUEST_SECRET must be at least 32 bytes"),
            _ => {}
        }
    }
    let bots = BotConfig {
        bots,
        topics: topics.into_iter().collect(),
    };
    (bots, guests)
}

pub(super) fn read_inbox(r: &mut Reader) -> InboxConfig {
    InboxConfig {
        max: r.ranged("SB_INBOX_MAX") as usize,
        ttl: r.secs("SB_INBOX_TTL_SECS"),
    }
}

/// The event kinds `SB_WEBHOOK_EVENTS` may list (besides bot messages,
/// always sent).
pub const FORWARDABLE: &[&str] = &[
    "message:new",
    "presence:update",
    "notification:new",
    "call:incoming",
    "call:missed",
    "chat:completed",
];

pub(super) fn read_webhooks(r: &mut Reader) -> WebhookConfig {
    let events = r.list("SB_WEBHOOK_EVENTS");
    for e in &events {
        if !FORWARDABLE.contains(&e.as_str()) {
            r.error(format!(
                "SB_WEBHOOK_EVENTS: unknown kind {e:?} ({})",
                FORWARDABLE.join(", ")
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
        max_queue: r.ranged("SB_WEBHOOK_MAX_QUEUE") as usize,
        fallback_text: r
            .opt("SB_BOT_FALLBACK_TEXT")
            .filter(|t| !t.trim().is_empty()),
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
        max_entries: r.ranged("SB_CACHE_MAX_ENTRIES") as usize,
    }
}
