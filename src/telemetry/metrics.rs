//! Prometheus metrics. Every name is a constant here, with its meaning.
//!
//! | name | type | labels |
//! | --- | --- | --- |
//! | `switchboard_connections` | gauge | — open Socket.IO connections on this node |
//! | `switchboard_connections_total` | counter | — connections accepted |
//! | `switchboard_connect_refused_total` | counter | `code` |
//! | `switchboard_events_received_total` | counter | `event` (unknown names are `unknown`) |
//! | `switchboard_event_duration_seconds` | histogram | `event` — handler latency |
//! | `switchboard_acks_total` | counter | `code` (`OK` or an error code) |
//! | `switchboard_messages_stored_total` | counter | — messages appended to a chat |
//! | `switchboard_http_requests_total` | counter | `path`, `status` |
//! | `switchboard_presence_updates_total` | counter | `status` — presence changes announced |
//! | `switchboard_nodes_reaped_total` | counter | — dead nodes whose connections this node removed |
//! | `switchboard_calls_total` | counter | `media` — calls started |
//! | `switchboard_calls_ended_total` | counter | `reason` — calls ended |
//! | `switchboard_webhooks_total` | counter | `outcome`: `queued`, `delivered`, `retried`, `dead` |
//! | `switchboard_webhook_duration_seconds` | histogram | — one delivery attempt |
//! | `switchboard_reply_cache_total` | counter | `result`: `hits`, `misses`, `stale` (this node) |
//! | `switchboard_rate_limit_total` | counter | `action`, `result`: `limited`, `fail_open`, `fail_closed` |
//! | `switchboard_disconnects_total` | counter | `reason`: `token_expired`, … |

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::error::ErrorCode;

pub const CONNECTIONS: &str = "switchboard_connections";
pub const CONNECTIONS_TOTAL: &str = "switchboard_connections_total";
pub const CONNECT_REFUSED: &str = "switchboard_connect_refused_total";
pub const EVENTS_RECEIVED: &str = "switchboard_events_received_total";
pub const EVENT_DURATION: &str = "switchboard_event_duration_seconds";
pub const ACKS: &str = "switchboard_acks_total";
pub const MESSAGES_STORED: &str = "switchboard_messages_stored_total";
pub const PRESENCE_UPDATES: &str = "switchboard_presence_updates_total";
pub const NODES_REAPED: &str = "switchboard_nodes_reaped_total";
pub const CALLS: &str = "switchboard_calls_total";
pub const CALLS_ENDED: &str = "switchboard_calls_ended_total";
pub const WEBHOOKS: &str = "switchboard_webhooks_total";
pub const WEBHOOK_DURATION: &str = "switchboard_webhook_duration_seconds";
pub const REPLY_CACHE: &str = "switchboard_reply_cache_total";
pub const RATE_LIMIT: &str = "switchboard_rate_limit_total";
pub const DISCONNECTS: &str = "switchboard_disconnects_total";

const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder (once) and returns its handle.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(EVENT_DURATION.into()), LATENCY_BUCKETS)
                .expect("valid buckets")
                .set_buckets_for_metric(Matcher::Full(WEBHOOK_DURATION.into()), LATENCY_BUCKETS)
                .expect("valid buckets")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (embedding, tests):
            // then ours still renders, it just sees nothing.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

pub fn connection_opened() {
    metrics::gauge!(CONNECTIONS).increment(1.0);
    metrics::counter!(CONNECTIONS_TOTAL).increment(1);
}

pub fn connection_closed() {
    metrics::gauge!(CONNECTIONS).decrement(1.0);
}

pub fn connect_refused(code: &'static str) {
    metrics::counter!(CONNECT_REFUSED, "code" => code).increment(1);
}

pub fn event(label: &'static str, took: Duration) {
    metrics::counter!(EVENTS_RECEIVED, "event" => label).increment(1);
    metrics::histogram!(EVENT_DURATION, "event" => label).record(took.as_secs_f64());
}

pub fn ack(code: Option<ErrorCode>) {
    let label = code.map_or("OK", ErrorCode::as_str);
    metrics::counter!(ACKS, "code" => label).increment(1);
}

pub fn message_stored() {
    metrics::counter!(MESSAGES_STORED).increment(1);
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

pub fn call_ended(reason: &'static str) {
    metrics::counter!(CALLS_ENDED, "reason" => reason).increment(1);
}

pub fn webhook(outcome: &'static str) {
    metrics::counter!(WEBHOOKS, "outcome" => outcome).increment(1);
}

pub fn webhook_latency(took: Duration) {
    metrics::histogram!(WEBHOOK_DURATION).record(took.as_secs_f64());
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
