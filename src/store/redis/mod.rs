//! The Redis backend (fred): every storage trait on a shared Redis, so that
//! nodes are stateless.
//!
//! Key conventions, for every file here:
//! - every key starts with the configured prefix (`SB_REDIS_PREFIX`, `sb:`);
//! - keys that one script touches together share a hash tag (`{c:ID}` for a
//!   chat, `{u:ID}` for a user, `{n:ID}` for a node) so Redis Cluster works;
//! - ids inside key names go through [`key_id`]: safe ids stay readable,
//!   any other id (braces, `*`, `:`, spaces, newlines, long strings) is
//!   hex-encoded behind a `~`, so no id can break a hash tag, collide with
//!   another id, or escape its prefix.
//!
//! Every multi-step update is one Lua script (one round trip, atomic).
//! Connections use RESP3, a reconnect policy that retries forever, and a
//! timeout on every command, so that a stalled Redis gives `UNAVAILABLE`
//! instead of a hung request.

mod append;
mod cache;
mod calls;
mod chat;
mod cluster;
mod connect;
mod durable;
mod inbox;
mod messages;
mod notifications;
mod presence;
mod rate_limit;
mod reactions;
mod webhooks;

use std::time::Duration;

use fred::prelude::*;
use fred::types::scripts::Script;

use crate::store::error::StoreError;

pub use connect::{connect, open, subscriber, Subscriber};

/// The Redis implementation of every storage trait.
#[derive(Clone)]
pub struct RedisStore {
    client: Client,
    prefix: String,
    /// Redis's clock minus this node's, in ms, measured at each heartbeat
    /// (the late-write guard of `append` compares deadlines on Redis's
    /// clock).
    clock_offset_ms: std::sync::Arc<std::sync::atomic::AtomicI64>,
    /// `SB_REDIS_WAIT_REPLICAS`: appends run on this pool and `WAIT` for
    /// the replicas before they count as stored.
    durable: Option<durable::Durable>,
}

impl RedisStore {
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        Self {
            client,
            prefix: prefix.into(),
            clock_offset_ms: Default::default(),
            durable: None,
        }
    }

    /// Acknowledge stored messages only once `replicas` replicas confirm
    /// them (`WAIT`), running appends on `pool`.
    fn wait_for_replicas(mut self, pool: fred::clients::Pool, replicas: u32) -> Self {
        self.durable = (replicas > 0).then(|| durable::Durable::new(&pool, replicas));
        self
    }

    /// The Redis-clock time after which a write sent now must not happen:
    /// half the command timeout from now, so that a script that runs late
    /// (Redis stalled, the command queued) does nothing once this node may
    /// have answered `UNAVAILABLE`, and the reply of one that ran in time
    /// has the other half to arrive. 0: no deadline (no timeout set).
    pub(super) fn write_deadline_ms(&self) -> i64 {
        let timeout = self.client.perf_config().default_command_timeout;
        if timeout.is_zero() {
            return 0;
        }
        let offset = self
            .clock_offset_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        crate::time::now_ms() + offset + (timeout.as_millis() / 2) as i64
    }

    /// Records Redis's clock (`redis_ms`) against this node's, read around
    /// the call that returned it.
    pub(super) fn observe_clock(&self, sent_ms: i64, redis_ms: i64, received_ms: i64) {
        let offset = redis_ms - (sent_ms + received_ms) / 2;
        self.clock_offset_ms
            .store(offset, std::sync::atomic::Ordering::Relaxed);
    }

    /// Runs a script by SHA, loading it on `NOSCRIPT`.
    async fn eval<R: FromValue>(
        &self,
        script: &Script,
        keys: Vec<String>,
        args: Vec<Value>,
    ) -> Result<R, StoreError> {
        self.eval_on(&self.client, script, keys, args).await
    }

    /// [`Self::eval`] on a given client.
    async fn eval_on<R: FromValue>(
        &self,
        client: &Client,
        script: &Script,
        keys: Vec<String>,
        args: Vec<Value>,
    ) -> Result<R, StoreError> {
        use tracing::Instrument;
        let started = std::time::Instant::now();
        let result = script
            .evalsha_with_reload(client, keys, args)
            .instrument(crate::telemetry::traces::redis_span("EVALSHA"))
            .await
            .map_err(map_err);
        crate::telemetry::metrics::redis_script(started.elapsed());
        result
    }
}

/// A value as stored JSON.
pub(super) fn json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Internal(e.to_string()))
}

/// Stored JSON values back, skipping any that no longer decode.
pub(super) fn parse_all<T: serde::de::DeserializeOwned>(all: &[String]) -> Vec<T> {
    all.iter()
        .filter_map(|j| serde_json::from_str(j).ok())
        .collect()
}

/// A duration as a script argument, in milliseconds.
pub(super) fn ms(d: Duration) -> Value {
    Value::from(d.as_millis() as i64)
}

/// An id as it appears inside a key name.
pub fn key_id(id: &str) -> String {
    let safe = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if safe {
        id.to_string()
    } else {
        let mut out = String::with_capacity(1 + id.len() * 2);
        out.push('~');
        for b in id.bytes() {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }
}

/// Maps a fred error: connection trouble is `Unavailable` (retry later),
/// anything else `Internal`.
pub fn map_err(e: Error) -> StoreError {
    let mapped = classify(e);
    crate::telemetry::metrics::redis_error(match mapped {
        StoreError::Unavailable(_) => "unavailable",
        StoreError::Internal(_) => "internal",
    });
    mapped
}

fn classify(e: Error) -> StoreError {
    match e.kind() {
        ErrorKind::IO
        | ErrorKind::Timeout
        | ErrorKind::Canceled
        | ErrorKind::Backpressure
        | ErrorKind::Routing
        | ErrorKind::Cluster
        | ErrorKind::Sentinel => StoreError::Unavailable(e.to_string()),
        _ if e.details().starts_with("LOADING") || e.details().starts_with("BUSY") => {
            StoreError::Unavailable(e.to_string())
        }
        // fred's answer when a command ran out of attempts (redirections
        // during a resharding count as attempts): retryable.
        _ if e.details().starts_with("Too many failed write attempts")
            || e.details().starts_with("TRYAGAIN")
            || e.details().starts_with("CLUSTERDOWN")
            || e.details().starts_with("MASTERDOWN")
            || e.details().starts_with("READONLY") =>
        {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::key_id;

    #[test]
    fn ids_cannot_break_hash_tags_or_collide() {
        assert_eq!(key_id("alice"), "alice");
        for tricky in [
            "a}b",
            "{x}",
            "a*b",
            "a:b",
            "a\nb",
            "~61",
            "",
            &"x".repeat(10_000),
        ] {
            let k = key_id(tricky);
            assert!(
                !k.contains(['{', '}', '*', '\n', ':', ' ']),
                "{tricky:?} → {k}"
            );
        }
        assert_ne!(key_id("~61"), key_id("a"));
        assert_ne!(key_id("a:b"), key_id("a_b"));
    }
}
