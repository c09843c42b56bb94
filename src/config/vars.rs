//! The variable table: every `SB_*` setting with its default, its bounds
//! (numbers) and its help. `--help`, `.env.example` and the readers all come
//! from it; the `SB_RATE_*` rows are generated from the rate-limit table
//! ([`super::limits::TABLE`]), so a new limited action is one row there.

use std::sync::LazyLock;

/// One configuration variable.
#[derive(Debug, Clone, Copy)]
pub struct Var {
    /// Environment variable name, e.g. `SB_PORT`.
    pub env: &'static str,
    /// The default, as text; empty means "unset".
    pub default: &'static str,
    /// Inclusive bounds of a numeric variable.
    pub bounds: Option<(u64, u64)>,
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
    ($($env:literal = $default:literal $([$min:expr, $max:expr])? : $help:literal;)*) => {
        /// Every variable but the rate limits, in `--help` order.
        const BASE: &[Var] = &[$(Var {
            env: $env,
            default: $default,
            bounds: vars!(@bounds $($min, $max)?),
            help: $help,
        }),*];
    };
    (@bounds $min:expr, $max:expr) => { Some(($min as u64, $max as u64)) };
    (@bounds) => { None };
}

#[rustfmt::skip]
vars! {
    "SB_ENV" = "development" : "development | production. Production refuses to start without an explicit JWT key.";
    "SB_HOST" = "0.0.0.0" : "Address to listen on. 0.0.0.0: every IPv4 address (works in any container); `::` for IPv6 too (dual-stack where the OS maps IPv4, as Linux does by default).";
    "SB_PORT" = "3000" [0, 65535] : "Port for Socket.IO and HTTP.";
    "SB_INTERNAL_PORT" = "" : "Port of a second listener (same SB_HOST) for /metrics, /health and /ready only. Unset: none.";
    "SB_METRICS_PUBLIC" = "true" : "Serve /metrics on SB_PORT too; set false when SB_INTERNAL_PORT serves it.";
    "SB_NODE_ID" = "" : "This node's id in the cluster (default: hostname plus a random suffix).";
    "SB_LOG" = "info" : "Log filter (tracing EnvFilter syntax), e.g. info,switchboard=debug.";
    "SB_LOG_FORMAT" = "auto" : "auto | text | json. auto: JSON lines in production, readable text in development (coloured only on a terminal).";
    "SB_TRACE_USER_IDS" = "hash" : "User ids on trace spans (enduser.id): hash (a SHA-256 prefix), plain, or off. Traces are configured by the standard OTEL_* variables.";
    "SB_DRAIN_DELAY_SECS" = "5" [0, 3600] : "On SIGTERM: /ready turns 503 at once; the node keeps serving this long (the time an endpoint takes to leave the load balancer) before closing connections.";
    "SB_DRAIN_SPREAD_SECS" = "10" [0, 3600] : "Then it closes its connections in batches spread over this long, so the other nodes see a bounded reconnect rate.";
    "SB_SHUTDOWN_TIMEOUT_SECS" = "30" [0, 3600] : "After the spread: how long in-flight acks, webhook attempts and connections may take before the node exits.";
    "SB_REDIS_URL" = "" : "Redis URL: redis://host:6379/0, rediss:// (TLS), redis-cluster://host:port?node=host2:port2 (Redis Cluster) or redis-sentinel://host:26379?sentinelServiceName=NAME&node=host2:26379 (Sentinel). Unset: in-process store, single node.";
    "SB_REDIS_PREFIX" = "sb:" : "Prefix of every Redis key and pub/sub channel.";
    "SB_REDIS_TIMEOUT_MS" = "2000" [10, 60_000] : "Timeout of one Redis command.";
    "SB_REDIS_TLS_CA_FILE" = "" : "rediss:// only: PEM file of the CA(s) that sign the Redis server certificate (default: the system roots).";
    "SB_REDIS_TLS_CERT_FILE" = "" : "rediss:// only: PEM client certificate (chain) for Redis servers that require one (tls-auth-clients); needs SB_REDIS_TLS_KEY_FILE.";
    "SB_REDIS_TLS_KEY_FILE" = "" : "rediss:// only: PEM private key of SB_REDIS_TLS_CERT_FILE.";
    "SB_REDIS_WAIT_REPLICAS" = "0" [0, 16] : "Acknowledge a stored message only after this many Redis replicas confirm it (WAIT, bounded by half of SB_REDIS_TIMEOUT_MS); otherwise the ack is UNAVAILABLE and a retry with the same clientId is safe. 0: acknowledge once the master has it.";
    "SB_ADAPTER_REQUEST_TIMEOUT_MS" = "5000" [10, 60_000] : "Timeout of a cross-node adapter request (remote join/leave/disconnect).";
    "SB_ADAPTER_BUFFER" = "1024" [16, 1_000_000] : "Per-channel buffer of the cross-node pub/sub stream.";
    "SB_REDIS_PUBSUB_BUFFER" = "4096" [32, 1_000_000] : "Cross-node messages the Redis pub/sub connection buffers for its dispatcher. On overflow messages are lost from live delivery (switchboard_pubsub_dropped_total) and this node's clients are sent sync:needed. Each slot costs a few hundred bytes, preallocated.";
    "SB_NODE_HEARTBEAT_SECS" = "5" [1, 3600] : "How often a node renews its heartbeat in Redis.";
    "SB_NODE_TTL_SECS" = "15" [2, 86400] : "A node whose heartbeat is older than this is considered dead.";
    "SB_JWT_SECRET" = "" : "HS256 shared secret (e.g. the Supabase JWT secret).";
    "SB_JWT_PUBLIC_KEY" = "" : "RS256/ES256 public key, PEM text or a path to a PEM file.";
    "SB_JWT_JWKS_URL" = "" : "JWKS URL for RS256/ES256 keys, fetched and cached, refreshed on unknown kid.";
    "SB_JWT_AUDIENCE" = "" : "Required aud claim (comma-separated list accepted), e.g. authenticated.";
    "SB_JWT_ISSUER" = "" : "Required iss claim.";
    "SB_JWT_LEEWAY_SECS" = "30" [0, 300] : "Clock skew allowed on exp/nbf (at most 300).";
    "SB_JWKS_REFRESH_SECS" = "300" [1, 86400] : "Minimum interval between two JWKS fetches.";
    "SB_MAX_PAYLOAD_BYTES" = "1048576" [1024, 64 * 1024 * 1024] : "Maximum Socket.IO packet size (both transports).";
    "SB_IDLE_TIMEOUT_SECS" = "1800" [0, 7 * 86400] : "A connection that sends no client event for this long gets session:idle { idleSecs }, then is disconnected (pings do not count). 0: off.";
    "SB_PING_INTERVAL_MS" = "25000" [100, 600_000] : "Engine.IO ping interval.";
    "SB_PING_TIMEOUT_MS" = "20000" [100, 600_000] : "Engine.IO ping timeout.";
    "SB_SOCKET_BUFFER" = "1024" [16, 1_000_000] : "Packets buffered per socket before emits to it fail.";
    "SB_WS_READ_BUFFER" = "1024" [256, 1 << 20] : "WebSocket read buffer per connection, in bytes (memory per idle connection).";
    "SB_AUTO_JOIN_LIMIT" = "200" [0, 100_000] : "On connect, join at most this many of the user's chats (beyond: chat:join).";
    "SB_MAX_CHAT_MEMBERS" = "10000" [2, 1_000_000] : "Maximum members of one chat.";
    "SB_MAX_IDS_PER_REQUEST" = "100" [1, 10_000] : "Maximum ids in one request (userIds, chatIds).";
    "SB_MAX_CONTENT_BYTES" = "16384" [1, 16 * 1024 * 1024] : "Maximum message content size in bytes.";
    "SB_MAX_MEDIA_BYTES" = "104857600" [1, u64::MAX / 2] : "Maximum declared media size in bytes.";
    "SB_HISTORY_MAX_MESSAGES" = "10000" [1, 10_000_000] : "Messages kept per chat.";
    "SB_HISTORY_MAX_AGE_SECS" = "2592000" [1, 10 * 365 * 86400] : "Messages older than this are trimmed (default 30 days).";
    "SB_CLIENT_ID_TTL_SECS" = "86400" [1, 30 * 86400] : "How long a clientId is remembered for idempotent retries.";
    "SB_HISTORY_PAGE_MAX" = "100" [1, 10_000] : "Maximum limit of chat:history.";
    "SB_SYNC_MAX_MESSAGES" = "500" [1, 100_000] : "Maximum messages per chat in one chat:sync answer.";
    "SB_TYPING_TIMEOUT_MS" = "5000" [100, 600_000] : "The server sends message:stop-typing after this long without renewal.";
    "SB_CHANNELS" = "public:* any server; role:admin:* role=admin role=admin" : "Topic channel rules: `PREFIX* WHO_SUBSCRIBES WHO_PUBLISHES; ...`, WHO = any | role=NAME | server | none.";
    "SB_NOTIFICATIONS_MAX" = "200" [1, 100_000] : "Notifications kept per user (the oldest are dropped).";
    "SB_NOTIFICATIONS_TTL_SECS" = "604800" [1, 365 * 86400] : "Notifications older than this are forgotten (default 7 days).";
    "SB_PRESENCE_GRACE_MS" = "5000" [0, 600_000] : "After a user's last disconnect, wait this long before announcing offline (a reconnect within it announces nothing).";
    "SB_PRESENCE_SWEEP_MS" = "1000" [50, 60_000] : "How often each node announces due offline changes and reaps the connections of dead nodes.";
    "SB_PRESENCE_OPEN" = "false" : "true: any user may watch any user's presence. false: only users sharing a chat.";
    "SB_PRESENCE_MAX_SUBSCRIPTIONS" = "1000" [1, 100_000] : "Users one connection may watch with presence:subscribe.";
    "SB_CALL_RING_SECS" = "45" [1, 600] : "An unanswered call ends with reason timeout after this long.";
    "SB_CALL_MAX_SECS" = "14400" [60, 7 * 86400] : "Longest call; its state is dropped after this long (default 4 h).";
    "SB_CALL_HISTORY_MAX" = "100" [1, 10_000] : "Calls kept in each user's call history.";
    "SB_API_KEY" = "" : "Integration key for /api/v1/* (Authorization: Bearer). Unset: the API refuses every request.";
    "SB_ADMIN_KEY" = "" : "Admin key for /admin/* (Authorization: Bearer). Unset: the admin API refuses every request.";
    "SB_ADMIN_UI" = "true" : "Serve the admin console at /admin/ui/ (only when SB_ADMIN_KEY is set; the page asks for the key). false: not served.";
    "SB_API_MAX_BODY_BYTES" = "262144" [1024, 64 * 1024 * 1024] : "Largest HTTP API request body.";
    "SB_INBOX_MAX" = "100" [1, 100_000] : "Events queued per offline user (POST /api/v1/users/{id}/events with persist); the oldest are dropped.";
    "SB_INBOX_TTL_SECS" = "86400" [1, 30 * 86400] : "Queued events older than this are dropped.";
    "SB_WEBHOOK_URL" = "" : "Automation backend URL (n8n webhook node, ...). Unset: no webhooks.";
    "SB_WEBHOOK_SECRET" = "" : "HMAC secret of X-Switchboard-Signature, outbound and inbound (at least 16 characters; required with SB_WEBHOOK_URL).";
    "SB_WEBHOOK_EVENTS" = "" : "Extra event kinds sent besides bot messages, comma-separated: message:new (every message), presence:update, notification:new, call:incoming, call:missed (the last three with userId and online, for push relays), chat:completed (a bot session's result).";
    "SB_WEBHOOK_FORMAT" = "switchboard" : "switchboard | evolution (Evolution API messages.upsert, for WhatsApp-style n8n flows).";
    "SB_WEBHOOK_TIMEOUT_MS" = "10000" [100, 300_000] : "Timeout of one delivery attempt.";
    "SB_WEBHOOK_MAX_ATTEMPTS" = "6" [1, 30] : "Attempts before a delivery is dead-lettered.";
    "SB_WEBHOOK_BACKOFF_MS" = "1000" [10, 3_600_000] : "Delay before the first retry; doubled after each failure.";
    "SB_WEBHOOK_CONCURRENCY" = "16" [1, 1024] : "Deliveries in flight at once, per node.";
    "SB_WEBHOOK_TOLERANCE_SECS" = "300" [1, 86400] : "Inbound replies: the signature timestamp may differ from now by at most this.";
    "SB_WEBHOOK_REPLY_WINDOW_SECS" = "3600" [1, 7 * 86400] : "How long a delivery's correlation id can be answered (inbound replies); its records expire then.";
    "SB_BOT_FALLBACK_TEXT" = "" : "Posted into the chat as a bot message when a bot request cannot be answered (after bot:error). Unset: nothing is posted.";
"SB_WEBHOOK_MAX_QUEUE" = "100000" [0, 100_000_000] : "Most deliveries waiting or in flight, cluster-wide. Past it a new bot request is not queued: the chat gets bot:error (retryable) and SB_BOT_FALLBACK_TEXT at once; other events are dropped and counted (outcome=shed). 0: unbounded.";
    "SB_WEBHOOK_POLL_MS" = "250" [10, 3_600_000] : "How often the delivery worker looks for due retries when nothing wakes it (a new delivery or a finished one does).";
    "SB_BOTS" = "" : "Bot user ids bot:start may open sessions with (PROTOCOL §13), comma-separated; the bots of SB_BOT_TOPICS and SB_GUEST_BOTS count too.";
    "SB_BOT_TOPICS" = "" : "Topics per bot: `BOT=TOPIC|TOPIC; ...`. A bot listed here refuses other topics (NOT_FOUND); any other known bot takes any topic or none.";
    "SB_GUEST_SESSIONS" = "false" : "Guests for website chat widgets (PROTOCOL §14): POST /api/v1/guest-sessions mints guest tokens, and guest tokens may connect. false: both refused.";
    "SB_GUEST_SECRET" = "" : "HS256 secret of guest tokens: at least 32 bytes, never SB_JWT_SECRET. Required with SB_GUEST_SESSIONS=true.";
    "SB_GUEST_TOKEN_TTL_SECS" = "86400" [60, 30 * 86400] : "Lifetime of a guest token.";
    "SB_GUEST_BOTS" = "" : "Bots guests may start sessions with, comma-separated. Empty: guests can start none.";
    "SB_CACHE_RULES" = "" : "Cacheable bot requests: `PATTERN global|user [day]; ...`, PATTERN matched against the trimmed, lower-cased message (trailing * = prefix).";
    "SB_CACHE_MAX_ENTRIES" = "2000" [1, 10_000_000] : "Reply-cache entries kept at most; beyond, the least recently used are evicted.";
    "SB_CACHE_TTL_SECS" = "300" [1, 30 * 86400] : "A cached reply is fresh this long.";
    "SB_CACHE_STALE_SECS" = "3600" [0, 30 * 86400] : "After that, served stale (and refreshed once in the background) this long.";
    "SB_TRUSTED_PROXIES" = "" : "Comma-separated IPs or CIDRs of reverse proxies whose X-Forwarded-For is believed (client IP for limits).";
    "SB_MAX_CONNECTIONS_PER_USER" = "20" [1, 100_000] : "Live connections one user may hold across the cluster; more are refused with RATE_LIMITED.";
    "SB_MAX_CHATS_PER_SOCKET" = "1000" [1, 1_000_000] : "Chats one connection may receive live events of (auto-join, chat:join, chat:join-multiple).";
    "SB_ALLOWED_ORIGINS" = "" : "Comma-separated browser origins allowed (Socket.IO and CORS of the HTTP API), e.g. https://app.example.com (CORS with credentials). Unset: any origin; in development CORS `*` (without credentials), in production no CORS headers and a warning at start.";
    "SB_TOKEN_EXPIRY_WARNING_SECS" = "60" [1, 86400] : "auth:expiring is sent this long before the token's exp; at exp the connection is closed.";
}

/// Every configuration variable, with its default and help: the table above
/// with the rate-limit rows inserted after `SB_CACHE_STALE_SECS`.
pub static VARS: LazyLock<Vec<Var>> = LazyLock::new(|| {
    let split = BASE
        .iter()
        .position(|v| v.env == "SB_TRUSTED_PROXIES")
        .unwrap_or(BASE.len());
    let rates = super::limits::TABLE.iter().map(|row| Var {
        env: row.env,
        default: row.default,
        bounds: None,
        help: row.help,
    });
    BASE[..split]
        .iter()
        .copied()
        .chain(rates)
        .chain(BASE[split..].iter().copied())
        .collect()
});

/// The declaration of a variable; every reader goes through it.
pub fn var(env: &str) -> &'static Var {
    VARS.iter()
        .find(|v| v.env == env)
        .unwrap_or_else(|| panic!("{env} is not declared in VARS"))
}
