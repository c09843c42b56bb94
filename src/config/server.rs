//! The node itself: listening, Engine.IO, logs, Redis, and JWT keys.

use std::net::IpAddr;
use std::time::Duration;

use super::reader::Reader;

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
    /// A second listener for `/metrics`, `/health` and `/ready`.
    pub internal_port: Option<u16>,
    /// `/metrics` on the public port as well.
    pub metrics_public: bool,
    pub node_id: String,
    pub shutdown_timeout: Duration,
    /// Draining: keep serving this long after `/ready` turns 503.
    pub drain_delay: Duration,
    /// Draining: close connections in batches over this long.
    pub drain_spread: Duration,
    pub max_payload: u64,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// No client event for this long: `session:idle`, then disconnect.
    /// Zero: off.
    pub idle_timeout: Duration,
    pub socket_buffer: usize,
    pub ws_read_buffer: usize,
}

#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    pub log: String,
    pub json: bool,
    /// How user ids appear on trace spans.
    pub trace_user_ids: TraceUserIds,
}

/// How user ids appear on trace spans (`SB_TRACE_USER_IDS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TraceUserIds {
    /// Not at all.
    Off,
    /// A SHA-256 prefix: the same user correlates, the id is not readable.
    #[default]
    Hash,
    /// As they are.
    Plain,
}

#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub url: Option<String>,
    pub prefix: String,
    pub command_timeout: Duration,
    pub adapter_request_timeout: Duration,
    pub adapter_buffer: usize,
    /// fred's broadcast buffer on the subscriber connection.
    pub pubsub_buffer: usize,
    pub heartbeat_interval: Duration,
    pub node_ttl: Duration,
    pub tls: RedisTls,
    /// Replicas that must confirm a stored message before its ack (`WAIT`).
    pub wait_replicas: u32,
}

/// TLS files for `rediss://` URLs (all optional: the system roots and no
/// client certificate by default).
#[derive(Debug, Clone, Default)]
pub struct RedisTls {
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
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

pub(super) fn read_server(r: &mut Reader) -> ServerConfig {
    let mode = match r.string("SB_ENV").as_str() {
        "development" | "dev" => Mode::Development,
        "production" | "prod" => Mode::Production,
        other => {
            r.error(format!(
                "SB_ENV={other:?} is not valid: expected development or production"
            ));
            Mode::Development
        }
    };
    let host: IpAddr = r.parse::<IpAddrOrDefault>("SB_HOST", "an IP address").0;
    let port = r.ranged("SB_PORT") as u16;
    let internal_port = r
        .opt("SB_INTERNAL_PORT")
        .and_then(|p| match p.parse::<u16>() {
            Ok(p) if p != port || p == 0 => Some(p),
            Ok(_) => {
                r.error("SB_INTERNAL_PORT must differ from SB_PORT");
                None
            }
            Err(_) => {
                r.error(format!("SB_INTERNAL_PORT={p:?} is not a port (0-65535)"));
                None
            }
        });
    let metrics_public = r.parse::<bool>("SB_METRICS_PUBLIC", "true or false");
    let node_id = r.opt("SB_NODE_ID").unwrap_or_else(default_node_id);
    if node_id.len() > 128 || node_id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        r.error("SB_NODE_ID must be at most 128 characters without spaces");
    }
    ServerConfig {
        mode,
        host,
        port,
        internal_port,
        metrics_public,
        node_id,
        shutdown_timeout: r.secs("SB_SHUTDOWN_TIMEOUT_SECS"),
        drain_delay: r.secs("SB_DRAIN_DELAY_SECS"),
        drain_spread: r.secs("SB_DRAIN_SPREAD_SECS"),
        max_payload: r.ranged("SB_MAX_PAYLOAD_BYTES"),
        ping_interval: r.ms("SB_PING_INTERVAL_MS"),
        ping_timeout: r.ms("SB_PING_TIMEOUT_MS"),
        idle_timeout: r.secs("SB_IDLE_TIMEOUT_SECS"),
        socket_buffer: r.ranged("SB_SOCKET_BUFFER") as usize,
        ws_read_buffer: r.ranged("SB_WS_READ_BUFFER") as usize,
    }
}

pub(super) fn read_telemetry(r: &mut Reader, mode: Mode) -> TelemetryConfig {
    let log_format = r.string("SB_LOG_FORMAT");
    let json = match log_format.as_str() {
        "json" => true,
        "text" => false,
        "auto" => mode == Mode::Production,
        _ => {
            r.error(format!(
                "SB_LOG_FORMAT={log_format:?} is not valid: expected auto, text or json"
            ));
            false
        }
    };
    let trace_user_ids = match r.string("SB_TRACE_USER_IDS").as_str() {
        "off" => TraceUserIds::Off,
        "hash" => TraceUserIds::Hash,
        "plain" => TraceUserIds::Plain,
        other => {
            r.error(format!(
                "SB_TRACE_USER_IDS={other:?} is not valid: expected off, hash or plain"
            ));
            TraceUserIds::Hash
        }
    };
    TelemetryConfig {
        log: r.string("SB_LOG"),
        json,
        trace_user_ids,
    }
}

