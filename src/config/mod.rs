//! Typed configuration from `SB_*` environment variables and `--flags`.
//!
//! The bottom layer: nothing here names a domain type. One table
//! ([`vars::VARS`]) declares every setting: its variable, its default, its
//! bounds and its help. The same table builds `switchboard --help`, is what
//! `.env.example` lists (a test keeps them in step), and feeds one reader
//! per concern, each returning a plain struct that its domain reads:
//!
//! | file | structs |
//! | --- | --- |
//! | `server.rs` | [`ServerConfig`], [`TelemetryConfig`], [`RedisConfig`], [`AuthConfig`] |
//! | `chat.rs` | [`ChatConfig`], [`MessageConfig`], [`NotificationConfig`], [`PresenceConfig`], [`CallConfig`], [`ChannelConfig`] (channel rules) |
//! | `automation.rs` | [`InboxConfig`], [`WebhookConfig`], [`CacheConfig`] (cache rules) |
//! | `security.rs` | [`ApiConfig`], [`SecurityConfig`] (trusted proxies, origins) |
//! | `limits.rs` | [`limits::Limits`]: the rate-limit table, which also generates the `SB_RATE_*` rows |
//!
//! Every bad value is collected and reported at once ([`ConfigErrors`]);
//! the process then exits non-zero.

pub mod automation;
pub mod chat;
pub mod limits;
mod reader;
pub mod security;
pub mod server;
pub mod vars;

use std::collections::HashMap;
use std::fmt;

pub use automation::{CacheConfig, InboxConfig, WebhookConfig};
pub use chat::{
    CallConfig, ChannelConfig, ChatConfig, MessageConfig, NotificationConfig, PresenceConfig,
};
pub use security::{ApiConfig, SecurityConfig};
pub use server::{
    AuthConfig, Mode, RedisConfig, RedisTls, ServerConfig, TelemetryConfig, TraceUserIds,
};
pub use vars::{Var, VARS};

/// The whole configuration, one struct per concern.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub telemetry: TelemetryConfig,
    pub redis: RedisConfig,
    pub auth: AuthConfig,
    pub chat: ChatConfig,
    pub messages: MessageConfig,
    pub notifications: NotificationConfig,
    pub channels: ChannelConfig,
    pub presence: PresenceConfig,
    pub calls: CallConfig,
    pub api: ApiConfig,
    pub inbox: InboxConfig,
    pub webhooks: WebhookConfig,
    pub cache: CacheConfig,
    pub bots: automation::BotConfig,
    pub guests: automation::GuestConfig,
    pub limits: limits::Limits,
    pub security: SecurityConfig,
}

/// Every invalid variable, reported together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        let s = if n == 1 { "" } else { "s" };
        writeln!(f, "invalid configuration ({n} problem{s}):")?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigErrors> {
        let values: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("SB_"))
            .collect();
        Self::from_values(&values)
    }

    /// Builds the configuration from `SB_*` name → value pairs; unset names
    /// take their defaults from [`VARS`].
    pub fn from_values(values: &HashMap<String, String>) -> Result<Self, ConfigErrors> {
        let mut r = reader::Reader::new(values);
        let server = server::read_server(&mut r);
        let (bots, guests) = automation::read_bots(&mut r);
        let config = Config {
            bots,
            guests,
            telemetry: server::read_telemetry(&mut r, server.mode),
            redis: server::read_redis(&mut r),
            auth: server::read_auth(&mut r, server.mode),
            chat: chat::read_chat(&mut r),
            messages: chat::read_messages(&mut r),
            notifications: chat::read_notifications(&mut r),
            channels: chat::read_channels(&mut r),
            presence: chat::read_presence(&mut r),
            calls: chat::read_calls(&mut r),
            api: security::read_api(&mut r),
            inbox: automation::read_inbox(&mut r),
            webhooks: automation::read_webhooks(&mut r),
            cache: automation::read_cache(&mut r),
            limits: read_limits(&mut r),
            security: security::read_security(&mut r),
            server,
        };
        if config.server.max_payload < config.messages.max_content_bytes as u64 {
            r.error("SB_MAX_PAYLOAD_BYTES must be at least SB_MAX_CONTENT_BYTES");
        }
        if config.guests.enabled && config.guests.secret == config.auth.secret {
            r.error("SB_GUEST_SECRET must differ from SB_JWT_SECRET: a guest token must never pass as a user token");
        }
        if !r.errors.is_empty() {
            return Err(ConfigErrors(r.errors));
        }
        Ok(config)
    }

    /// The defaults, as a test or an embedding program would start from.
    pub fn defaults() -> Self {
        Self::from_values(&HashMap::new()).expect("defaults are valid")
    }

    /// True when no JWT key is configured: development mode generates one.
    pub fn needs_dev_secret(&self) -> bool {
        self.auth.secret.is_none()
            && self.auth.public_key_pem.is_none()
            && self.auth.jwks_url.is_none()
    }
}

