//! The cluster registry: live connections per user and node heartbeats.
//!
//! "Who is online", "sessions of a user" and "nodes alive" are answered from
//! this registry, never by asking every node (ARCHITECTURE principle 5). On
//! the memory backend the registry is the node itself.
//!
//! Storage: [`ClusterStore`], implemented in `store/memory` and
//! `store/redis/cluster.rs`.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::store::StoreResult;

/// One live connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub socket_id: String,
    pub user_id: String,
    pub device_id: String,
    pub node_id: String,
    /// RFC 3339.
    pub since: String,
}

#[async_trait]
pub trait ClusterStore: Send + Sync + 'static {
    /// Record a live connection.
    async fn add_session(&self, session: &Session) -> StoreResult<()>;
    /// Forget a connection; returns how many connections the user still has.
    async fn remove_session(&self, user_id: &str, socket_id: &str) -> StoreResult<usize>;
    /// Live connections of a user, on every node.
    async fn sessions_of(&self, user_id: &str) -> StoreResult<Vec<Session>>;
    /// For each user, whether it has at least one live connection.
    async fn online(&self, user_ids: &[String]) -> StoreResult<Vec<bool>>;
    /// Announce that a node is alive for `ttl_secs`.
    async fn heartbeat(&self, node_id: &str, ttl_secs: u64) -> StoreResult<()>;
    /// Ids of the nodes whose heartbeat has not expired.
    async fn live_nodes(&self) -> StoreResult<Vec<String>>;
    /// Drop every session of a node (clean shutdown); returns how many.
    async fn remove_node(&self, node_id: &str) -> StoreResult<usize>;
    /// Round-trip check used by `/ready`.
    async fn ping(&self) -> StoreResult<()>;
}
