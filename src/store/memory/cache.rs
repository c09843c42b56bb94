//! In memory: the reply cache (`ReplyCacheStore`), mirroring `store/redis/webhooks.rs`.

use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::store::error::StoreResult;
use crate::webhooks::cache::{Counter, Freshness, ReplyCacheStore, Stats, Waiter};

use super::MemoryStore;

#[async_trait]
impl ReplyCacheStore for MemoryStore {
    async fn cache_get(&self, key: &str) -> StoreResult<Option<(String, Freshness)>> {
        let now = Instant::now();
        let st = self.state.lock();
        Ok(st.cache.entries.get(key).and_then(|(r, fresh, stale)| {
            if now <= *fresh {
                Some((r.clone(), Freshness::Fresh))
            } else if now <= *stale {
                Some((r.clone(), Freshness::Stale))
            } else {
                None
            }
        }))
    }

    async fn cache_put(
        &self,
        key: &str,
        replies: &str,
        ttl: Duration,
        stale: Duration,
    ) -> StoreResult<()> {
        let now = Instant::now();
        let mut st = self.state.lock();
        st.cache.entries.retain(|_, (_, _, until)| *until >= now);
        st.cache.entries.insert(
            key.to_string(),
            (replies.to_string(), now + ttl, now + ttl + stale),
        );
        Ok(())
    }

    async fn cache_refresh_lock(&self, key: &str, ttl: Duration) -> StoreResult<bool> {
        let now = Instant::now();
        let mut st = self.state.lock();
        st.cache.refresh.retain(|_, until| *until > now);
        if st.cache.refresh.contains_key(key) {
            return Ok(false);
        }
        st.cache.refresh.insert(key.to_string(), now + ttl);
        Ok(true)
    }

    async fn cache_lead(&self, key: &str, ttl: Duration) -> StoreResult<bool> {
        let now = Instant::now();
        let mut st = self.state.lock();
        st.cache.leads.retain(|_, (until, _)| *until > now);
        if st.cache.leads.contains_key(key) {
            return Ok(false);
        }
        st.cache
            .leads
            .insert(key.to_string(), (now + ttl, Vec::new()));
        Ok(true)
    }

    async fn cache_wait(&self, key: &str, waiter: &Waiter) -> StoreResult<bool> {
        let now = Instant::now();
        let mut st = self.state.lock();
        match st.cache.leads.get_mut(key) {
            Some((until, waiters)) if *until > now => {
                waiters.push(waiter.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn cache_finish(&self, key: &str) -> StoreResult<Vec<Waiter>> {
        let mut st = self.state.lock();
        Ok(st
            .cache
            .leads
            .remove(key)
            .map(|(_, w)| w)
            .unwrap_or_default())
    }

    async fn cache_count(&self, counter: Counter) -> StoreResult<()> {
        let mut st = self.state.lock();
        let s = &mut st.cache.stats;
        match counter {
            Counter::Hit => s.hits += 1,
            Counter::Miss => s.misses += 1,
            Counter::Stale => s.stale += 1,
        }
        Ok(())
    }

    async fn cache_stats(&self) -> StoreResult<Stats> {
        let now = Instant::now();
        let st = self.state.lock();
        let mut s = st.cache.stats.clone();
        s.entries = st
            .cache
            .entries
            .values()
            .filter(|(_, _, until)| *until >= now)
            .count() as u64;
        Ok(s)
    }

    async fn cache_invalidate(&self, key: Option<&str>, prefix: Option<&str>) -> StoreResult<u64> {
        let mut st = self.state.lock();
        let before = st.cache.entries.len();
        st.cache.entries.retain(|k, _| match (key, prefix) {
            (Some(key), _) => k != key,
            (None, Some(p)) => !k.starts_with(p),
            (None, None) => true,
        });
        Ok((before - st.cache.entries.len()) as u64)
    }
}
