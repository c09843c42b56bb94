//! Prometheus metrics: one vocabulary, `switchboard_*`, declared once in
//! [`FAMILIES`] (name, type, labels, help). `/metrics` renders every family
//! with `# HELP` and `# TYPE` from the first second of the process: the
//! recorder is installed and every family registered with zero values
//! before the node reaches Redis, and the route does not need Redis.
//!
//! Conventions (Prometheus and OpenMetrics): base units in names (`_seconds`,
//! `_bytes`), counters end in `_total`, and no family name is another's plus
//! a suffix (`_total`, `_bucket`, `_sum`, `_count`, `_info`), so OpenMetrics
//! parsers accept the page. `docs/operations.md` lists the same families (a
//! test keeps them in step); `process_*` come from `metrics-process`.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::error::ErrorCode;

/// The type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric family: what `/metrics` shows and `docs/operations.md` lists.
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

macro_rules! families {
    ($($konst:ident = $name:literal, $kind:ident, [$($label:literal),*], $help:literal;)*) => {
        $(pub const $konst: &str = $name;)*
        /// Every `switchboard_*` family.
        pub const FAMILIES: &[Family] = &[
            $(Family { name: $name, kind: Kind::$kind, labels: &[$($label),*], help: $help },)*
        ];
    };
}

