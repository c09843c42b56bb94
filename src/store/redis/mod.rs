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

mod calls;
mod chat;
mod cluster;
mod inbox;
mod messages;
mod notifications;
mod presence;
mod rate_limit;
mod reactions;
mod webhooks;

use std::time::Duration;

use fred::clients::SubscriberClient;
use fred::prelude::*;
use fred::types::scripts::Script;

use crate::store::error::StoreError;

/// The Redis implementation of every storage trait.
#[derive(Clone)]
pub struct RedisStore {
    client: Client,
    prefix: String,
    /// Redis's clock minus this node's, in ms, measured at each heartbeat
    /// (the late-write guard of `append` compares deadlines on Redis's
    /// clock).
    clock_offset_ms: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl RedisStore {
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        Self {
            client,
            prefix: prefix.into(),
            clock_offset_ms: Default::default(),
        }
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
        use tracing::Instrument;
        let started = std::time::Instant::now();
        let result = script
            .evalsha_with_reload(&self.client, keys, args)
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
        _ => StoreError::Internal(e.to_string()),
    }
}

fn builder(url: &str, command_timeout: Duration) -> Result<Builder, StoreError> {
    let mut config =
        Config::from_url(url).map_err(|e| StoreError::Internal(format!("SB_REDIS_URL: {e}")))?;
    // fred does not read the protocol from the URL; the adapter needs RESP3.
    config.version = fred::types::RespVersion::RESP3;
    config.fail_fast = false;
    let mut b = Builder::from_config(config);
    b.set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(2);
            c.internal_command_timeout = command_timeout;
            c.max_command_attempts = 1;
        })
        .with_performance_config(|p| {
            p.default_command_timeout = command_timeout;
        });
    Ok(b)
}

/// A client for the stores. Waits (retrying) until Redis answers.
pub async fn connect(url: &str, command_timeout: Duration) -> Result<Client, StoreError> {
    let client = builder(url, command_timeout)?
        .build()
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    log_connectivity(&client, "store");
    client.init().await.map_err(map_err)?;
    Ok(client)
}

/// Logs the first error of an outage at once, with its cause (a node that
/// cannot reach Redis at start-up says so within a second), and an info
/// line when Redis is reachable again. The task ends with the client.
fn log_connectivity<C: ClientLike + EventInterface>(client: &C, role: &'static str) {
    use tokio::sync::broadcast::error::RecvError;
    let mut errors = client.error_rx();
    let mut reconnects = client.reconnect_rx();
    tokio::spawn(async move {
        let mut down = false;
        loop {
            tokio::select! {
                e = errors.recv() => match e {
                    Ok((e, server)) if !down => {
                        down = true;
                        let server = server.map(|s| s.to_string()).unwrap_or_default();
                        tracing::warn!(client = role, server, error = %e, "Redis is unreachable; retrying");
                    }
                    Ok((e, _)) => tracing::debug!(client = role, error = %e, "Redis still unreachable"),
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                },
                r = reconnects.recv() => match r {
                    Ok(server) if down => {
                        down = false;
                        tracing::info!(client = role, server = %server, "Redis is reachable again");
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                },
            }
        }
    });
}

/// A subscriber client for the Socket.IO adapter: it re-subscribes by itself
/// after a dropped connection.
pub async fn subscriber(
    url: &str,
    command_timeout: Duration,
) -> Result<SubscriberClient, StoreError> {
    let client = builder(url, command_timeout)?
        .build_subscriber_client()
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    resubscribe_on_reconnect(&client);
    log_connectivity(&client, "pubsub");
    Ok(client)
}

/// Restores the sharded subscriptions after every reconnection.
///
/// fred's own `manage_subscriptions` (10.1) first sends `SUBSCRIBE` with the
/// tracked plain channels; with none (the adapter only uses sharded
/// channels) Redis answers an error and fred stops there, so the sharded
/// channels are never restored. This loop re-subscribes those directly.
fn resubscribe_on_reconnect(client: &SubscriberClient) {
    let client = client.clone();
    let mut reconnects = client.reconnect_rx();
    tokio::spawn(async move {
        while reconnects.recv().await.is_ok() {
            let channels = client.tracked_shard_channels();
            for channel in channels {
                if let Err(e) = client.ssubscribe(channel.to_string()).await {
                    tracing::warn!(error = %e, "re-subscribing after a reconnect failed");
                }
            }
            tracing::info!("Redis pub/sub re-subscribed after a reconnect");
        }
    });
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
