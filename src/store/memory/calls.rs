//! In memory: call state, ring deadlines and history (`CallStore`), mirroring `store/redis/calls.rs`.

use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::calls::{Call, CallStore, HistoryEntry};
use crate::store::error::StoreResult;

use super::MemoryStore;

#[async_trait]
impl CallStore for MemoryStore {
    async fn create_call(&self, call: &Call, ttl: Duration) -> StoreResult<bool> {
        let now = Instant::now();
        let mut st = self.state.lock();
        st.calls.retain(|_, (_, expiry)| *expiry > now);
        if st.calls.contains_key(&call.id) {
            return Ok(false);
        }
        let mut c = call.clone();
        c.version = 0;
        st.calls.insert(call.id.clone(), (c, now + ttl));
        Ok(true)
    }

    async fn get_call(&self, id: &str) -> StoreResult<Option<Call>> {
        let now = Instant::now();
        let st = self.state.lock();
        Ok(st
            .calls
            .get(id)
            .filter(|(_, expiry)| *expiry > now)
            .map(|(c, _)| c.clone()))
    }

    async fn update_call(&self, call: &Call, ttl: Duration) -> StoreResult<bool> {
        let now = Instant::now();
        let mut st = self.state.lock();
        match st.calls.get_mut(&call.id) {
            Some((c, expiry)) if *expiry > now && c.version == call.version => {
                *c = call.clone();
                c.version += 1;
                *expiry = now + ttl;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn schedule_call(&self, id: &str, delay: Duration) -> StoreResult<()> {
        self.state
            .lock()
            .call_timers
            .insert(id.to_string(), Instant::now() + delay);
        Ok(())
    }

    async fn take_due_calls(&self, limit: usize, lease: Duration) -> StoreResult<Vec<String>> {
        let now = Instant::now();
        let mut st = self.state.lock();
        let due: Vec<String> = st
            .call_timers
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| id.clone())
            .take(limit)
            .collect();
        for id in &due {
            st.call_timers.insert(id.clone(), now + lease);
        }
        Ok(due)
    }

    async fn unschedule_call(&self, id: &str) -> StoreResult<()> {
        self.state.lock().call_timers.remove(id);
        Ok(())
    }

    async fn push_history(
        &self,
        user_id: &str,
        entry: &HistoryEntry,
        max: usize,
    ) -> StoreResult<()> {
        let mut st = self.state.lock();
        let list = st.call_history.entry(user_id.to_string()).or_default();
        list.push_front(entry.clone());
        list.truncate(max);
        Ok(())
    }

    async fn history(&self, user_id: &str, limit: usize) -> StoreResult<Vec<HistoryEntry>> {
        let st = self.state.lock();
        Ok(st
            .call_history
            .get(user_id)
            .map(|l| l.iter().take(limit).cloned().collect())
            .unwrap_or_default())
    }
}
