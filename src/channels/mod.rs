//! Topic channels (PROTOCOL §9): live feeds with permissions per
//! channel-name prefix.
//!
//! Rules come from `SB_CHANNELS`, `;`-separated, each
//! `PREFIX* WHO_SUBSCRIBES WHO_PUBLISHES`, where WHO is `any` (any
//! authenticated user), `role=NAME` (the JWT `role` claim), `server` (only
//! the server: nobody over a socket) or `none`. The longest matching prefix
//! wins; a channel no rule matches is refused. Example (the default):
//! `public:* any server; role:admin:* role=admin role=admin`.
//!
//! Events (`events.rs`): `channel:subscribe`, `channel:unsubscribe`,
//! `channel:publish`. Deliveries: `channel:message { channel, data,
//! publishedAt }`, to subscribers on every node (one room per channel).

pub mod events;
pub mod routes;

use serde_json::json;

use crate::app::App;
use crate::auth::Identity;

/// Who may do something on a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    Any,
    Role(String),
    Server,
    Nobody,
}

impl Who {
    fn parse(s: &str) -> Result<Self, String> {
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

    /// Whether a connected user (not the server) is allowed.
    pub fn allows(&self, who: &Identity) -> bool {
        match self {
            Who::Any => true,
            Who::Role(r) => who.role.as_deref() == Some(r.as_str()),
            Who::Server | Who::Nobody => false,
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

/// The rule of a channel: the longest matching prefix.
pub fn rule_for<'a>(rules: &'a [Rule], channel: &str) -> Option<&'a Rule> {
    rules.iter().find(|r| channel.starts_with(&r.prefix))
}

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("not allowed on this channel")]
    Forbidden,
    #[error("too large: {0}")]
    TooLarge(String),
}

/// A channel name: 1–200 characters of `A-Z a-z 0-9 . _ : - @`.
pub fn validate_channel(name: &str) -> Result<(), ChannelError> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-' | b'@'));
    ok.then_some(()).ok_or_else(|| {
        ChannelError::Invalid("channel must be 1-200 characters of A-Z a-z 0-9 . _ : - @".into())
    })
}

/// May this user subscribe to / publish on `channel`?
pub fn check(app: &App, who: &Identity, channel: &str, publish: bool) -> Result<(), ChannelError> {
    validate_channel(channel)?;
    let rule = rule_for(&app.config.channels.rules, channel).ok_or(ChannelError::Forbidden)?;
    let allowed = if publish {
        &rule.publish
    } else {
        &rule.subscribe
    };
    if allowed.allows(who) {
        Ok(())
    } else {
        Err(ChannelError::Forbidden)
    }
}

/// May the server (the HTTP API) publish on `channel`? Any channel a rule
/// matches, unless its publishers are `none`.
pub fn check_server(app: &App, channel: &str) -> Result<(), ChannelError> {
    validate_channel(channel)?;
    match rule_for(&app.config.channels.rules, channel) {
        Some(rule) if rule.publish != Who::Nobody => Ok(()),
        _ => Err(ChannelError::Forbidden),
    }
}

/// Delivers `data` to the channel's subscribers on every node. Callers
/// check permissions first (the server, via the HTTP API, needs none).
pub async fn publish(
    app: &App,
    channel: &str,
    data: &serde_json::Value,
) -> Result<(), ChannelError> {
    validate_channel(channel)?;
    let size = crate::messages::json_len(data);
    let max = app.config.messages.max_content_bytes;
    if size > max {
        return Err(ChannelError::TooLarge(format!(
            "data is larger than {max} bytes"
        )));
    }
    let msg =
        json!({ "channel": channel, "data": data, "publishedAt": crate::time::now_rfc3339() });
    app.fanout()
        .emit(
            vec![crate::realtime::rooms::channel(channel)],
            vec![],
            "channel:message",
            &msg,
        )
        .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(role: Option<&str>) -> Identity {
        Identity {
            user_id: "u".into(),
            device_id: None,
            name: None,
            role: role.map(str::to_string),
            expires_at: 0,
        }
    }

    #[test]
    fn rules_parse_and_the_longest_prefix_wins() {
        let rules = parse_rules(
            "public:* any server; public:chat:* any any; role:admin:* role=admin role=admin",
        )
        .unwrap();
        assert_eq!(
            rule_for(&rules, "public:news").unwrap().publish,
            Who::Server
        );
        assert_eq!(rule_for(&rules, "public:chat:x").unwrap().publish, Who::Any);
        assert!(rule_for(&rules, "private:x").is_none());
        let admin = &rule_for(&rules, "role:admin:ops").unwrap().subscribe;
        assert!(admin.allows(&id(Some("admin"))));
        assert!(!admin.allows(&id(Some("user"))));
        assert!(!admin.allows(&id(None)));
        assert!(!Who::Server.allows(&id(Some("admin"))));
    }

    #[test]
    fn bad_rules_are_reported() {
        for bad in [
            "public any server",
            "public:* any",
            "public:* anyone server",
            "x:* role= any",
        ] {
            assert!(parse_rules(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_rules("").unwrap(), vec![]);
    }

    #[test]
    fn channel_names_are_restricted() {
        assert!(validate_channel("public:news.eu-1").is_ok());
        for bad in ["", "a b", "a*", "a{b}", &"x".repeat(201)] {
            assert!(validate_channel(bad).is_err(), "{bad:?}");
        }
    }
}
