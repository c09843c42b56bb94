//! The presence service: the logic behind `events.rs` and `routes.rs`.

use std::time::Duration;

use serde_json::json;

use super::{Presence, PresenceError, Update, MAX_CUSTOM_STATUS};
use crate::app::App;
use crate::error::AppError;
use crate::rooms;

/// Sends `presence:update` to the user's subscribers on every node.
pub async fn announce(app: &App, presence: &Presence) {
    crate::telemetry::metrics::presence_announced(presence.status);
    crate::webhooks::service::on_presence(app, presence).await;
    app.fanout()
        .emit(
            vec![rooms::presence(&presence.user_id)],
            Vec::new(),
            "presence:update",
            &json!({ "presence": presence }),
        )
        .await;
}

/// `presence:update`: the user's own status.
pub async fn update(app: &App, user: &str, req: Update) -> Result<Presence, PresenceError> {
    let custom = match req.custom_status {
        Some(Some(s)) if s.len() > MAX_CUSTOM_STATUS => {
            return Err(PresenceError::Invalid(format!(
                "customStatus is longer than {MAX_CUSTOM_STATUS} bytes"
            )))
        }
        Some(Some(s)) if s.chars().any(char::is_control) => {
            return Err(PresenceError::Invalid(
                "customStatus must not contain control characters".into(),
            ))
        }
        Some(Some(s)) if s.trim().is_empty() => Some(None),
        other => other,
    };
    let (presence, changed) = app
        .stores
        .presence
        .set_status(user, req.status, custom)
        .await?;
    if changed {
        announce(app, &presence).await;
    }
    Ok(presence)
}

/// Presences as others see them, in the order asked.
pub async fn presences(app: &App, ids: &[String]) -> Result<Vec<Presence>, PresenceError> {
    Ok(app.stores.presence.presences(ids).await?)
}

/// Checks a list of user ids and splits it into the users the requester may
/// watch and the refused ones (`FORBIDDEN`: no shared chat).
pub async fn allowed(
    app: &App,
    user: &str,
    ids: &[String],
) -> Result<(Vec<String>, Vec<String>), AppError> {
    let wanted = crate::ids::validate_user_ids(ids, app.config.chat.max_ids_per_request)?;
    if app.config.presence.open {
        return Ok((wanted, Vec::new()));
    }
    let shared = crate::chat::service::share_chat(app, user, &wanted).await?;
    let (mut ok, mut refused) = (Vec::new(), Vec::new());
    for (id, yes) in wanted.into_iter().zip(shared) {
        if yes || id == user {
            ok.push(id);
        } else {
            refused.push(id);
        }
    }
    Ok((ok, refused))
}

/// Runs forever on every node: settles due offline checks and reaps dead
/// nodes, every `SB_PRESENCE_SWEEP_MS`.
pub async fn sweeper(app: crate::app::AppState) {
    let every = app.config.presence.sweep_interval;
    crate::time::every(every, || sweep_once(&app, every)).await;
}

/// One sweep: reap dead nodes (under the reaper lock), then announce the
/// users whose grace period is over.
pub async fn sweep_once(app: &App, every: Duration) {
    let cluster = &app.stores.cluster;
    // A node reaps others only after reaching Redis itself for a full node
    // TTL: after an outage every node's heartbeat looks expired, and the
    // live ones need one TTL to renew before anyone is declared dead.
    let settled = app
        .store_reachable_for()
        .is_some_and(|d| d >= app.config.redis.node_ttl);
    if settled {
        match cluster.reap_dead_nodes(&app.node_id, every).await {
            Ok(nodes) => {
                for n in nodes {
                    crate::telemetry::metrics::node_reaped();
                    tracing::warn!(node = %n, "reaped the connections of a dead node");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not reap dead nodes"),
        }
    }
    // Drain the backlog in batches; a claim hides a user from other nodes
    // for a few sweeps while it is being announced.
    let lease = every * 5;
    loop {
        match app.stores.presence.settle_due(100, lease).await {
            Ok(list) => {
                let full = list.len() == 100;
                for p in &list {
                    announce(app, p).await;
                }
                if !full {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not settle presence");
                break;
            }
        }
    }
}
