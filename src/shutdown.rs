//! Signals and the ordered drain, in the order a load balancer can follow:
//!
//! 1. `/ready` turns 503 at once; new Socket.IO connections are refused with
//!    `SERVER_DRAINING`.
//! 2. The node keeps serving its connections for `SB_DRAIN_DELAY_SECS`, the
//!    time an endpoint takes to leave the Service or the balancer's pool.
//! 3. It closes its connections' transports in batches spread over
//!    `SB_DRAIN_SPREAD_SECS` (idle connections first, a busy one once its
//!    in-flight event is acked), so the surviving nodes see a bounded
//!    reconnect rate instead of a stampede. Clients see a transport close
//!    and reconnect through the balancer.
//! 4. It stops claiming webhook deliveries and lets the attempts in flight
//!    finish, removes its sessions from the registry (their users get the
//!    presence grace period to reconnect elsewhere) and stops its
//!    heartbeat.
//! 5. The server then waits at most `SB_SHUTDOWN_TIMEOUT_SECS` for what is
//!    left; `main` flushes the traces and exits.

use std::time::{Duration, Instant};

use crate::app::AppState;
use crate::transports::Transports;

/// Resolves on SIGTERM or SIGINT.
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received, draining");
}

/// How often the spread closes a batch.
const BATCH_EVERY: Duration = Duration::from_millis(100);

/// Steps (1)–(4) of the drain; the server then stops accepting.
pub async fn drain(app: Option<&AppState>, transports: &Transports) {
    let Some(app) = app else { return };
    let cfg = &app.config.server;
    app.start_draining();
    tracing::info!(
        connections = app.fanout().local_sockets(),
        delay_secs = cfg.drain_delay.as_secs(),
        spread_secs = cfg.drain_spread.as_secs(),
        "draining: not ready, still serving"
    );
    tokio::time::sleep(cfg.drain_delay).await;
    let closed = close_spread(app, transports, cfg.drain_spread).await;
    // What is left: long-polling sessions (no transport of their own to
    // close) and connections still busy at the end of the spread.
    app.fanout().close().await;
    tracing::info!(closed, "draining: connections closed");
    let deadline = Instant::now() + cfg.shutdown_timeout;
    while app.webhooks_in_flight() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.kill_background();
    // Users get the grace period to reconnect to another node before they
    // are announced offline (no flap on a rolling restart).
    let grace = app.config.presence.grace;
    match app.stores.cluster.remove_node(&app.node_id, grace).await {
        Ok(n) => tracing::info!(sessions = n, "left the cluster registry"),
        Err(e) => tracing::warn!(error = %e, "could not clean the registry"),
    }
}

/// Closes this node's WebSocket transports in equal batches over
/// `spread`: idle ones first; a connection with an event in flight waits
/// for its ack (until the last batch). Returns how many were closed.
/// (Long-polling sessions have no connection of their own to close; the
/// final close takes them.)
async fn close_spread(app: &AppState, transports: &Transports, spread: Duration) -> usize {
    let start = Instant::now();
    let total = transports.websockets().len();
    if total == 0 {
        return 0;
    }
    let batches = (spread.as_millis() / BATCH_EVERY.as_millis()).max(1) as usize;
    let per_batch = total.div_ceil(batches);
    let mut closed = 0;
    for i in 0..batches {
        let last = i + 1 == batches;
        let busy: std::collections::HashSet<std::net::SocketAddr> = app
            .fanout()
            .local_transports()
            .into_iter()
            .filter(|t| t.busy)
            .filter_map(|t| t.peer)
            .collect();
        let mut open = transports.websockets();
        open.sort_by_key(|p| busy.contains(p));
        let mut n = 0;
        for peer in open.iter().filter(|p| last || !busy.contains(p)) {
            if n == per_batch && !last {
                break;
            }
            if transports.kill(peer) {
                n += 1;
            }
        }
        closed += n;
        if closed >= total || open.is_empty() {
            break;
        }
        // Keep to the schedule: batch i+1 at (i+1) × BATCH_EVERY.
        let next = start + BATCH_EVERY * (i as u32 + 1);
        tokio::time::sleep_until(next.into()).await;
    }
    closed
}

/// Development mode: say how to get a token.
pub fn print_dev_banner(app: &AppState, secret: &str) {
    let token = |sub: &str| crate::auth::TokenBuilder::new(sub).sign_hs256(secret);
    let port = app.config.server.port;
    // To stderr: stdout is the log stream (JSON lines when so configured).
    // A closed stderr is no reason to stop: the write's error is ignored
    // (`eprintln!` would panic).
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "\n  Switchboard is running in development mode (in-memory store, generated JWT secret).\n\
         \n  Tokens valid for 24 h:\n    alice: {}\n    bob:   {}\n\
         \n  More: curl 'http://localhost:{port}/dev/token?sub=carol'\n\
         \n  Set SB_JWT_SECRET (or a public key) and SB_ENV=production for real use.\n",
        token("alice"),
        token("bob"),
    );
}