families! {
    BUILD_INFO = "switchboard_build_info", Gauge, ["version", "commit"],
        "Always 1; the labels name the running build.";
    CONNECTIONS = "switchboard_connections", Gauge, [],
        "Socket.IO connections open on this node.";
    CONNECTS = "switchboard_connects_total", Counter, [],
        "Socket.IO connections accepted by this node.";
    DISCONNECTS = "switchboard_disconnects_total", Counter, ["reason"],
        "Socket.IO connections closed, by reason (client, transport, token_expired, server, ...).";
    HANDSHAKES = "switchboard_handshakes_total", Counter, ["result"],
        "Socket.IO handshakes, by result: ok or the refusal code (AUTH_INVALID, RATE_LIMITED, ...).";
    EVENTS = "switchboard_events_total", Counter, ["event", "result"],
        "Client events handled, by event name (unknown names are `unknown`) and result (OK or an error code).";
    EVENT_DURATION = "switchboard_event_duration_seconds", Histogram, ["event"],
        "Time from taking a client event off the connection's queue to its ack.";
    MESSAGES_STORED = "switchboard_messages_stored_total", Counter, [],
        "Chat messages appended to a chat's history.";
    FANOUT_PUBLISHES = "switchboard_fanout_publishes_total", Counter, [],
        "Broadcasts this node sent (to its own sockets and, on Redis, to the other nodes).";
    FANOUT_RECEIVED = "switchboard_fanout_received_total", Counter, [],
        "Cross-node messages this node received from Redis pub/sub.";
    FANOUT_BYTES = "switchboard_fanout_bytes_total", Counter, ["direction"],
        "Bytes of cross-node messages through Redis pub/sub, by direction (out, in).";
    REDIS_SCRIPT_DURATION = "switchboard_redis_script_duration_seconds", Histogram, [],
        "One store operation run as a Redis Lua script (append a message, register a connection, ...), sent to answered.";
    REDIS_ERRORS = "switchboard_redis_errors_total", Counter, ["kind"],
        "Redis command failures, by kind: unavailable (connection, timeout) or internal.";
    PUBSUB_RESUBSCRIBED = "switchboard_pubsub_resubscribed_total", Counter, [],
        "Times this node's Redis pub/sub connection dropped and its subscriptions were restored (its clients were sent sync:needed).";
    BOT_ERRORS = "switchboard_bot_errors_total", Counter, ["retryable"],
        "Bot requests that will not be answered (bot:error BOT_UNAVAILABLE sent to the chat): retryable (attempts exhausted) or not (the backend refused with a 4xx).";
    REPLY_CACHE_EVICTIONS = "switchboard_reply_cache_evictions_total", Counter, [],
        "Reply-cache entries evicted, least recently used first, to stay within SB_CACHE_MAX_ENTRIES.";
    IDLE_DISCONNECTS = "switchboard_idle_disconnects_total", Counter, [],
        "Connections closed by the idle timeout (SB_IDLE_TIMEOUT_SECS) after session:idle.";
    PUBSUB_DROPPED = "switchboard_pubsub_dropped_total", Counter, ["reason"],
        "Cross-node messages this node received but could not deliver: lagged (the pub/sub connection's buffer, SB_REDIS_PUBSUB_BUFFER, overflowed) or full (a channel's stream, SB_ADAPTER_BUFFER, was full). Its clients were sent sync:needed.";
    REDIS_WAITS = "switchboard_redis_waits_total", Counter, ["result"],
        "SB_REDIS_WAIT_REPLICAS: stored messages whose replicas confirmed them (confirmed) or did not in time (unconfirmed: the ack was UNAVAILABLE).";
    RATE_LIMIT = "switchboard_rate_limit_total", Counter, ["action", "result"],
        "Rate-limit decisions other than allowed: limited, fail_open, fail_closed.";
    WEBHOOKS = "switchboard_webhooks_total", Counter, ["outcome"],
        "Webhook deliveries by outcome: queued, delivered, retried, dead, replayed (a dead letter queued again by an admin), shed (not queued: SB_WEBHOOK_MAX_QUEUE reached).";
    WEBHOOK_DURATION = "switchboard_webhook_duration_seconds", Histogram, [],
        "One webhook delivery attempt, request to response (buckets up to the longest timeout).";
    WEBHOOK_QUEUE = "switchboard_webhook_queue_depth", Gauge, ["state"],
        "Webhook deliveries in the shared queue, by state (ready, in_flight, dead), as last read by this node.";
    WEBHOOK_OLDEST = "switchboard_webhook_queue_oldest_wait_seconds", Gauge, [],
        "How long the longest-waiting due delivery of the shared queue has been due (0: none waits), as last read by this node: the queue's lag.";
    REPLY_CACHE = "switchboard_reply_cache_total", Counter, ["result"],
        "Reply-cache look-ups on this node: hits, misses, stale.";
    PRESENCE_UPDATES = "switchboard_presence_updates_total", Counter, ["status"],
        "Presence changes announced, by the status shown.";
    NODES_REAPED = "switchboard_nodes_reaped_total", Counter, [],
        "Dead nodes whose connections this node removed from the registry.";
    CALLS = "switchboard_calls_total", Counter, ["media"],
        "Calls started.";
    CALLS_ANSWERED = "switchboard_calls_answered_total", Counter, [],
        "Calls answered (ringing → active); active now = answered − ended after an answer.";
    CALLS_ENDED = "switchboard_calls_ended_total", Counter, ["reason"],
        "Calls ended, by reason (hangup, declined, timeout, ...).";
    REPLY_CACHE_ENTRIES = "switchboard_reply_cache_entries", Gauge, [],
        "Reply-cache entries in the store (cluster-wide, as last read by this node; 0 without SB_CACHE_RULES).";
    REPLY_CACHE_IN_FLIGHT = "switchboard_reply_cache_in_flight", Gauge, [],
        "Cacheable requests with the automation now that identical requests wait for (cluster-wide, as last read by this node).";
    HTTP_REQUESTS = "switchboard_http_requests_total", Counter, ["method", "route", "status"],
        "HTTP requests answered (API, admin and node routes; not Socket.IO), by route template.";
    HTTP_DURATION = "switchboard_http_request_duration_seconds", Histogram, ["method", "route"],
        "HTTP request handling time, by route template.";
}

const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Webhook attempts: up to `SB_WEBHOOK_TIMEOUT_MS`'s upper bound (300 s).
const WEBHOOK_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

struct Exporter {
    handle: PrometheusHandle,
    process: metrics_process::Collector,
}

static EXPORTER: OnceLock<Exporter> = OnceLock::new();

fn exporter() -> &'static Exporter {
    EXPORTER.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(EVENT_DURATION.into()), LATENCY_BUCKETS)
            .expect("valid buckets")
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), LATENCY_BUCKETS)
            .expect("valid buckets")
            .set_buckets_for_metric(Matcher::Full(REDIS_SCRIPT_DURATION.into()), LATENCY_BUCKETS)
            .expect("valid buckets")
            .set_buckets_for_metric(Matcher::Full(WEBHOOK_DURATION.into()), WEBHOOK_BUCKETS)
            .expect("valid buckets")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (embedding): ours then
        // still renders, it just sees nothing.
        let _ = metrics::set_global_recorder(recorder);
        let process = metrics_process::Collector::default();
        process.describe();
        describe_and_zero();
        Exporter { handle, process }
    })
}

/// Installs the recorder and registers every family (idempotent). Called at
/// start-up, before the node tries to reach Redis.
pub fn init() {
    exporter();
}

