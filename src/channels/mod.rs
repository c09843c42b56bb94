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
pub mod service;

use crate::auth::Identity;
pub use crate::config::chat::{parse_rules, Rule, Who};

impl Who {
    /// Whether a connected user (not the server) is allowed.
    pub fn allows(&self, who: &Identity) -> bool {
        match self {
            Who::Any => true,
            Who::Role(r) => who.role.as_deref() == Some(r.as_str()),
            Who::Server | Who::Nobody => false,
        }
    }
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
            guest: false,
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
