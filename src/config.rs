//! Typed configuration from `SB_*` environment variables and `--flags`.
//!
//! One table ([`VARS`]) declares every setting: its variable, its default and
//! its help. The same table builds `switchboard --help`, is what
//! `.env.example` lists (a test keeps them in step), and feeds the typed
//! structs below, one per concern. Every bad value is collected and reported
//! at once ([`ConfigErrors`]); the process then exits non-zero.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// One configuration variable.
#[derive(Debug, Clone, Copy)]
pub struct Var {
    /// Environment variable name, e.g. `SB_PORT`.
    pub env: &'static str,
    /// The default, as text; empty means "unset".
    pub default: &'static str,
    pub help: &'static str,
}

impl Var {
    /// The command-line flag: `SB_JWT_SECRET` → `jwt-secret`.
    pub fn flag(&self) -> String {
        self.env
            .trim_start_matches("SB_")
            .to_ascii_lowercase()
            .replace('_', "-")
    }
}

macro_rules! vars {
    ($($env:literal = $default:literal : $help:literal;)*) => {
        /// Every configuration variable, with its default and help.
        pub const VARS: &[Var] = &[$(Var { env: $env, default: $default, help: $help }),*];
    };
}

vars! {
    "SB_ENV" = "development" : "development | production. Production refuses to start without an explicit JWT key.";
    "SB_HOST" = "0.0.0.0" : "Address to listen on.";
    "SB_PORT" = "3000" : "Port for Socket.IO and HTTP.";
    "SB_NODE_ID" = "" : "This node's id in the cluster (default: hostname plus a random suffix).";
    "SB_LOG" = "info" : "Log filter (tracing EnvFilter syntax), e.g. info,switchboard=debug.";
    "SB_LOG_FORMAT" = "text" : "text | json.";
    "SB_SHUTDOWN_TIMEOUT_SECS" = "30" : "On SIGTERM/SIGINT: how long to drain before exiting.";
    "SB_REDIS_URL" = "" : "Redis URL (redis://host:6379/0). Unset: in-process store, single node.";
    "SB_REDIS_PREFIX" = "sb:" : "Prefix of every Redis key and pub/sub channel.";
    "SB_REDIS_TIMEOUT_MS" = "2000" : "Timeout of one Redis command.";
    "SB_ADAPTER_REQUEST_TIMEOUT_MS" = "5000" : "Timeout of a cross-node adapter request (remote join/leave/disconnect).";
    "SB_ADAPTER_BUFFER" = "1024" : "Per-channel buffer of the cross-node pub/sub stream.";
    "SB_NODE_HEARTBEAT_SECS" = "5" : "How often a node renews its heartbeat in Redis.";
    "SB_NODE_TTL_SECS" = "15" : "A node whose heartbeat is older than this is considered dead.";
    "SB_JWT_SECRET" = "" : "HS256 shared secret (e.g. the Supabase JWT secret).";
    "SB_JWT_PUBLIC_KEY" = "" : "RS256/ES256 public key, PEM text or a path to a PEM file.";
    "SB_JWT_JWKS_URL" = "" : "JWKS URL for RS256/ES256 keys, fetched and cached, refreshed on unknown kid.";
    "SB_JWT_AUDIENCE" = "" : "Required aud claim (comma-separated list accepted), e.g. authenticated.";
    "SB_JWT_ISSUER" = "" : "Required iss claim.";
    "SB_JWT_LEEWAY_SECS" = "30" : "Clock skew allowed on exp/nbf (at most 300).";
    "SB_JWKS_REFRESH_SECS" = "300" : "Minimum interval between two JWKS fetches.";
    "SB_MAX_PAYLOAD_BYTES" = "1048576" : "Maximum Socket.IO packet size (both transports).";
    "SB_PING_INTERVAL_MS" = "25000" : "Engine.IO ping interval.";
    "SB_PING_TIMEOUT_MS" = "20000" : "Engine.IO ping timeout.";
    "SB_SOCKET_BUFFER" = "1024" : "Packets buffered per socket before emits to it fail.";
    "SB_WS_READ_BUFFER" = "1024" : "WebSocket read buffer per connection, in bytes (memory per idle connection).";
    "SB_AUTO_JOIN_LIMIT" = "200" : "On connect, join at most this many of the user's chats (beyond: chat:join).";
    "SB_MAX_CHAT_MEMBERS" = "10000" : "Maximum members of one chat.";
    "SB_MAX_IDS_PER_REQUEST" = "100" : "Maximum ids in one request (userIds, chatIds).";
    "SB_MAX_CONTENT_BYTES" = "16384" : "Maximum message content size in bytes.";
    "SB_MAX_MEDIA_BYTES" = "104857600" : "Maximum declared media size in bytes.";
    "SB_HISTORY_MAX_MESSAGES" = "10000" : "Messages kept per chat.";
    "SB_HISTORY_MAX_AGE_SECS" = "2592000" : "Messages older than this are trimmed (default 30 days).";
    "SB_CLIENT_ID_TTL_SECS" = "86400" : "How long a clientId is remembered for idempotent retries.";
    "SB_HISTORY_PAGE_MAX" = "100" : "Maximum limit of chat:history.";
    "SB_SYNC_MAX_MESSAGES" = "500" : "Maximum messages per chat in one chat:sync answer.";
    "SB_TYPING_TIMEOUT_MS" = "5000" : "The server sends message:stop-typing after this long without renewal.";
    "SB_CHANNELS" = "public:* any server; role:admin:* role=admin role=admin" : "Topic channel rules: `PREFIX* WHO_SUBSCRIBES WHO_PUBLISHES; ...`, WHO = any | role=NAME | server | none.";
    "SB_NOTIFICATIONS_MAX" = "200" : "Notifications kept per user (the oldest are dropped).";
    "SB_NOTIFICATIONS_TTL_SECS" = "604800" : "Notifications older than this are forgotten (default 7 days).";
    "SB_PRESENCE_GRACE_MS" = "5000" : "After a user's last disconnect, wait this long before announcing offline (a reconnect within it announces nothing).";
    "SB_PRESENCE_SWEEP_MS" = "1000" : "How often each node announces due offline changes and reaps the connections of dead nodes.";
    "SB_PRESENCE_OPEN" = "false" : "true: any user may watch any user's presence. false: only users sharing a chat.";
    "SB_PRESENCE_MAX_SUBSCRIPTIONS" = "1000" : "Users one connection may watch with presence:subscribe.";
    "SB_CALL_RING_SECS" = "45" : "An unanswered call ends with reason timeout after this long.";
    "SB_CALL_MAX_SECS" = "14400" : "Longest call; its state is dropped after this long (default 4 h).";
    "SB_CALL_HISTORY_MAX" = "100" : "Calls kept in each user's call history.";
    "SB_API_KEY" = "" : "Integration key for /api/v1/* (Authorization: Bearer). Unset: the API refuses every request.";
    "SB_ADMIN_KEY" = "" : "Admin key for /admin/* (Authorization: Bearer). Unset: the admin API refuses every request.";
    "SB_API_MAX_BODY_BYTES" = "262144" : "Largest HTTP API request body.";
    "SB_INBOX_MAX" = "100" : "Events queued per offline user (POST /api/v1/users/{id}/events with persist); the oldest are dropped.";
    "SB_INBOX_TTL_SECS" = "86400" : "Queued events older than this are dropped.";
    "SB_WEBHOOK_URL" = "" : "Automation backend URL (n8n webhook node, ...). Unset: no webhooks.";
    "SB_WEBHOOK_SECRET" = "" : "HMAC secret of X-Switchboard-Signature, outbound and inbound (at least 16 characters; required with SB_WEBHOOK_URL).";
    "SB_WEBHOOK_EVENTS" = "" : "Extra event kinds sent besides bot messages, comma-separated: message:new (every message), presence:update.";
    "SB_WEBHOOK_FORMAT" = "switchboard" : "switchboard | evolution (Evolution API messages.upsert, for WhatsApp-style n8n flows).";
    "SB_WEBHOOK_TIMEOUT_MS" = "10000" : "Timeout of one delivery attempt.";
    "SB_WEBHOOK_MAX_ATTEMPTS" = "6" : "Attempts before a delivery is dead-lettered.";
    "SB_WEBHOOK_BACKOFF_MS" = "1000" : "Delay before the first retry; doubled after each failure.";
    "SB_WEBHOOK_CONCURRENCY" = "16" : "Deliveries in flight at once, per node.";
    "SB_WEBHOOK_TOLERANCE_SECS" = "300" : "Inbound replies: the signature timestamp may differ from now by at most this.";
    "SB_CACHE_RULES" = "" : "Cacheable bot requests: `PATTERN global|user [day]; ...`, PATTERN matched against the trimmed, lower-cased message (trailing * = prefix).";
    "SB_CACHE_TTL_SECS" = "300" : "A cached reply is fresh this long.";
    "SB_CACHE_STALE_SECS" = "3600" : "After that, served stale (and refreshed once in the background) this long.";
    "SB_RATE_CONNECT" = "60/60 open" : "New connections per client IP: COUNT/SECONDS, then open|closed (when Redis is down: let through or refuse), or off.";
    "SB_RATE_MESSAGE" = "30/60 closed" : "message:new per user (all devices and nodes together).";
    "SB_RATE_TYPING" = "10/10 open" : "message:typing and message:stop-typing per user.";
    "SB_RATE_RECEIPT" = "100/60 open" : "message:delivered and message:read per user.";
    "SB_RATE_PRESENCE" = "20/60 open" : "presence:update per user.";
    "SB_RATE_CALL" = "5/60 closed" : "call:initiate per user.";
    "SB_RATE_REACTION" = "50/60 open" : "reaction:new and reaction:remove per user.";
    "SB_RATE_SIGNAL" = "600/60 open" : "call:answer, call:reject, call:end and call:ice-candidate per user.";
    "SB_RATE_CHAT_CHANGE" = "30/60 closed" : "chat:create, chat:add-members and chat:remove-members per user.";
    "SB_RATE_PUBLISH" = "60/60 open" : "channel:publish per user.";
    "SB_RATE_OTHER" = "300/60 open" : "Every other client event per user (reads, joins, subscriptions, notifications).";
    "SB_TRUSTED_PROXIES" = "" : "Comma-separated IPs or CIDRs of reverse proxies whose X-Forwarded-For is believed (client IP for limits).";
    "SB_MAX_CONNECTIONS_PER_USER" = "20" : "Live connections one user may hold across the cluster; more are refused with RATE_LIMITED.";
    "SB_MAX_CHATS_PER_SOCKET" = "1000" : "Chats one connection may receive live events of (auto-join, chat:join, chat:join-multiple).";
    "SB_ALLOWED_ORIGINS" = "" : "Comma-separated browser origins allowed (Socket.IO and CORS of the HTTP API), e.g. https://app.example.com. Unset: any origin, no CORS headers.";
    "SB_TOKEN_EXPIRY_WARNING_SECS" = "60" : "auth:expiring is sent this long before the token's exp; at exp the connection is closed.";
}

