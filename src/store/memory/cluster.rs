//! In memory: the connection registry and node heartbeats (`ClusterStore`), mirroring `store/redis/cluster.rs`.

use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::cluster::{ClusterStore, Session};
use crate::presence::{Presence, Shown};
use crate::store::error::StoreResult;

use super::MemoryStore;

#[async_trait]
impl ClusterStore for MemoryStore {
    async fn add_session(&self, session: &Session) -> StoreResult<Option<Presence>> {
        let mut st = self.state.lock();
        let user = &session.user_id;
        let conns = st.sessions.entry(user.clone()).or_default();
        conns.insert(session.socket_id.clone(), session.clone());
        let n = conns.len();
        let rec = st.presence.entry(user.clone()).or_default();
        rec.seen_ms = Some(crate::time::now_ms());
        let visible = rec.visible(n);
        let changed = rec.shown.unwrap_or(Shown::Offline) != visible;
        rec.shown = Some(visible);
        Ok(changed.then(|| rec.presence(user)))
    }

    async fn remove_session(
        &self,
        user_id: &str,
        socket_id: &str,
        _node_id: &str,
        grace: Duration,
    ) -> StoreResult<usize> {
        let mut st = self.state.lock();
        Ok(st.remove_session(user_id, socket_id, Instant::now() + grace))
    }

    async fn node_sessions(&self, node_id: &str) -> StoreResult<Vec<(String, String)>> {
        let st = self.state.lock();
        Ok(st
            .sessions
            .values()
            .flat_map(|m| m.values())
            .filter(|s| s.node_id == node_id)
            .map(|s| (s.user_id.clone(), s.socket_id.clone()))
            .collect())
    }

    async fn sessions_of(&self, user_id: &str) -> StoreResult<Vec<Session>> {
        let st = self.state.lock();
        Ok(st
            .sessions
            .get(user_id)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn online(&self, user_ids: &[String]) -> StoreResult<Vec<bool>> {
        let st = self.state.lock();
        Ok(user_ids
            .iter()
            .map(|u| st.sessions.get(u).is_some_and(|m| !m.is_empty()))
            .collect())
    }

    async fn heartbeat(&self, node_id: &str, ttl: Duration) -> StoreResult<bool> {
        let expiry = Instant::now() + ttl;
        Ok(self
            .state
            .lock()
            .nodes
            .insert(node_id.to_string(), expiry)
            .is_none())
    }

    async fn live_nodes(&self) -> StoreResult<Vec<String>> {
        let now = Instant::now();
        let st = self.state.lock();
        let mut nodes: Vec<String> = st
            .nodes
            .iter()
            .filter(|(_, expiry)| **expiry > now)
            .map(|(n, _)| n.clone())
            .collect();
        nodes.sort();
        Ok(nodes)
    }

    async fn remove_node(&self, node_id: &str, grace: Duration) -> StoreResult<usize> {
        let mut st = self.state.lock();
        st.nodes.remove(node_id);
        Ok(st.remove_node_sessions(node_id, Instant::now() + grace))
    }

    async fn connection_counts(&self, node_ids: &[String]) -> StoreResult<Vec<usize>> {
        let st = self.state.lock();
        Ok(node_ids
            .iter()
            .map(|n| {
                st.sessions
                    .values()
                    .flat_map(|m| m.values())
                    .filter(|s| &s.node_id == n)
                    .count()
            })
            .collect())
    }

    async fn reap_dead_nodes(&self, _holder: &str, _lease: Duration) -> StoreResult<Vec<String>> {
        // One process holds the whole state: the lock is the mutex.
        let now = Instant::now();
        let mut st = self.state.lock();
        let dead: Vec<String> = st
            .nodes
            .iter()
            .filter(|(_, expiry)| **expiry <= now)
            .map(|(n, _)| n.clone())
            .collect();
        for node in &dead {
            st.nodes.remove(node);
            st.remove_node_sessions(node, now);
        }
        Ok(dead)
    }

    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn publish_channels(
        &self,
        node_id: &str,
        counts: &str,
        _ttl: Duration,
    ) -> StoreResult<()> {
        let mut st = self.state.lock();
        st.node_channels
            .insert(node_id.to_string(), counts.to_string());
        Ok(())
    }

    async fn node_channels(&self, node_ids: &[String]) -> StoreResult<Vec<Option<String>>> {
        let st = self.state.lock();
        Ok(node_ids
            .iter()
            .map(|n| st.node_channels.get(n).cloned())
            .collect())
    }

    async fn record_peak(&self, connections: usize) -> StoreResult<usize> {
        let mut st = self.state.lock();
        st.cluster_peak = st.cluster_peak.max(connections);
        Ok(st.cluster_peak)
    }
}