pub(super) fn read_redis(r: &mut Reader) -> RedisConfig {
    let url = r.opt("SB_REDIS_URL");
    if let Some(url) = &url {
        let schemes = [
            "redis://",
            "rediss://",
            "redis-cluster://",
            "rediss-cluster://",
            "redis-sentinel://",
            "rediss-sentinel://",
        ];
        if !schemes.iter().any(|s| url.starts_with(s)) {
            r.error(
                "SB_REDIS_URL must start with redis://, rediss:// (TLS), redis-cluster:// \
                 (host:port?node=host2:port2&node=...) or redis-sentinel:// \
                 (host:port?sentinelServiceName=NAME&node=host2:port2)",
            );
        } else if url.contains("-sentinel://") && !url.contains("sentinelServiceName=") {
            r.error("SB_REDIS_URL: a redis-sentinel:// URL needs ?sentinelServiceName=NAME");
        }
    }
    let redis = RedisConfig {
        url,
        prefix: r.string("SB_REDIS_PREFIX"),
        command_timeout: r.ms("SB_REDIS_TIMEOUT_MS"),
        adapter_request_timeout: r.ms("SB_ADAPTER_REQUEST_TIMEOUT_MS"),
        adapter_buffer: r.ranged("SB_ADAPTER_BUFFER") as usize,
        pubsub_buffer: r.ranged("SB_REDIS_PUBSUB_BUFFER") as usize,
        heartbeat_interval: r.secs("SB_NODE_HEARTBEAT_SECS"),
        node_ttl: r.secs("SB_NODE_TTL_SECS"),
        tls: RedisTls {
            ca_file: r.opt("SB_REDIS_TLS_CA_FILE"),
            cert_file: r.opt("SB_REDIS_TLS_CERT_FILE"),
            key_file: r.opt("SB_REDIS_TLS_KEY_FILE"),
        },
        wait_replicas: r.ranged("SB_REDIS_WAIT_REPLICAS") as u32,
    };
    let tls = &redis.tls;
    if tls.cert_file.is_some() != tls.key_file.is_some() {
        r.error("SB_REDIS_TLS_CERT_FILE and SB_REDIS_TLS_KEY_FILE go together");
    }
    let uses_tls = redis
        .url
        .as_deref()
        .is_some_and(|u| u.starts_with("rediss"));
    if (tls.ca_file.is_some() || tls.cert_file.is_some()) && !uses_tls {
        r.error("SB_REDIS_TLS_* files are set but SB_REDIS_URL is not rediss:// (TLS)");
    }
    for (env, file) in [
        ("SB_REDIS_TLS_CA_FILE", &tls.ca_file),
        ("SB_REDIS_TLS_CERT_FILE", &tls.cert_file),
        ("SB_REDIS_TLS_KEY_FILE", &tls.key_file),
    ] {
        if let Some(f) = file {
            if let Err(e) = std::fs::metadata(f) {
                r.error(format!("{env}: cannot read {f}: {e}"));
            }
        }
    }
    if redis.node_ttl <= redis.heartbeat_interval {
        r.error("SB_NODE_TTL_SECS must be greater than SB_NODE_HEARTBEAT_SECS");
    }
    redis
}

pub(super) fn read_auth(r: &mut Reader, mode: Mode) -> AuthConfig {
    let public_key_pem = match r.opt("SB_JWT_PUBLIC_KEY") {
        Some(v) if v.contains("-----BEGIN") => Some(v.replace("\\n", "\n")),
        Some(path) => match std::fs::read_to_string(&path) {
            Ok(pem) => Some(pem),
            Err(e) => {
                r.error(format!(
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
            r.error("SB_JWT_JWKS_URL must be an http(s) URL");
        }
    }
    let secret = r.opt("SB_JWT_SECRET");
    if mode == Mode::Production {
        if secret.is_none() && public_key_pem.is_none() && jwks_url.is_none() {
            r.error("SB_ENV=production needs SB_JWT_SECRET, SB_JWT_PUBLIC_KEY or SB_JWT_JWKS_URL");
        }
        if secret.as_ref().is_some_and(|s| s.len() < 32) {
            r.error("SB_JWT_SECRET must be at least 32 bytes in production");
        }
    }
    AuthConfig {
        secret,
        public_key_pem,
        jwks_url,
        audience: r.list("SB_JWT_AUDIENCE"),
        issuer: r.opt("SB_JWT_ISSUER"),
        leeway_secs: r.ranged("SB_JWT_LEEWAY_SECS"),
        jwks_refresh: r.secs("SB_JWKS_REFRESH_SECS"),
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