/// development | production.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Development,
    Production,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub mode: Mode,
    pub host: IpAddr,
    pub port: u16,
    pub node_id: String,
    pub shutdown_timeout: Duration,
    pub max_payload: u64,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    pub socket_buffer: usize,
    pub ws_read_buffer: usize,
}

#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    pub log: String,
    pub json: bool,
}

#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub url: Option<String>,
    pub prefix: String,
    pub command_timeout: Duration,
    pub adapter_request_timeout: Duration,
    pub adapter_buffer: usize,
    pub heartbeat_interval: Duration,
    pub node_ttl: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    pub secret: Option<String>,
    pub public_key_pem: Option<String>,
    pub jwks_url: Option<String>,
    pub audience: Vec<String>,
    pub issuer: Option<String>,
    pub leeway_secs: u64,
    pub jwks_refresh: Duration,
}

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
pub struct ApiConfig {
    pub api_key: Option<String>,
    pub admin_key: Option<String>,
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct InboxConfig {
    pub max: usize,
    pub ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: Option<String>,
    pub secret: Option<String>,
    pub events: Vec<String>,
    pub format: crate::webhooks::Format,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub backoff: Duration,
    pub concurrency: usize,
    pub tolerance: Duration,
    /// How long a correlation id can be answered.
    pub correlation_ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct CacheConfig {
    pub rules: Vec<crate::cache::Rule>,
    pub ttl: Duration,
    pub stale: Duration,
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
    pub rules: Vec<crate::channels::Rule>,
}

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
    pub limits: crate::rate_limit::Limits,
    pub security: SecurityConfig,
}

#[derive(Debug, Clone)]
pub struct SecurityConfig {
    pub trusted_proxies: Vec<crate::security::Cidr>,
    pub max_connections_per_user: usize,
    pub max_chats_per_socket: usize,
    /// Empty: any origin (and no CORS headers).
    pub allowed_origins: Vec<String>,
    pub token_warning: Duration,
}

/// Every invalid variable, reported together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration ({} problems):", self.0.len())?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// An `IpAddr` with a default, for the error-collecting parser.
struct IpAddrOrDefault(IpAddr);

impl Default for IpAddrOrDefault {
    fn default() -> Self {
        Self(IpAddr::from([0, 0, 0, 0]))
    }
}

impl std::str::FromStr for IpAddrOrDefault {
    type Err = std::net::AddrParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Self)
    }
}

