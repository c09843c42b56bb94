//! Connections to Redis: one multiplexed client for the stores, a
//! subscriber client for the Socket.IO adapter, and (with
//! `SB_REDIS_WAIT_REPLICAS`) a small pool on which a message append and its
//! `WAIT` share one connection. All of them take the URL (single, cluster or
//! sentinel), the command timeout and the TLS files from [`RedisConfig`].
//!
//! The URL may carry a password; it is never logged (errors name the
//! server as `host:port` only).

use std::sync::Arc;
use std::time::Duration;

use fred::clients::{Pool, SubscriberClient};
use fred::prelude::*;

use super::map_err;
use crate::config::{RedisConfig, RedisTls};
use crate::store::error::StoreError;

/// Appends run on this many connections when acks wait for replicas
/// (`SB_REDIS_WAIT_REPLICAS`): a `WAIT` holds its connection until the
/// replicas answer, so appends proceed on the others meanwhile.
const DURABLE_CONNECTIONS: usize = 8;

fn builder(cfg: &RedisConfig) -> Result<Builder, StoreError> {
    let url = cfg
        .url
        .as_deref()
        .ok_or_else(|| StoreError::Internal("SB_REDIS_URL is not set".into()))?;
    // fred's URL errors do not quote the URL, so no password reaches a log.
    let mut config =
        Config::from_url(url).map_err(|e| StoreError::Internal(format!("SB_REDIS_URL: {e}")))?;
    // fred does not read the protocol from the URL; the adapter needs RESP3.
    config.version = fred::types::RespVersion::RESP3;
    config.fail_fast = false;
    if config.tls.is_some() {
        if let Some(tls) = tls_config(&cfg.tls)? {
            config.tls = Some(tls.into());
        }
    }
    let command_timeout = cfg.command_timeout;
    let mut b = Builder::from_config(config);
    b.set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
        .with_connection_config(|c| {
            use fred::types::config::ReconnectError;
            c.connection_timeout = Duration::from_secs(2);
            // A master demoted to a replica under an open connection (a
            // Sentinel failover, an old master back) answers writes with
            // READONLY: reconnect, which asks the sentinels again.
            c.reconnect_errors = vec![
                ReconnectError::ClusterDown,
                ReconnectError::Loading,
                ReconnectError::ReadOnly,
                ReconnectError::MasterDown,
            ];
            c.internal_command_timeout = command_timeout;
            // One write plus two more: a MOVED or ASK redirection during
            // a resharding is a new write for fred. A command in flight
            // when a connection drops may also be written again after the
            // reconnect; every write is safe to repeat (the append dedupes
            // by clientId and carries a deadline, the rest are idempotent
            // or counters).
            c.max_command_attempts = 3;
        })
        .with_performance_config(|p| {
            p.default_command_timeout = command_timeout;
        });
    Ok(b)
}

