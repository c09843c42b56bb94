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
        let mut st = self.state.lock();
        let Some((r, fresh, stale, used)) = st.cache.entries.get_mut(key) else {
            return Ok(None);
        };
        if now > *stale {
            return Ok(None);
        }
        // A hit is a use (the eviction order).
        *used = now;
        let f = if now <= *fresh {
            Freshness::Fresh
        } else {
            Freshness::Stale
        };
        Ok(Some((r.clone(), f)))
    }

    async fn cache_put(
        &self,
        key: &str,
        replies: &str,
        ttl: Duration,
        stale: Duration,
        max: usize,
    ) -> StoreResult<u64> {
        let now = Instant::now();
        let mut st = self.state.lock();
        let entries = &mut st.cache.entries;
        // At most `max` + 1 entries: the scans are bounded by the bound.
        entries.retain(|_, (_, _, until, _)| *until >= now);
        entries.insert(
            key.to_string(),
            (replies.to_string(), now + ttl, now + ttl + stale, now),
        );
        let mut evicted = 0;
        while entries.len() > max.max(1) {
            let oldest = entries
                .iter()
                .min_by_key(|(_, (_, _, _, used))| *used)
                .map(|(k, _)| k.clone());
            let Some(oldest) = oldest else { break };
            entries.remove(&oldest);
            evicted += 1;
        }
        Ok(evicted)
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
        s.in_flight = st
            .cache
            .leads
            .values()
            .filter(|(until, _)| *until > now)
            .count() as u64;
        s.entries = st
            .cache
            .entries
            .values()
            .filter(|(_, _, until, _)| *until >= now)
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

    async fn cache_log_invalidation(&self, entry: &str, keep: usize) -> StoreResult<()> {
        let mut st = self.state.lock();
        let log = &mut st.cache.invalidations;
        log.push_front(entry.to_string());
        log.truncate(keep);
        Ok(())
    }

    async fn cache_invalidations(&self, limit: usize) -> StoreResult<Vec<String>> {
        let st = self.state.lock();
        Ok(st.cache.invalidations.iter().take(limit).cloned().collect())
    }
}
