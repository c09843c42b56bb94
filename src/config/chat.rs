//! Chats, messages, notifications, presence, calls and topic channels:
//! what each of those domains reads from the environment.

use std::time::Duration;

use super::reader::Reader;

#[derive(Debug, Clone)]
pub struct ChatConfig {
    pub auto_join_limit: usize,
    pub max_members: usize,
    pub max_ids_per_request: usize,
}

#[derive(Debug, Clone)]
pub struct MessageConfig {
    pub max_content_bytes: usize,
    pub max_media_bytes: u64,
    pub history_max_messages: u64,
    pub history_max_age: Duration,
    pub client_id_ttl: Duration,
    pub history_page_max: usize,
    pub sync_max_messages: usize,
    pub typing_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct NotificationConfig {
    pub max_per_user: usize,
    pub ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct PresenceConfig {
    pub grace: Duration,
    pub sweep_interval: Duration,
    pub open: bool,
    pub max_subscriptions: usize,
}

#[derive(Debug, Clone)]
pub struct CallConfig {
    pub ring_timeout: Duration,
    pub max_duration: Duration,
    pub history_max: usize,
}

#[derive(Debug, Clone)]
pub struct ChannelConfig {
    pub rules: Vec<Rule>,
}

/// Who may do something on a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    Any,
    Role(String),
    Server,
    Nobody,
}

impl Who {
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        match s {
            "any" => Ok(Who::Any),
            "server" => Ok(Who::Server),
            "none" => Ok(Who::Nobody),
            _ => match s.strip_prefix("role=") {
                Some(r) if !r.is_empty() => Ok(Who::Role(r.to_string())),
                _ => Err(format!(
                    "unknown who {s:?}: expected any, role=NAME, server or none"
                )),
            },
        }
    }
}

/// One rule: channels starting with `prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub prefix: String,
    pub subscribe: Who,
    pub publish: Who,
}

/// Parses `SB_CHANNELS`.
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, String> {
    let mut rules = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let fields: Vec<&str> = part.split_whitespace().collect();
        let [pattern, sub, publ] = fields[..] else {
            return Err(format!("channel rule {part:?}: expected `PREFIX* WHO WHO`"));
        };
        let prefix = pattern
            .strip_suffix('*')
            .ok_or_else(|| format!("channel rule {part:?}: the pattern must end with *"))?;
        rules.push(Rule {
            prefix: prefix.to_string(),
            subscribe: Who::parse(sub)?,
            publish: Who::parse(publ)?,
        });
    }
    rules.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
    Ok(rules)
}

pub(super) fn read_chat(r: &mut Reader) -> ChatConfig {
    ChatConfig {
        auto_join_limit: r.ranged("SB_AUTO_JOIN_LIMIT") as usize,
        max_members: r.ranged("SB_MAX_CHAT_MEMBERS") as usize,
        max_ids_per_request: r.ranged("SB_MAX_IDS_PER_REQUEST") as usize,
    }
}

pub(super) fn read_messages(r: &mut Reader) -> MessageConfig {
    MessageConfig {
        max_content_bytes: r.ranged("SB_MAX_CONTENT_BYTES") as usize,
        max_media_bytes: r.ranged("SB_MAX_MEDIA_BYTES"),
        history_max_messages: r.ranged("SB_HISTORY_MAX_MESSAGES"),
        history_max_age: r.secs("SB_HISTORY_MAX_AGE_SECS"),
        client_id_ttl: r.secs("SB_CLIENT_ID_TTL_SECS"),
        history_page_max: r.ranged("SB_HISTORY_PAGE_MAX") as usize,
        sync_max_messages: r.ranged("SB_SYNC_MAX_MESSAGES") as usize,
        typing_timeout: r.ms("SB_TYPING_TIMEOUT_MS"),
    }
}

pub(super) fn read_notifications(r: &mut Reader) -> NotificationConfig {
    NotificationConfig {
        max_per_user: r.ranged("SB_NOTIFICATIONS_MAX") as usize,
        ttl: r.secs("SB_NOTIFICATIONS_TTL_SECS"),
    }
}

pub(super) fn read_channels(r: &mut Reader) -> ChannelConfig {
    let rules = parse_rules(&r.string("SB_CHANNELS")).unwrap_or_else(|e| {
        r.error(format!("SB_CHANNELS: {e}"));
        Vec::new()
    });
    ChannelConfig { rules }
}

pub(super) fn read_presence(r: &mut Reader) -> PresenceConfig {
    PresenceConfig {
        grace: r.ms("SB_PRESENCE_GRACE_MS"),
        sweep_interval: r.ms("SB_PRESENCE_SWEEP_MS"),
        open: r.parse("SB_PRESENCE_OPEN", "true or false"),
        max_subscriptions: r.ranged("SB_PRESENCE_MAX_SUBSCRIPTIONS") as usize,
    }
}

pub(super) fn read_calls(r: &mut Reader) -> CallConfig {
    CallConfig {
        ring_timeout: r.secs("SB_CALL_RING_SECS"),
        max_duration: r.secs("SB_CALL_MAX_SECS"),
        history_max: r.ranged("SB_CALL_HISTORY_MAX") as usize,
    }
}
