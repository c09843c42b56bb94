//! Signals and the ordered drain.
//!
//! On SIGTERM or SIGINT: (1) `/ready` turns 503 and new connections are
//! refused with `SERVER_DRAINING`; (2) every open transport is closed, so
//! clients reconnect (to another node behind the load balancer); (3) this
//! node's sessions leave the registry and its heartbeat stops; (4) the
//! process exits once connections are gone or `SB_SHUTDOWN_TIMEOUT_SECS`
//! has passed.

use crate::app::AppState;

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

/// Steps (1)–(3) of the drain; the server then stops accepting.
pub async fn drain(app: Option<&AppState>) {
    let Some(app) = app else { return };
    app.start_draining();
    app.fanout().close().await;
    app.kill_background();
    // Users get the grace period to reconnect to another node before they
    // are announced offline (no flap on a rolling restart).
    let grace = app.config.presence.grace;
    match app.stores.cluster.remove_node(&app.node_id, grace).await {
        Ok(n) => tracing::info!(sessions = n, "left the cluster registry"),
        Err(e) => tracing::warn!(error = %e, "could not clean the registry"),
    }
}

/// Development mode: say how to get a token.
pub fn print_dev_banner(app: &AppState, secret: &str) {
    let token = |sub: &str| crate::auth::TokenBuilder::new(sub).sign_hs256(secret);
    let port = app.config.server.port;
    // To stderr: stdout is the log stream (JSON lines when so configured).
    eprintln!(
        "\n  Switchboard is running in development mode (in-memory store, generated JWT secret).\n\
         \n  Tokens valid for 24 h:\n    alice: {}\n    bob:   {}\n\
         \n  More: curl 'http://localhost:{port}/dev/token?sub=carol'\n\
         \n  Set SB_JWT_SECRET (or a public key) and SB_ENV=production for real use.\n",
        token("alice"),
        token("bob"),
    );
}
