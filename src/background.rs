//! The node's background tasks, started once by `server::run`: the
//! heartbeat in the cluster registry (with re-registration after a gap that
//! got this node reaped), the presence sweeper, the ring-timeout sweeper,
//! the webhook worker, and the listeners and workers of the after-store
//! hook (notifications and webhooks react to stored messages there).
//!
//! Their handles are kept on the [`App`](crate::app::App), so shutdown (or a
//! test simulating a crash) stops them all with `App::kill_background`.

use std::sync::Arc;

use tracing::Instrument;

use crate::app::{AppState, MessageListener, HOOK_WORKERS};

/// Starts every background task of the node.
pub fn start(app: &AppState) {
    start_hooks(app);
    let tasks = [
        tokio::spawn(heartbeat(app.clone())),
        tokio::spawn(cluster_stats(app.clone())),
        tokio::spawn(crate::presence::service::sweeper(app.clone())),
        tokio::spawn(crate::calls::service::sweeper(app.clone())),
        tokio::spawn(crate::webhooks::worker::run(app.clone())),
    ];
    for task in tasks {
        app.track_background(task.abort_handle());
    }
}

/// What `/admin/stats` reads of the whole cluster, refreshed at the
/// heartbeat's pace but in a task of its own, so that the heartbeat (the
/// node's liveness) never waits for it: the cluster's peak and this node's
/// busiest channels.
async fn cluster_stats(app: AppState) {
    let ttl = app.config.redis.node_ttl;
    let mut tick = tokio::time::interval(app.config.redis.heartbeat_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        sample_peak(&app).await;
        publish_channels(&app, ttl).await;
    }
}

/// Channels a node publishes for the cluster-wide `/admin/stats` (its
/// busiest; the rest are left out of the sums).
pub const PUBLISHED_CHANNELS: usize = 100;

/// Publishes this node's busiest channels with their subscriber counts,
/// for as long as its heartbeat lives.
async fn publish_channels(app: &AppState, ttl: std::time::Duration) {
    let mut counts = app.fanout().local_channels().await;
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    counts.truncate(PUBLISHED_CHANNELS);
    let json = serde_json::to_string(&counts).unwrap_or_else(|_| "[]".into());
    if let Err(e) = app
        .stores
        .cluster
        .publish_channels(&app.node_id, &json, ttl)
        .await
    {
        tracing::debug!(error = %e, "could not publish this node's channels");
    }
}

/// Samples the cluster's connections into its recorded peak (what
/// `/admin/stats` reports as `clusterPeak`): every node, every beat.
async fn sample_peak(app: &AppState) {
    let cluster = &app.stores.cluster;
    let sampled = async {
        let nodes = cluster.live_nodes().await?;
        let total: usize = cluster.connection_counts(&nodes).await?.iter().sum();
        cluster.record_peak(total).await
    };
    if let Err(e) = sampled.await {
        tracing::debug!(error = %e, "could not sample the cluster's peak");
    }
}

/// Renews this node's heartbeat; after a gap long enough for other nodes to
/// reap it, puts its live connections back into the registry. Also reads the
/// webhook queue's depths into their gauge.
async fn heartbeat(app: AppState) {
    let every = app.config.redis.heartbeat_interval;
    let ttl = app.config.redis.node_ttl;
    let mut tick = tokio::time::interval(every);
    let mut first = true;
    let mut failed = false;
    let mut ticks: u64 = 0;
    loop {
        tick.tick().await;
        ticks += 1;
        let beat = app.stores.cluster.heartbeat(&app.node_id, ttl).await;
        app.store_reachable(beat.is_ok());
        match &beat {
            Ok(true) if !first => reregister(&app).await,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
        }
        // Repair the registry right after an outage, and now and then.
        if beat.is_ok() && (failed || ticks % RECONCILE_EVERY == 0) {
            failed = match reconcile(&app).await {
                Ok(_) => false,
                Err(e) => {
                    tracing::warn!(error = %e, "registry reconciliation failed; the next beat retries");
                    true
                }
            };
        } else if beat.is_err() {
            failed = true;
        }
        if !app.config.cache.rules.is_empty() {
            if let Ok(s) = app.stores.cache.cache_stats().await {
                crate::telemetry::metrics::cache_entries(s.entries, s.in_flight);
            }
        }
        if app.config.webhooks.url.is_some() {
            if let Ok(d) = app.stores.webhooks.depths().await {
                crate::telemetry::metrics::webhook_queue(
                    d.ready as u64,
                    d.in_flight as u64,
                    d.dead as u64,
                    std::time::Duration::from_millis(d.oldest_wait_ms),
                );
            }
        }
        first = false;
    }
}