/// Reads raw values and collects parse errors.
struct Reader<'a> {
    values: &'a HashMap<String, String>,
    errors: Vec<String>,
}

impl Reader<'_> {
    fn raw(&self, env: &str) -> Option<String> {
        let default = VARS
            .iter()
            .find(|v| v.env == env)
            .unwrap_or_else(|| panic!("{env} is not declared in VARS"))
            .default;
        let v = self
            .values
            .get(env)
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| default.to_string());
        (!v.is_empty()).then_some(v)
    }

    fn opt(&mut self, env: &str) -> Option<String> {
        self.raw(env)
    }

    fn string(&mut self, env: &str) -> String {
        self.raw(env).unwrap_or_default()
    }

    fn parse<T>(&mut self, env: &str, what: &str) -> T
    where
        T: std::str::FromStr + Default,
    {
        let Some(raw) = self.raw(env) else {
            self.errors.push(format!("{env} must be set ({what})"));
            return T::default();
        };
        match raw.parse() {
            Ok(v) => v,
            Err(_) => {
                self.errors
                    .push(format!("{env}={raw:?} is not valid: expected {what}"));
                T::default()
            }
        }
    }

    fn ranged(&mut self, env: &str, min: u64, max: u64) -> u64 {
        let v: u64 = self.parse(env, &format!("an integer in {min}..={max}"));
        if !(min..=max).contains(&v) {
            self.errors
                .push(format!("{env}={v} is out of range {min}..={max}"));
        }
        v
    }

    fn ms(&mut self, env: &str, min: u64, max: u64) -> Duration {
        Duration::from_millis(self.ranged(env, min, max))
    }

    fn secs(&mut self, env: &str, min: u64, max: u64) -> Duration {
        Duration::from_secs(self.ranged(env, min, max))
    }
}

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
        let mut r = Reader {
            values,
            errors: Vec::new(),
        };
        let mode = match r.string("SB_ENV").as_str() {
            "development" | "dev" => Mode::Development,
            "production" | "prod" => Mode::Production,
            other => {
                r.errors.push(format!(
                    "SB_ENV={other:?} is not valid: expected development or production"
                ));
                Mode::Development
            }
        };
        let host: IpAddr = r.parse::<IpAddrOrDefault>("SB_HOST", "an IP address").0;
        let port = r.ranged("SB_PORT", 0, 65535) as u16;
        let node_id = r.opt("SB_NODE_ID").unwrap_or_else(default_node_id);
        if node_id.len() > 128 || node_id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            r.errors
                .push("SB_NODE_ID must be at most 128 characters without spaces".into());
        }
        let log_format = r.string("SB_LOG_FORMAT");
        if !matches!(log_format.as_str(), "text" | "json") {
            r.errors.push(format!(
                "SB_LOG_FORMAT={log_format:?} is not valid: expected text or json"
            ));
        }
        let server = ServerConfig {
            mode,
            host,
            port,
            node_id,
            shutdown_timeout: r.secs("SB_SHUTDOWN_TIMEOUT_SECS", 0, 3600),
            max_payload: r.ranged("SB_MAX_PAYLOAD_BYTES", 1024, 64 * 1024 * 1024),
            ping_interval: r.ms("SB_PING_INTERVAL_MS", 100, 600_000),
            ping_timeout: r.ms("SB_PING_TIMEOUT_MS", 100, 600_000),
            socket_buffer: r.ranged("SB_SOCKET_BUFFER", 16, 1_000_000) as usize,
            ws_read_buffer: r.ranged("SB_WS_READ_BUFFER", 256, 1 << 20) as usize,
        };
        let telemetry = TelemetryConfig {
            log: r.string("SB_LOG"),
            json: log_format == "json",
        };
        let redis_url = r.opt("SB_REDIS_URL");
        if let Some(url) = &redis_url {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                r.errors
                    .push("SB_REDIS_URL must start with redis:// or rediss://".to_string());
            }
        }
        let redis = RedisConfig {
            url: redis_url,
            prefix: r.string("SB_REDIS_PREFIX"),
            command_timeout: r.ms("SB_REDIS_TIMEOUT_MS", 10, 60_000),
            adapter_request_timeout: r.ms("SB_ADAPTER_REQUEST_TIMEOUT_MS", 10, 60_000),
            adapter_buffer: r.ranged("SB_ADAPTER_BUFFER", 16, 1_000_000) as usize,
            heartbeat_interval: r.secs("SB_NODE_HEARTBEAT_SECS", 1, 3600),
            node_ttl: r.secs("SB_NODE_TTL_SECS", 2, 86400),
        };
        if redis.node_ttl <= redis.heartbeat_interval {
            r.errors
                .push("SB_NODE_TTL_SECS must be greater than SB_NODE_HEARTBEAT_SECS".into());
        }
        let public_key_pem = match r.opt("SB_JWT_PUBLIC_KEY") {
            Some(v) if v.contains("-----BEGIN") => Some(v.replace("\\n", "\n")),
            Some(path) => match std::fs::read_to_string(&path) {
                Ok(pem) => Some(pem),
                Err(e) => {
                    r.errors.push(format!(
                        "SB_JWT_PUBLIC_KEY: neither PEM text nor a readable file ({path}: {e})"
                    ));
                    None
                }
            },
            None => None,
        };
        let jwks_url = r.opt("SB_JWT_JWKS_URL");
        if let Some(u) = &jwks_url {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                r.errors
                    .push("SB_JWT_JWKS_URL must be an http(s) URL".to_string());
            }
        }
        let secret = r.opt("SB_JWT_SECRET");
        if mode == Mode::Production {
            if secret.is_none() && public_key_pem.is_none() && jwks_url.is_none() {
                r.errors.push(
                    "SB_ENV=production needs SB_JWT_SECRET, SB_JWT_PUBLIC_KEY or SB_JWT_JWKS_URL"
                        .into(),
                );
            }
            if secret.as_ref().is_some_and(|s| s.len() < 32) {
                r.errors
                    .push("SB_JWT_SECRET must be at least 32 bytes in production".into());
            }
        }
        let auth = AuthConfig {
            secret,
            public_key_pem,
            jwks_url,
            audience: r
                .opt("SB_JWT_AUDIENCE")
                .map(|a| {
                    a.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            issuer: r.opt("SB_JWT_ISSUER"),
            leeway_secs: r.ranged("SB_JWT_LEEWAY_SECS", 0, 300),
            jwks_refresh: r.secs("SB_JWKS_REFRESH_SECS", 1, 86400),
        };
        let chat = ChatConfig {
            auto_join_limit: r.ranged("SB_AUTO_JOIN_LIMIT", 0, 100_000) as usize,
            max_members: r.ranged("SB_MAX_CHAT_MEMBERS", 2, 1_000_000) as usize,
            max_ids_per_request: r.ranged("SB_MAX_IDS_PER_REQUEST", 1, 10_000) as usize,
        };
        let messages = MessageConfig {
            max_content_bytes: r.ranged("SB_MAX_CONTENT_BYTES", 1, 16 * 1024 * 1024) as usize,
            max_media_bytes: r.ranged("SB_MAX_MEDIA_BYTES", 1, u64::MAX / 2),
            history_max_messages: r.ranged("SB_HISTORY_MAX_MESSAGES", 1, 10_000_000),
            history_max_age: r.secs("SB_HISTORY_MAX_AGE_SECS", 1, 10 * 365 * 86400),
            client_id_ttl: r.secs("SB_CLIENT_ID_TTL_SECS", 1, 30 * 86400),
            history_page_max: r.ranged("SB_HISTORY_PAGE_MAX", 1, 10_000) as usize,
            sync_max_messages: r.ranged("SB_SYNC_MAX_MESSAGES", 1, 100_000) as usize,
            typing_timeout: r.ms("SB_TYPING_TIMEOUT_MS", 100, 600_000),
        };
        let notifications = NotificationConfig {
            max_per_user: r.ranged("SB_NOTIFICATIONS_MAX", 1, 100_000) as usize,
            ttl: r.secs("SB_NOTIFICATIONS_TTL_SECS", 1, 365 * 86400),
        };
        let channels = ChannelConfig {
            rules: crate::channels::parse_rules(&r.string("SB_CHANNELS")).unwrap_or_else(|e| {
                r.errors.push(format!("SB_CHANNELS: {e}"));
                Vec::new()
            }),
        };
        let presence = PresenceConfig {
            grace: r.ms("SB_PRESENCE_GRACE_MS", 0, 600_000),
            sweep_interval: r.ms("SB_PRESENCE_SWEEP_MS", 50, 60_000),
            open: r.parse("SB_PRESENCE_OPEN", "true or false"),
            max_subscriptions: r.ranged("SB_PRESENCE_MAX_SUBSCRIPTIONS", 1, 100_000) as usize,
        };
        let calls = CallConfig {
            ring_timeout: r.secs("SB_CALL_RING_SECS", 1, 600),
            max_duration: r.secs("SB_CALL_MAX_SECS", 60, 7 * 86400),
            history_max: r.ranged("SB_CALL_HISTORY_MAX", 1, 10_000) as usize,
        };
        let api = ApiConfig {
            api_key: r.opt("SB_API_KEY"),
            admin_key: r.opt("SB_ADMIN_KEY"),
            max_body_bytes: r.ranged("SB_API_MAX_BODY_BYTES", 1024, 64 * 1024 * 1024) as usize,
        };
        for (env, key) in [
            ("SB_API_KEY", &api.api_key),
            ("SB_ADMIN_KEY", &api.admin_key),
        ] {
            if key.as_ref().is_some_and(|k| k.len() < 16) {
                r.errors
                    .push(format!("{env} must be at least 16 characters"));
            }
        }
        let inbox = InboxConfig {
            max: r.ranged("SB_INBOX_MAX", 1, 100_000) as usize,
            ttl: r.secs("SB_INBOX_TTL_SECS", 1, 30 * 86400),
        };
        let events: Vec<String> = r
            .string("SB_WEBHOOK_EVENTS")
            .split(',')
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty())
            .collect();
        for e in &events {
            if !["message:new", "presence:update"].contains(&e.as_str()) {
                r.errors.push(format!(
                    "SB_WEBHOOK_EVENTS: unknown kind {e:?} (message:new, presence:update)"
                ));
            }
        }
        let webhooks = WebhookConfig {
            url: r.opt("SB_WEBHOOK_URL"),
            secret: r.opt("SB_WEBHOOK_SECRET"),
            events,
            format: match r.string("SB_WEBHOOK_FORMAT").as_str() {
                "switchboard" => crate::webhooks::Format::Switchboard,
                "evolution" => crate::webhooks::Format::Evolution,
                other => {
                    r.errors.push(format!(
                        "SB_WEBHOOK_FORMAT={other:?} is not valid: expected switchboard or evolution"
                    ));
                    crate::webhooks::Format::Switchboard
                }
            },
            timeout: r.ms("SB_WEBHOOK_TIMEOUT_MS", 100, 300_000),
            max_attempts: r.ranged("SB_WEBHOOK_MAX_ATTEMPTS", 1, 30) as u32,
            backoff: r.ms("SB_WEBHOOK_BACKOFF_MS", 10, 3_600_000),
            concurrency: r.ranged("SB_WEBHOOK_CONCURRENCY", 1, 1024) as usize,
            tolerance: r.secs("SB_WEBHOOK_TOLERANCE_SECS", 1, 86400),
            correlation_ttl: Duration::from_secs(86400),
        };
        if let Some(url) = &webhooks.url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                r.errors
                    .push("SB_WEBHOOK_URL must start with http:// or https://".into());
            }
            if webhooks.secret.is_none() {
                r.errors
                    .push("SB_WEBHOOK_SECRET is required with SB_WEBHOOK_URL".into());
            }
        }
        if webhooks.secret.as_ref().is_some_and(|s| s.len() < 16) {
            r.errors
                .push("SB_WEBHOOK_SECRET must be at least 16 characters".into());
        }
        let cache = CacheConfig {
            rules: crate::cache::parse_rules(&r.string("SB_CACHE_RULES")).unwrap_or_else(|e| {
                r.errors.push(format!("SB_CACHE_RULES: {e}"));
                Vec::new()
            }),
            ttl: r.secs("SB_CACHE_TTL_SECS", 1, 30 * 86400),
            stale: r.secs("SB_CACHE_STALE_SECS", 0, 30 * 86400),
        };
        let mut limits = crate::rate_limit::Limits::default();
        for (action, _, env, _) in crate::rate_limit::TABLE {
            let raw = r.string(env);
            match crate::rate_limit::parse_limit(&raw) {
                Ok(l) => limits.0.push((*action, l)),
                Err(e) => r.errors.push(format!("{env}={raw:?}: {e}")),
            }
        }
        let mut trusted_proxies = Vec::new();
        for p in r
            .string("SB_TRUSTED_PROXIES")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            match p.parse() {
                Ok(c) => trusted_proxies.push(c),
                Err(e) => r.errors.push(format!("SB_TRUSTED_PROXIES: {p:?}: {e}")),
            }
        }
        let mut allowed_origins = Vec::new();
        for o in r
            .string("SB_ALLOWED_ORIGINS")
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
        {
            if !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/') {
                r.errors.push(format!(
                    "SB_ALLOWED_ORIGINS: {o:?} is not an origin (scheme://host[:port], no path)"
                ));
            }
            allowed_origins.push(o.to_string());
        }
        let security = SecurityConfig {
            trusted_proxies,
            max_connections_per_user: r.ranged("SB_MAX_CONNECTIONS_PER_USER", 1, 100_000) as usize,
            max_chats_per_socket: r.ranged("SB_MAX_CHATS_PER_SOCKET", 1, 1_000_000) as usize,
            allowed_origins,
            token_warning: r.secs("SB_TOKEN_EXPIRY_WARNING_SECS", 1, 86400),
        };
        if server.max_payload < messages.max_content_bytes as u64 {
            r.errors
                .push("SB_MAX_PAYLOAD_BYTES must be at least SB_MAX_CONTENT_BYTES".to_string());
        }
        if !r.errors.is_empty() {
            return Err(ConfigErrors(r.errors));
        }
        Ok(Config {
            server,
            telemetry,
            redis,
            auth,
            chat,
            messages,
            notifications,
            channels,
            presence,
            calls,
            api,
            inbox,
            webhooks,
            cache,
            limits,
            security,
        })
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