/// The rustls configuration for `rediss://` when a CA or a client
/// certificate is configured; `None` keeps fred's default (system roots, no
/// client certificate).
fn tls_config(files: &RedisTls) -> Result<Option<rustls::ClientConfig>, StoreError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    if files.ca_file.is_none() && files.cert_file.is_none() {
        return Ok(None);
    }
    let bad = |what: &str, file: &str, e: &dyn std::fmt::Display| {
        StoreError::Internal(format!("{what} {file}: {e}"))
    };
    let mut roots = rustls::RootCertStore::empty();
    match &files.ca_file {
        Some(ca) => {
            for cert in CertificateDer::pem_file_iter(ca)
                .map_err(|e| bad("SB_REDIS_TLS_CA_FILE", ca, &e))?
            {
                let cert = cert.map_err(|e| bad("SB_REDIS_TLS_CA_FILE", ca, &e))?;
                roots
                    .add(cert)
                    .map_err(|e| bad("SB_REDIS_TLS_CA_FILE", ca, &e))?;
            }
            if roots.is_empty() {
                return Err(bad(
                    "SB_REDIS_TLS_CA_FILE",
                    ca,
                    &"no certificate in the file",
                ));
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            for cert in native.certs {
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Internal(format!("TLS: {e}")))?
        .with_root_certificates(roots);
    let config = match (&files.cert_file, &files.key_file) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(|e| bad("SB_REDIS_TLS_CERT_FILE", cert, &e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad("SB_REDIS_TLS_CERT_FILE", cert, &e))?;
            // The key's own error never quotes the key.
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| bad("SB_REDIS_TLS_KEY_FILE", key, &e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| StoreError::Internal(format!("Redis client certificate: {e}")))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Some(config))
}

/// A client for the stores. Waits (retrying) until Redis answers.
pub async fn connect(cfg: &RedisConfig) -> Result<Client, StoreError> {
    let client = builder(cfg)?
        .build()
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    log_connectivity(&client, "store");
    client.init().await.map_err(map_err)?;
    Ok(client)
}

/// The Redis store as configured: the stores' client, the key prefix and,
/// with `SB_REDIS_WAIT_REPLICAS`, the appends' own connections. Waits
/// (retrying) until Redis answers.
pub async fn open(cfg: &RedisConfig) -> Result<super::RedisStore, StoreError> {
    let store = super::RedisStore::new(connect(cfg).await?, cfg.prefix.clone());
    if cfg.wait_replicas == 0 {
        return Ok(store);
    }
    let pool = durable_pool(cfg, DURABLE_CONNECTIONS).await?;
    Ok(store.wait_for_replicas(pool, cfg.wait_replicas))
}

/// The connections on which message appends run when acks wait for
/// replicas: `WAIT` blocks the connection it is sent on until the replicas
/// answer, so it must not hold up the shared client's other commands.
async fn durable_pool(cfg: &RedisConfig, size: usize) -> Result<Pool, StoreError> {
    let pool = builder(cfg)?
        .build_pool(size)
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    for client in pool.clients() {
        log_connectivity(client, "durable");
    }
    pool.init().await.map_err(map_err)?;
    Ok(pool)
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

/// The Socket.IO adapter's pub/sub connection.
pub struct Subscriber {
    pub client: SubscriberClient,
    /// Counts the times the subscriptions were restored after a dropped
    /// connection: what other nodes published in between was missed.
    pub resubscribed: tokio::sync::watch::Receiver<u64>,
}

/// A subscriber client for the Socket.IO adapter: it re-subscribes by itself
/// after a dropped connection.
pub async fn subscriber(cfg: &RedisConfig) -> Result<Subscriber, StoreError> {
    let mut b = builder(cfg)?;
    // Every cross-node message passes through this buffer (fred's
    // broadcast channel, 32 by default): see realtime::pubsub.
    let capacity = cfg.pubsub_buffer;
    b.with_performance_config(|p| p.broadcast_channel_capacity = capacity);
    let client = b
        .build_subscriber_client()
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    let resubscribed = resubscribe_on_reconnect(&client);
    log_connectivity(&client, "pubsub");
    Ok(Subscriber {
        client,
        resubscribed,
    })
}

/// Restores the sharded subscriptions after every reconnection.
///
/// fred's own `manage_subscriptions` (10.1) first sends `SUBSCRIBE` with the
/// tracked plain channels; with none (the adapter only uses sharded
/// channels) Redis answers an error and fred stops there, so the sharded
/// channels are never restored. This loop re-subscribes those directly.
fn resubscribe_on_reconnect(client: &SubscriberClient) -> tokio::sync::watch::Receiver<u64> {
    let (tx, rx) = tokio::sync::watch::channel(0u64);
    let client = client.clone();
    let mut reconnects = client.reconnect_rx();
    tokio::spawn(async move {
        while reconnects.recv().await.is_ok() {
            // The first connection has nothing to restore.
            let channels = client.tracked_shard_channels();
            if channels.is_empty() {
                continue;
            }
            let mut restored = true;
            for channel in channels {
                if let Err(e) = client.ssubscribe(channel.to_string()).await {
                    restored = false;
                    tracing::warn!(error = %e, "re-subscribing after a reconnect failed");
                }
            }
            if restored {
                tracing::info!("Redis pub/sub re-subscribed after a reconnect");
                tx.send_modify(|n| *n += 1);
            }
        }
    });
    rx
}
