//! The admin API (`/admin/*`): what operators need to see and steer the
//! cluster, answered from the Redis registries (never by asking every node)
//! and acting through the cross-node fan-out.
//!
//! Routes (`routes.rs`): `GET /admin/stats`, `GET /admin/sessions`,
//! `POST /admin/users/{userId}/disconnect`, `POST /admin/broadcast`, and
//! the reply cache's `GET /admin/cache/stats`, `POST /admin/cache/invalidate`.

pub mod routes;

use serde_json::{json, Value};

use crate::app::App;
use crate::error::AppError;

/// Connections on this node and in the cluster, live nodes, and queue
/// depths.
pub async fn stats(app: &App) -> Result<Value, AppError> {
    let cluster = &app.stores.cluster;
    let nodes = cluster.live_nodes().await?;
    let counts = cluster.connection_counts(&nodes).await?;
    let total: usize = counts.iter().sum();
    let per_node: Vec<Value> = nodes
        .iter()
        .zip(&counts)
        .map(|(n, c)| json!({ "nodeId": n, "connections": c }))
        .collect();
    let webhooks = app.stores.webhooks.depths().await?;
    Ok(json!({
        "nodeId": app.node_id,
        "draining": app.is_draining(),
        "connections": { "node": app.fanout().local_sockets(), "cluster": total },
        "nodes": per_node,
        "queues": { "webhooks": webhooks },
    }))
}
