//! In memory: notifications (`NotificationStore`), mirroring `store/redis/notifications.rs`.

use async_trait::async_trait;

use crate::notifications::{Notification, NotificationStore};
use crate::store::error::StoreResult;

use super::MemoryStore;

#[async_trait]
impl NotificationStore for MemoryStore {
    async fn push(
        &self,
        user_id: &str,
        n: &Notification,
        max: usize,
        _ttl: u64,
    ) -> StoreResult<()> {
        let mut st = self.state.lock();
        let list = st.notifications.entry(user_id.to_string()).or_default();
        list.push_back(n.clone());
        while list.len() > max {
            list.pop_front();
        }
        Ok(())
    }

    async fn list(
        &self,
        user_id: &str,
        limit: usize,
        ttl_secs: u64,
    ) -> StoreResult<Vec<Notification>> {
        let cutoff = crate::time::now_ms() - ttl_secs as i64 * 1000;
        let mut st = self.state.lock();
        let Some(list) = st.notifications.get_mut(user_id) else {
            return Ok(Vec::new());
        };
        list.retain(|n| n.created_ms >= cutoff);
        Ok(list.iter().rev().take(limit).cloned().collect())
    }

    async fn mark_read(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        let mut st = self.state.lock();
        let found = st
            .notifications
            .get_mut(user_id)
            .and_then(|l| l.iter_mut().find(|n| n.id == id));
        Ok(found.map(|n| n.read = true).is_some())
    }

    async fn clear(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        let mut st = self.state.lock();
        let Some(list) = st.notifications.get_mut(user_id) else {
            return Ok(false);
        };
        let before = list.len();
        list.retain(|n| n.id != id);
        Ok(list.len() != before)
    }

    async fn clear_all(&self, user_id: &str) -> StoreResult<usize> {
        Ok(self
            .state
            .lock()
            .notifications
            .remove(user_id)
            .map_or(0, |l| l.len()))
    }
}
