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

use std::time::Duration;

use crate::presence::Presence;
use crate::store::error::StoreResult;

/// One live connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub socket_id: String,
    pub user_id: String,
    pub device_id: String,
    pub node_id: String,
    /// RFC 3339.
    pub since: String,
}

/// The connection registry. A user's connections and its presence record
/// ([`crate::presence::Record`]) change together, atomically.
#[async_trait]
pub trait ClusterStore: Send + Sync + 'static {
    /// Record a live connection. Returns the user's presence when what others
    /// see changed (the first connection, unless invisible): it must then be
    /// announced.
    async fn add_session(&self, session: &Session) -> StoreResult<Option<Presence>>;
    /// Forget a connection; returns how many connections the user still has.
    /// On the last one, `lastSeen` is set and an offline check is queued for
    /// `grace` from now ([`crate::presence::PresenceStore::settle_due`]).
    /// The check is queued whenever the user is left with none, even if
    /// this socket was already gone (a retried removal whose first attempt
    /// ran late must still lead to `offline`).
    async fn remove_session(
        &self,
        user_id: &str,
        socket_id: &str,
        node_id: &str,
        grace: Duration,
    ) -> StoreResult<usize>;
    /// The connections the registry lists for one node: `(user, socket)`.
    async fn node_sessions(&self, node_id: &str) -> StoreResult<Vec<(String, String)>>;
    /// Live connections of a user, on every node.
    async fn sessions_of(&self, user_id: &str) -> StoreResult<Vec<Session>>;
    /// For each user, whether it has at least one live connection.
    async fn online(&self, user_ids: &[String]) -> StoreResult<Vec<bool>>;
    /// Announce that a node is alive for `ttl`. True when the node was not
    /// registered (its first beat, or it was reaped as dead meanwhile).
    async fn heartbeat(&self, node_id: &str, ttl: Duration) -> StoreResult<bool>;
    /// Ids of the nodes whose heartbeat has not expired.
    async fn live_nodes(&self) -> StoreResult<Vec<String>>;
    /// Drop every session of a node (clean shutdown) as [`Self::remove_session`]
    /// would with `grace`; returns how many.
    async fn remove_node(&self, node_id: &str, grace: Duration) -> StoreResult<usize>;
    /// If `holder` gets the reaper lock (held for `lease`): removes the
    /// sessions of every node whose heartbeat expired, queueing their users
    /// for an immediate offline check. Returns the nodes reaped.
    async fn reap_dead_nodes(&self, holder: &str, lease: Duration) -> StoreResult<Vec<String>>;
    /// Registered connections of each node, in the order given.
    async fn connection_counts(&self, node_ids: &[String]) -> StoreResult<Vec<usize>>;
    /// Round-trip check used by `/ready`.
    async fn ping(&self) -> StoreResult<()>;
    /// Publishes this node's channel subscriber counts (JSON) for `ttl`.
    async fn publish_channels(&self, node_id: &str, counts: &str, ttl: Duration)
        -> StoreResult<()>;
    /// What each node published, in the order given (`None`: nothing live).
    async fn node_channels(&self, node_ids: &[String]) -> StoreResult<Vec<Option<String>>>;
    /// Raises the cluster's recorded peak of connections to `connections`
    /// when higher; returns the peak.
    async fn record_peak(&self, connections: usize) -> StoreResult<usize>;
}