fn default_node_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into());
    let suffix: u32 = rand::random::<u32>() & 0xffffff;
    format!("{host}-{suffix:06x}")
}

/// The `.env.example` text generated from [`VARS`].
pub fn env_example() -> String {
    let mut out = String::from(
        "# Switchboard configuration: every variable with its default.\n\
         # Generated from src/config.rs (VARS); a test keeps the two in step.\n\n",
    );
    for v in VARS {
        let value = if v.default.contains([' ', ';', '#']) {
            format!("\"{}\"", v.default)
        } else {
            v.default.to_string()
        };
        out.push_str(&format!("# {}\n{}={}\n\n", v.help, v.env, value));
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
        use crate::rate_limit::Action;
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
        for (_, _, env, default) in crate::rate_limit::TABLE {
            let v = VARS.iter().find(|v| v.env == *env).expect(env);
            assert_eq!(v.default, *default, "{env}");
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

    #[test]
    fn env_example_lists_every_variable_with_its_default() {
        let committed = include_str!("../.env.example");
        assert_eq!(
            committed,
            env_example(),
            ".env.example is out of date: run `switchboard env-example > .env.example`"
        );
    }

    #[test]
    fn the_readme_documents_every_variable() {
        let readme = include_str!("../README.md");
        for v in VARS {
            assert!(
                readme.contains(&format!("`{}`", v.env)),
                "README lacks {}",
                v.env
            );
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