fn read_limits(r: &mut reader::Reader) -> limits::Limits {
    let mut limits = limits::Limits::default();
    for row in limits::TABLE {
        let raw = r.string(row.env);
        match limits::parse_limit(&raw) {
            Ok(l) => limits.0.push((row.action, l)),
            Err(e) => r.error(format!("{}={raw:?}: {e}", row.env)),
        }
    }
    limits
}

/// The `.env.example` text generated from [`VARS`].
pub fn env_example() -> String {
    let mut out = String::from(
        "# Switchboard configuration: every variable with its default.\n\
         # Generated from src/config/vars.rs (VARS); a test keeps the two in step.\n\
         # A valid env file for `docker run --env-file`, compose's env_file and\n\
         # `kubectl create configmap --from-env-file` (values are never quoted).\n\
         # The binary reads no .env file itself: pass these as environment variables.\n\n",
    );
    for v in VARS.iter() {
        // Never quoted: `docker run --env-file`, compose's `env_file` and
        // `kubectl create configmap --from-env-file` take the rest of the
        // line literally (the node strips quotes anyway).
        out.push_str(&format!("# {}\n{}={}\n\n", v.help, v.env, v.default));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_valid_and_match_the_protocol() {
        let c = Config::defaults();
        assert_eq!(c.server.port, 3000);
        assert_eq!(c.server.max_payload, 1024 * 1024);
        assert_eq!(c.server.mode, Mode::Development);
        assert!(c.redis.url.is_none());
        assert!(c.needs_dev_secret());
        // The rate limits of PROTOCOL §10.
        let per_min = |a| {
            let l = c.limits.get(a).unwrap();
            (l.count, l.period.as_secs())
        };
        use limits::Action;
        assert_eq!(per_min(Action::Message), (30, 60));
        assert_eq!(per_min(Action::Typing), (10, 10));
        assert_eq!(per_min(Action::Receipt), (100, 60));
        assert_eq!(per_min(Action::Presence), (20, 60));
        assert_eq!(per_min(Action::Call), (5, 60));
        assert_eq!(per_min(Action::Reaction), (50, 60));
        assert_eq!(per_min(Action::Connect), (60, 60));
    }

    #[test]
    fn the_rate_limit_table_matches_the_variables() {
        for row in limits::TABLE {
            let v = VARS.iter().find(|v| v.env == row.env).expect(row.env);
            assert_eq!(v.default, row.default, "{}", row.env);
            assert!(limits::parse_limit(v.default).is_ok(), "{}", row.env);
        }
    }

    #[test]
    fn every_bad_value_is_reported_at_once() {
        let err = Config::from_values(&vals(&[
            ("SB_PORT", "http"),
            ("SB_ENV", "staging"),
            ("SB_REDIS_URL", "localhost:6379"),
            ("SB_JWT_LEEWAY_SECS", "9999"),
        ]))
        .unwrap_err();
        let text = err.to_string();
        for name in ["SB_PORT", "SB_ENV", "SB_REDIS_URL", "SB_JWT_LEEWAY_SECS"] {
            assert!(text.contains(name), "{name} missing from: {text}");
        }
        assert_eq!(err.0.len(), 4, "{text}");
    }

    #[test]
    fn production_requires_an_explicit_key() {
        let err = Config::from_values(&vals(&[("SB_ENV", "production")])).unwrap_err();
        assert!(err.to_string().contains("SB_JWT_SECRET"));
        let ok = Config::from_values(&vals(&[
            ("SB_ENV", "production"),
            ("SB_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ]));
        assert!(ok.is_ok());
    }

    /// What `docker run --env-file` and `kubectl create configmap
    /// --from-env-file` do with a line: the rest after `=`, literally.
    fn as_env_file(text: &str) -> HashMap<String, String> {
        text.lines()
            .filter(|l| !l.starts_with('#') && l.contains('='))
            .map(|l| {
                let (k, v) = l.split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    #[test]
    fn env_example_works_as_an_env_file_and_quotes_are_tolerated() {
        let literal = as_env_file(&env_example());
        let c = Config::from_values(&literal).expect(".env.example read literally is valid");
        let d = Config::defaults();
        assert_eq!(format!("{:?}", c.limits), format!("{:?}", d.limits));
        assert_eq!(format!("{:?}", c.channels), format!("{:?}", d.channels));
        // An older file with quoted values reads the same.
        let quoted: HashMap<String, String> = literal
            .iter()
            .map(|(k, v)| (k.clone(), format!("\"{v}\"")))
            .collect();
        let q = Config::from_values(&quoted).expect("quoted values are unquoted");
        assert_eq!(format!("{:?}", q.limits), format!("{:?}", d.limits));
        assert_eq!(format!("{:?}", q.channels), format!("{:?}", d.channels));
        assert_eq!(reader::unquote("'a b'"), "a b");
        assert_eq!(reader::unquote("\"a"), "\"a");
    }

    #[test]
    fn redis_urls_single_tls_cluster_and_sentinel_are_accepted() {
        for ok in [
            "redis://127.0.0.1:6379/0",
            "rediss://:pw@redis.example.com:6380",
            "redis-cluster://10.0.0.1:7000?node=10.0.0.2:7000&node=10.0.0.3:7000",
            "rediss-cluster://:pw@10.0.0.1:7000",
            "redis-sentinel://10.0.0.1:26379?sentinelServiceName=m&node=10.0.0.2:26379",
        ] {
            let c = Config::from_values(&vals(&[("SB_REDIS_URL", ok)])).expect(ok);
            assert_eq!(c.redis.url.as_deref(), Some(ok));
        }
        let e = Config::from_values(&vals(&[(
            "SB_REDIS_URL",
            "redis-sentinel://10.0.0.1:26379",
        )]))
        .unwrap_err()
        .to_string();
        assert!(e.contains("sentinelServiceName"), "{e}");
        assert!(Config::from_values(&vals(&[("SB_REDIS_URL", "http://x")])).is_err());
    }

    #[test]
    fn redis_tls_files_are_checked() {
        let err = |pairs: &[(&str, &str)]| {
            Config::from_values(&vals(pairs))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let cargo = env!("CARGO_MANIFEST_PATH");
        let e = err(&[
            ("SB_REDIS_URL", "rediss://r:6380"),
            ("SB_REDIS_TLS_CERT_FILE", cargo),
        ]);
        assert!(e.contains("go together"), "{e}");
        let e = err(&[
            ("SB_REDIS_URL", "redis://r:6379"),
            ("SB_REDIS_TLS_CA_FILE", cargo),
        ]);
        assert!(e.contains("not rediss://"), "{e}");
        let e = err(&[
            ("SB_REDIS_URL", "rediss://r:6380"),
            ("SB_REDIS_TLS_CA_FILE", "/nonexistent/ca.pem"),
        ]);
        assert!(e.contains("cannot read /nonexistent/ca.pem"), "{e}");
        let c = Config::from_values(&vals(&[
            ("SB_REDIS_URL", "rediss-cluster://r:7000"),
            ("SB_REDIS_TLS_CA_FILE", cargo),
            ("SB_REDIS_WAIT_REPLICAS", "1"),
        ]))
        .unwrap();
        assert_eq!(c.redis.tls.ca_file.as_deref(), Some(cargo));
        assert_eq!(c.redis.wait_replicas, 1);
        assert!(!err(&[("SB_REDIS_WAIT_REPLICAS", "17")]).is_empty());
    }

    #[test]
    fn env_example_lists_every_variable_with_its_default() {
        let committed = include_str!("../../.env.example");
        assert_eq!(
            committed,
            env_example(),
            ".env.example is out of date: run `switchboard env-example > .env.example`"
        );
    }

    #[test]
    fn problems_are_counted_in_english() {
        let one = ConfigErrors(vec!["a".into()]).to_string();
        assert!(
            one.starts_with("invalid configuration (1 problem):"),
            "{one}"
        );
        let two = ConfigErrors(vec!["a".into(), "b".into()]).to_string();
        assert!(
            two.starts_with("invalid configuration (2 problems):"),
            "{two}"
        );
    }

    #[test]
    fn the_readme_documents_every_variable() {
        let readme = include_str!("../../README.md");
        for v in VARS.iter() {
            assert!(
                readme.contains(&format!("`{}`", v.env)),
                "README lacks {}",
                v.env
            );
        }
    }

    #[test]
    fn numeric_bounds_come_from_the_table() {
        assert_eq!(vars::var("SB_PORT").bounds, Some((0, 65535)));
        let err = Config::from_values(&vals(&[("SB_CALL_RING_SECS", "601")])).unwrap_err();
        assert_eq!(
            err.0,
            vec!["SB_CALL_RING_SECS=601 is out of range 1..=600".to_string()]
        );
        // Every bound admits its default.
        for v in VARS.iter() {
            if let Some((min, max)) = v.bounds {
                let d: u64 = v.default.parse().expect(v.env);
                assert!((min..=max).contains(&d), "{}", v.env);
            }
        }
    }

    #[test]
    fn flags_are_derived_from_names() {
        let v = VARS.iter().find(|v| v.env == "SB_JWT_SECRET").unwrap();
        assert_eq!(v.flag(), "jwt-secret");
        let mut flags: Vec<_> = VARS.iter().map(|v| v.flag()).collect();
        flags.sort();
        flags.dedup();
        assert_eq!(flags.len(), VARS.len(), "two variables share a flag");
    }
}