/// Reconcile every this many heartbeats even without an outage.
const RECONCILE_EVERY: u64 = 6;

/// Repairs this node's part of the registry both ways: live connections
/// the registry lacks are registered (a registration that timed out, a
/// connection opened during an outage), and entries for sockets this node
/// no longer has are removed through the normal path, which queues the
/// offline check (a removal that timed out or ran late). Returns
/// `(registered, removed)`.
pub async fn reconcile(app: &AppState) -> Result<(usize, usize), crate::store::error::StoreError> {
    use std::collections::HashSet;
    let node = &app.node_id;
    // Local before and after the registry read: a socket must be in both to
    // be registered (one that left meanwhile is not brought back), and an
    // entry is a ghost only if its socket is missing after the read.
    let before: HashSet<String> = app
        .fanout()
        .local_sessions(node)
        .into_iter()
        .map(|s| s.socket_id)
        .collect();
    let listed = app.stores.cluster.node_sessions(node).await?;
    let after = app.fanout().local_sessions(node);
    let listed_sockets: HashSet<&str> = listed.iter().map(|(_, s)| s.as_str()).collect();
    let (mut registered, mut removed) = (0, 0);
    for s in after
        .iter()
        .filter(|s| before.contains(&s.socket_id) && !listed_sockets.contains(s.socket_id.as_str()))
    {
        if let Some(p) = app.stores.cluster.add_session(s).await? {
            crate::presence::service::announce(app, &p).await;
        }
        registered += 1;
    }
    let live: HashSet<&str> = after.iter().map(|s| s.socket_id.as_str()).collect();
    let grace = app.config.presence.grace;
    for (user, socket) in listed.iter().filter(|(_, s)| !live.contains(s.as_str())) {
        app.stores
            .cluster
            .remove_session(user, socket, node, grace)
            .await?;
        removed += 1;
    }
    if registered + removed > 0 {
        tracing::info!(registered, removed, "registry repaired");
    }
    Ok((registered, removed))
}

/// Puts this node's live connections back into the registry.
async fn reregister(app: &AppState) {
    let sessions = app.fanout().local_sessions(&app.node_id);
    tracing::warn!(
        connections = sessions.len(),
        "this node was reaped as dead; re-registering its connections"
    );
    for session in sessions {
        match app.stores.cluster.add_session(&session).await {
            Ok(Some(p)) => crate::presence::service::announce(app, &p).await,
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not re-register a session"),
        }
    }
}

/// Registers the after-store listeners and starts the workers that drain
/// their queue.
fn start_hooks(app: &AppState) {
    let listeners: Vec<Arc<dyn MessageListener>> = vec![
        Arc::new(crate::notifications::service::NotificationListener),
        Arc::new(crate::webhooks::service::WebhookListener),
    ];
    let Some(rx) = app.hooks.register(listeners) else {
        return;
    };
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    for _ in 0..HOOK_WORKERS {
        let (node, rx) = (app.clone(), rx.clone());
        let task = tokio::spawn(async move {
            loop {
                let Some(stored) = rx.lock().await.recv().await else {
                    return;
                };
                let span = crate::telemetry::traces::continued(
                    "after-store",
                    "internal",
                    stored.traceparent.as_deref(),
                );
                async {
                    for listener in node.hooks.listeners() {
                        if listener.wants(&node, &stored.message, stored.chat.as_ref()) {
                            listener.on_stored(&node, &stored).await;
                        }
                    }
                }
                .instrument(span)
                .await;
            }
        });
        app.track_background(task.abort_handle());
    }
}