/// The `/metrics` page (Prometheus text format 0.0.4).
pub fn render() -> String {
    let e = exporter();
    e.process.collect();
    e.handle.render()
}

/// `# HELP` for every family, and a zero series for each, so that a fresh
/// node already shows the whole vocabulary.
fn describe_and_zero() {
    for f in FAMILIES {
        match f.kind {
            Kind::Counter => metrics::describe_counter!(f.name, f.help),
            Kind::Gauge => metrics::describe_gauge!(f.name, f.help),
            Kind::Histogram => metrics::describe_histogram!(f.name, f.help),
        }
    }
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION"), "commit" => commit())
        .set(1.0);
    metrics::gauge!(CONNECTIONS).set(0.0);
    metrics::counter!(CONNECTS).absolute(0);
    metrics::counter!(DISCONNECTS, "reason" => "client").absolute(0);
    metrics::counter!(HANDSHAKES, "result" => "ok").absolute(0);
    metrics::counter!(EVENTS, "event" => "message:new", "result" => "OK").absolute(0);
    metrics::counter!(MESSAGES_STORED).absolute(0);
    metrics::counter!(FANOUT_PUBLISHES).absolute(0);
    metrics::counter!(FANOUT_RECEIVED).absolute(0);
    for d in ["out", "in"] {
        metrics::counter!(FANOUT_BYTES, "direction" => d).absolute(0);
    }
    for k in ["unavailable", "internal"] {
        metrics::counter!(REDIS_ERRORS, "kind" => k).absolute(0);
    }
    metrics::counter!(PUBSUB_RESUBSCRIBED).absolute(0);
    for r in ["lagged", "full"] {
        metrics::counter!(PUBSUB_DROPPED, "reason" => r).absolute(0);
    }
    metrics::counter!(IDLE_DISCONNECTS).absolute(0);
    metrics::counter!(REPLY_CACHE_EVICTIONS).absolute(0);
    for r in ["true", "false"] {
        metrics::counter!(BOT_ERRORS, "retryable" => r).absolute(0);
    }
    for r in ["confirmed", "unconfirmed"] {
        metrics::counter!(REDIS_WAITS, "result" => r).absolute(0);
    }
    metrics::counter!(RATE_LIMIT, "action" => "message", "result" => "limited").absolute(0);
    for o in ["queued", "delivered", "retried", "dead", "replayed", "shed"] {
        metrics::counter!(WEBHOOKS, "outcome" => o).absolute(0);
    }
    for s in ["ready", "in_flight", "dead"] {
        metrics::gauge!(WEBHOOK_QUEUE, "state" => s).set(0.0);
    }
    metrics::gauge!(WEBHOOK_OLDEST).set(0.0);
    for r in ["hits", "misses", "stale"] {
        metrics::counter!(REPLY_CACHE, "result" => r).absolute(0);
    }
    metrics::counter!(PRESENCE_UPDATES, "status" => "online").absolute(0);
    metrics::counter!(NODES_REAPED).absolute(0);
    metrics::counter!(CALLS, "media" => "audio").absolute(0);
    metrics::counter!(CALLS_ANSWERED).absolute(0);
    metrics::counter!(CALLS_ENDED, "reason" => "hangup").absolute(0);
    metrics::gauge!(REPLY_CACHE_ENTRIES).set(0.0);
    metrics::gauge!(REPLY_CACHE_IN_FLIGHT).set(0.0);
    metrics::counter!(HTTP_REQUESTS, "method" => "GET", "route" => "/health", "status" => "200")
        .absolute(0);
    // Histograms render once they hold a sample; a zero-length observation
    // of a route that exists gives their `# TYPE` line from the start.
    metrics::histogram!(HTTP_DURATION, "method" => "GET", "route" => "/health").record(0.0);
    metrics::histogram!(EVENT_DURATION, "event" => "message:new").record(0.0);
    metrics::histogram!(WEBHOOK_DURATION).record(0.0);
    metrics::histogram!(REDIS_SCRIPT_DURATION).record(0.0);
}

/// The git commit the binary was built from (`SWITCHBOARD_COMMIT` at build
/// time, set by `build.rs` or the image build), or `unknown`.
pub fn commit() -> &'static str {
    option_env!("SWITCHBOARD_COMMIT").unwrap_or("unknown")
}

