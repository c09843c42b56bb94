//! The admin service: the logic behind `events.rs` and `routes.rs`.

use serde_json::{json, Value};

use crate::app::App;
use crate::error::AppError;

/// The registered connections of one user, on every node.
pub async fn sessions_of(app: &App, user: &str) -> Result<Vec<crate::cluster::Session>, AppError> {
    crate::ids::validate_user_id(user)?;
    Ok(app.stores.cluster.sessions_of(user).await?)
}

/// Disconnects every connection of `user` on every node; how many were
/// registered.
pub async fn disconnect_user(app: &App, user: &str) -> Result<usize, AppError> {
    let n = sessions_of(app, user).await?.len();
    app.fanout().disconnect_user(user).await;
    Ok(n)
}

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
