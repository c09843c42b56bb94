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

/// Messages `GET /admin/chats/{chatId}` shows.
const LAST_MESSAGES: usize = 20;

/// A chat and its last messages, for support (`GET /admin/chats/{chatId}`).
pub async fn chat(app: &App, chat_id: &str) -> Result<Value, AppError> {
    crate::chat::validate_chat_id(chat_id)?;
    let chat = app
        .stores
        .chats
        .get_chat(chat_id)
        .await?
        .ok_or_else(|| AppError::not_found("no such chat"))?;
    let req = crate::messages::service::HistoryRequest {
        chat_id: chat_id.to_string(),
        before_seq: None,
        after_seq: None,
        limit: Some(LAST_MESSAGES.min(app.config.messages.history_page_max)),
    };
    let page = crate::messages::service::page(app, req).await?;
    Ok(json!({ "chat": chat, "messages": page.messages, "hasMore": page.has_more }))
}

/// The busiest channels listed by `/admin/stats`.
const BUSIEST: usize = 10;

/// Connections on this node (now and peak) and in the cluster, live nodes,
/// this node's rooms and busiest channels, uptime, and queue depths.
pub async fn stats(app: &App) -> Result<Value, AppError> {
    let cluster = &app.stores.cluster;
    let nodes = cluster.live_nodes().await?;
    let counts = cluster.connection_counts(&nodes).await?;
    let total: usize = counts.iter().sum();
    let cluster_peak = cluster.record_peak(total).await?;
    let per_node: Vec<Value> = nodes
        .iter()
        .zip(&counts)
        .map(|(n, c)| json!({ "nodeId": n, "connections": c }))
        .collect();
    let webhooks = app.stores.webhooks.depths().await?;
    use crate::rooms::{kind, Kind};
    let rooms = app.fanout().local_rooms();
    let count = |k: Kind| rooms.iter().filter(|(r, _)| kind(r) == k).count();
    let mut channels: Vec<(&str, usize)> = rooms
        .iter()
        .filter_map(|(r, n)| match kind(r) {
            Kind::Channel(name) => Some((name, *n)),
            _ => None,
        })
        .collect();
    channels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let busiest: Vec<Value> = channels
        .iter()
        .take(BUSIEST)
        .map(|(c, n)| json!({ "channel": c, "subscribers": n }))
        .collect();
    // Cluster-wide: the sums of what every live node published at its
    // last heartbeat.
    let mut cluster_channels: std::collections::HashMap<String, usize> = Default::default();
    for published in cluster.node_channels(&nodes).await?.into_iter().flatten() {
        let list: Vec<(String, usize)> = serde_json::from_str(&published).unwrap_or_default();
        for (c, n) in list {
            *cluster_channels.entry(c).or_default() += n;
        }
    }
    let mut cluster_channels: Vec<(String, usize)> = cluster_channels.into_iter().collect();
    cluster_channels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let cluster_busiest: Vec<Value> = cluster_channels
        .iter()
        .take(BUSIEST)
        .map(|(c, n)| json!({ "channel": c, "subscribers": n }))
        .collect();
    let totals = crate::telemetry::totals::read();
    let now = crate::time::now_ms();
    Ok(json!({
        "nodeId": app.node_id,
        "draining": app.is_draining(),
        "startedAt": crate::time::rfc3339_from_ms(app.started_ms),
        "uptimeSecs": (now - app.started_ms).max(0) / 1000,
        "connections": {
            "node": app.fanout().local_sockets(),
            "cluster": total,
            "nodePeak": app.peak_connections(),
            "clusterPeak": cluster_peak,
        },
        "nodes": per_node,
        "rooms": {
            "chats": count(Kind::Chat),
            "channels": channels.len(),
            "users": count(Kind::User),
        },
        "channels": busiest,
        "clusterChannels": cluster_busiest,
        "totals": {
            "messagesStored": totals.0,
            "fanoutPublishes": totals.1,
            "eventErrors": totals.2,
        },
        "queues": { "webhooks": webhooks },
    }))
}