pub fn connection_opened() {
    metrics::gauge!(CONNECTIONS).increment(1.0);
    metrics::counter!(CONNECTS).increment(1);
}

pub fn connection_closed() {
    metrics::gauge!(CONNECTIONS).decrement(1.0);
}

/// One handshake: `ok`, or the refusal code.
pub fn handshake(result: &'static str) {
    metrics::counter!(HANDSHAKES, "result" => result).increment(1);
}

/// One client event: its label, result and handling time.
pub fn event(label: &'static str, code: Option<ErrorCode>, took: Duration) {
    if code.is_some() {
        super::totals::ERRORS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let result = code.map_or("OK", ErrorCode::as_str);
    metrics::counter!(EVENTS, "event" => label, "result" => result).increment(1);
    metrics::histogram!(EVENT_DURATION, "event" => label).record(took.as_secs_f64());
}

/// One client event refused before it was handled (queue full, closing).
pub fn event_refused(label: &'static str, code: ErrorCode) {
    metrics::counter!(EVENTS, "event" => label, "result" => code.as_str()).increment(1);
}

pub fn message_stored() {
    super::totals::MESSAGES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    metrics::counter!(MESSAGES_STORED).increment(1);
}

pub fn fanout_published() {
    super::totals::PUBLISHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    metrics::counter!(FANOUT_PUBLISHES).increment(1);
}

/// A message published to the other nodes (`bytes` on the wire).
pub fn fanout_sent_bytes(bytes: usize) {
    metrics::counter!(FANOUT_BYTES, "direction" => "out").increment(bytes as u64);
}

/// A message received from another node.
pub fn fanout_received(bytes: usize) {
    metrics::counter!(FANOUT_RECEIVED).increment(1);
    metrics::counter!(FANOUT_BYTES, "direction" => "in").increment(bytes as u64);
}

/// One Lua script (an atomic store operation) and how long it took.
pub fn redis_script(took: Duration) {
    metrics::histogram!(REDIS_SCRIPT_DURATION).record(took.as_secs_f64());
}

pub fn pubsub_resubscribed() {
    metrics::counter!(PUBSUB_RESUBSCRIBED).increment(1);
}

pub fn bot_error(retryable: bool) {
    let label = if retryable { "true" } else { "false" };
    metrics::counter!(BOT_ERRORS, "retryable" => label).increment(1);
}

pub fn reply_cache_evicted(n: u64) {
    metrics::counter!(REPLY_CACHE_EVICTIONS).increment(n);
}

pub fn idle_disconnect() {
    metrics::counter!(IDLE_DISCONNECTS).increment(1);
}

pub fn pubsub_dropped(reason: &'static str, n: u64) {
    metrics::counter!(PUBSUB_DROPPED, "reason" => reason).increment(n);
}

pub fn redis_wait(confirmed: bool) {
    let result = if confirmed {
        "confirmed"
    } else {
        "unconfirmed"
    };
    metrics::counter!(REDIS_WAITS, "result" => result).increment(1);
}

pub fn redis_error(kind: &'static str) {
    metrics::counter!(REDIS_ERRORS, "kind" => kind).increment(1);
}

pub fn presence_announced(status: crate::presence::Shown) {
    let label = match status {
        crate::presence::Shown::Online => "online",
        crate::presence::Shown::Away => "away",
        crate::presence::Shown::Busy => "busy",
        crate::presence::Shown::Offline => "offline",
    };
    metrics::counter!(PRESENCE_UPDATES, "status" => label).increment(1);
}

pub fn node_reaped() {
    metrics::counter!(NODES_REAPED).increment(1);
}

pub fn call_started(media: &'static str) {
    metrics::counter!(CALLS, "media" => media).increment(1);
}

pub fn call_answered() {
    metrics::counter!(CALLS_ANSWERED).increment(1);
}

/// Reply-cache entries and requests in flight, as just read from the store.
pub fn cache_entries(n: u64, in_flight: u64) {
    metrics::gauge!(REPLY_CACHE_ENTRIES).set(n as f64);
    metrics::gauge!(REPLY_CACHE_IN_FLIGHT).set(in_flight as f64);
}

pub fn call_ended(reason: &'static str) {
    metrics::counter!(CALLS_ENDED, "reason" => reason).increment(1);
}

pub fn webhook(outcome: &'static str) {
    metrics::counter!(WEBHOOKS, "outcome" => outcome).increment(1);
}

pub fn webhook_latency(took: Duration) {
    metrics::histogram!(WEBHOOK_DURATION).record(took.as_secs_f64());
}

/// The shared webhook queue's depths and lag, as just read from the store.
pub fn webhook_queue(ready: u64, in_flight: u64, dead: u64, oldest_wait: Duration) {
    metrics::gauge!(WEBHOOK_OLDEST).set(oldest_wait.as_secs_f64());
    metrics::gauge!(WEBHOOK_QUEUE, "state" => "ready").set(ready as f64);
    metrics::gauge!(WEBHOOK_QUEUE, "state" => "in_flight").set(in_flight as f64);
    metrics::gauge!(WEBHOOK_QUEUE, "state" => "dead").set(dead as f64);
}

pub fn cache(result: &'static str) {
    metrics::counter!(REPLY_CACHE, "result" => result).increment(1);
}

pub fn rate_limit(action: &'static str, result: &'static str) {
    metrics::counter!(RATE_LIMIT, "action" => action, "result" => result).increment(1);
}

pub fn disconnect(reason: &'static str) {
    metrics::counter!(DISCONNECTS, "reason" => reason).increment(1);
}

/// One HTTP request: `route` is the matched route template (bounded), or
/// `unmatched`.
pub fn http_request(method: &str, route: &str, status: u16, took: Duration) {
    let (method, route) = (method.to_string(), route.to_string());
    metrics::counter!(HTTP_REQUESTS, "method" => method.clone(), "route" => route.clone(),
        "status" => status.to_string())
    .increment(1);
    metrics::histogram!(HTTP_DURATION, "method" => method, "route" => route)
        .record(took.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `switchboard_*` names in a text, with histogram and counter sample
    /// suffixes taken back to their family's name.
    fn names_in(text: &str) -> std::collections::BTreeSet<String> {
        let mut out = std::collections::BTreeSet::new();
        let mut rest = text;
        while let Some(i) = rest.find("switchboard_") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            let mut name = tail[..end].to_string();
            for suffix in ["_bucket", "_sum", "_count"] {
                if let Some(base) = name.strip_suffix(suffix) {
                    if FAMILIES.iter().any(|f| f.name == base) {
                        name = base.to_string();
                    }
                }
            }
            out.insert(name);
            rest = &tail[end..];
        }
        out
    }

    #[test]
    fn the_operations_doc_lists_exactly_these_families() {
        let doc = include_str!("../../docs/operations.md");
        let table: std::collections::BTreeSet<String> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("| `switchboard_"))
            .map(|l| format!("switchboard_{}", &l[..l.find('`').unwrap()]))
            .collect();
        let code: std::collections::BTreeSet<String> =
            FAMILIES.iter().map(|f| f.name.to_string()).collect();
        assert_eq!(table, code, "docs/operations.md and FAMILIES differ");
        for f in FAMILIES {
            let row = doc
                .lines()
                .find(|l| l.starts_with(&format!("| `{}`", f.name)))
                .unwrap();
            assert!(row.contains(&format!("| {} |", f.kind.as_str())), "{row}");
            for label in f.labels {
                assert!(row.contains(&format!("`{label}`")), "{row} lacks {label}");
            }
        }
    }

    #[test]
    fn alerts_and_dashboard_use_only_existing_metrics() {
        let code: std::collections::BTreeSet<String> =
            FAMILIES.iter().map(|f| f.name.to_string()).collect();
        for (file, text) in [
            (
                "alerts.yml",
                include_str!("../../deploy/prometheus/alerts.yml"),
            ),
            (
                "switchboard.json",
                include_str!("../../deploy/grafana/switchboard.json"),
            ),
        ] {
            let used = names_in(text);
            assert!(!used.is_empty(), "{file}");
            let unknown: Vec<_> = used.difference(&code).collect();
            assert!(
                unknown.is_empty(),
                "{file} uses unknown metrics {unknown:?}"
            );
        }
    }

    #[test]
    fn names_follow_the_conventions() {
        let mut seen = std::collections::HashSet::new();
        for f in FAMILIES {
            assert!(f.name.starts_with("switchboard_"), "{}", f.name);
            assert!(seen.insert(f.name), "{} twice", f.name);
            assert!(!f.help.is_empty(), "{}", f.name);
            match f.kind {
                Kind::Counter => assert!(f.name.ends_with("_total"), "{}", f.name),
                _ => assert!(!f.name.ends_with("_total"), "{}", f.name),
            }
        }
    }
}
