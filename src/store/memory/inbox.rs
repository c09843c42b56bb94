//! In memory: the offline inbox (`InboxStore`), mirroring `store/redis/inbox.rs`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::inbox::{InboxStore, Queued};
use crate::store::error::StoreResult;

use super::MemoryStore;

#[async_trait]
impl InboxStore for MemoryStore {
    async fn push_inbox(
        &self,
        user_id: &str,
        item: &Queued,
        max: usize,
        ttl_secs: u64,
    ) -> StoreResult<()> {
        let now = Instant::now();
        let mut st = self.state.lock();
        st.inbox.retain(|_, (_, expiry)| *expiry > now);
        let (list, expiry) = st
            .inbox
            .entry(user_id.to_string())
            .or_insert_with(|| (VecDeque::new(), now));
        list.push_back(item.clone());
        while list.len() > max {
            list.pop_front();
        }
        *expiry = now + Duration::from_secs(ttl_secs);
        Ok(())
    }

    async fn take_inbox(&self, user_id: &str) -> StoreResult<Vec<Queued>> {
        let now = Instant::now();
        let mut st = self.state.lock();
        Ok(match st.inbox.remove(user_id) {
            Some((list, expiry)) if expiry > now => list.into(),
            _ => Vec::new(),
        })
    }
}
