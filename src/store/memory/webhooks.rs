//! In memory: the durable webhook queue (`WebhookQueue`), mirroring
//! `store/redis/webhooks.rs`.
//!
//! Every collection is a [`Timed`] index (by id, and ordered by due time,
//! lease expiry or expiry), so that claiming, acking and expiring cost
//! O(log n) whatever the backlog or the number of correlation ids kept:
//! nothing scans the whole queue or every correlation id of the reply
//! window.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::store::error::StoreResult;
use crate::webhooks::queue::{Delivery, Depths, WebhookQueue};

use super::MemoryStore;

/// Most correlation records kept: past it, the ones that expire first go
/// (a bound on memory however high the rate; Redis bounds them by TTL).
pub(super) const MAX_CORRELATIONS: usize = 1_000_000;

#[derive(Default)]
pub(super) struct WebhookState {
    /// Waiting, by due time.
    ready: Timed<Delivery>,
    /// Claimed, by lease expiry.
    inflight: Timed<Delivery>,
    dead: VecDeque<serde_json::Value>,
    /// correlation id → what answering it needs, by expiry.
    corr: Timed<Delivery>,
    /// Answered correlation ids, by expiry.
    answered: Timed<()>,
}

/// Values by id, each with a time, ordered by that time.
pub(super) struct Timed<V> {
    by_id: HashMap<String, (V, Instant)>,
    by_time: BTreeSet<(Instant, String)>,
    /// Entries looked at by [`Timed::expire`] and [`Timed::pop_due`] over
    /// the index's life: what the O(1)-per-operation test counts.
    visited: u64,
}

impl<V> Default for Timed<V> {
    fn default() -> Self {
        Self {
            by_id: HashMap::new(),
            by_time: BTreeSet::new(),
            visited: 0,
        }
    }
}

impl<V> Timed<V> {
    fn insert(&mut self, id: String, v: V, at: Instant) {
        if let Some((_, old)) = self.by_id.insert(id.clone(), (v, at)) {
            self.by_time.remove(&(old, id.clone()));
        }
        self.by_time.insert((at, id));
    }

    fn remove(&mut self, id: &str) -> Option<(V, Instant)> {
        let (v, at) = self.by_id.remove(id)?;
        self.by_time.remove(&(at, id.to_string()));
        Some((v, at))
    }

    fn get(&self, id: &str) -> Option<&(V, Instant)> {
        self.by_id.get(id)
    }

    /// The value of `id` if its time is after `now` (not expired yet).
    fn live(&self, id: &str, now: Instant) -> Option<&V> {
        self.by_id
            .get(id)
            .filter(|(_, until)| *until > now)
            .map(|(v, _)| v)
    }

    fn len(&self) -> usize {
        self.by_id.len()
    }

    /// The entry with the earliest time, if that time is not after `now`.
    fn pop_due(&mut self, now: Instant) -> Option<(String, V)> {
        let (at, _) = self.by_time.first()?;
        if *at > now {
            return None;
        }
        self.visited += 1;
        let (_, id) = self.by_time.pop_first()?;
        let (v, _) = self.by_id.remove(&id)?;
        Some((id, v))
    }

    /// Drops the entries whose time is not after `now`.
    fn expire(&mut self, now: Instant) {
        while self.pop_due(now).is_some() {}
    }

    /// Drops the earliest entries until at most `max` are left.
    fn cap(&mut self, max: usize) {
        while self.len() > max {
            let Some((_, id)) = self.by_time.pop_first() else {
                return;
            };
            self.visited += 1;
            self.by_id.remove(&id);
        }
    }
}

#[async_trait]
impl WebhookQueue for MemoryStore {
    async fn enqueue(&self, d: &Delivery, max: usize) -> StoreResult<bool> {
        let mut st = self.state.lock();
        let w = &mut st.webhooks;
        if max > 0 && w.ready.len() + w.inflight.len() >= max {
            return Ok(false);
        }
        w.ready.insert(d.id.clone(), d.clone(), Instant::now());
        Ok(true)
    }

    async fn claim(&self, max: usize, lease: Duration) -> StoreResult<Vec<Delivery>> {
        let now = Instant::now();
        let mut st = self.state.lock();
        let w = &mut st.webhooks;
        // Expired leases first (their node died), then what is due, as on
        // Redis.
        let mut out = Vec::new();
        while out.len() < max {
            match w.inflight.pop_due(now).or_else(|| w.ready.pop_due(now)) {
                Some((id, d)) => {
                    w.inflight.insert(id, d.clone(), now + lease);
                    out.push(d);
                }
                None => break,
            }
        }
        Ok(out)
    }

    async fn ack(&self, id: &str) -> StoreResult<()> {
        self.state.lock().webhooks.inflight.remove(id);
        Ok(())
    }

    async fn retry(&self, d: &Delivery, delay: Duration) -> StoreResult<()> {
        let mut st = self.state.lock();
        st.webhooks.inflight.remove(&d.id);
        st.webhooks
            .ready
            .insert(d.id.clone(), d.clone(), Instant::now() + delay);
        Ok(())
    }

    async fn dead_letter(&self, d: &Delivery, error: &str, max_dead: usize) -> StoreResult<()> {
        let mut st = self.state.lock();
        st.webhooks.inflight.remove(&d.id);
        let entry =
            serde_json::json!({ "delivery": d, "error": error, "at": crate::time::now_rfc3339() });
        st.webhooks.dead.push_front(entry);
        st.webhooks.dead.truncate(max_dead);
        Ok(())
    }

    async fn dead_letters(&self, limit: usize) -> StoreResult<Vec<serde_json::Value>> {
        let st = self.state.lock();
        Ok(st.webhooks.dead.iter().take(limit).cloned().collect())
    }

    async fn take_dead(&self, id: &str) -> StoreResult<Option<serde_json::Value>> {
        let mut st = self.state.lock();
        let dead = &mut st.webhooks.dead;
        // At most SB's 10,000 dead letters, for an admin action.
        let at = dead.iter().position(|e| e["delivery"]["id"] == id);
        Ok(at.and_then(|i| dead.remove(i)))
    }

    async fn depths(&self) -> StoreResult<Depths> {
        let st = self.state.lock();
        let now = Instant::now();
        let oldest = st.webhooks.ready.by_time.first().map(|(at, _)| *at);
        Ok(Depths {
            ready: st.webhooks.ready.len(),
            in_flight: st.webhooks.inflight.len(),
            dead: st.webhooks.dead.len(),
            oldest_wait_ms: oldest
                .map_or(0, |at| now.saturating_duration_since(at).as_millis() as u64),
        })
    }

    async fn remember(&self, d: &Delivery, ttl: Duration) -> StoreResult<()> {
        let now = Instant::now();
        let mut st = self.state.lock();
        let corr = &mut st.webhooks.corr;
        corr.expire(now);
        corr.insert(d.correlation_id.clone(), d.clone(), now + ttl);
        corr.cap(MAX_CORRELATIONS);
        Ok(())
    }

    async fn recall(&self, corr: &str) -> StoreResult<Option<Delivery>> {
        let st = self.state.lock();
        let w = &st.webhooks;
        if let Some(d) = w.corr.live(corr, Instant::now()) {
            return Ok(Some(d.clone()));
        }
        // Not sent yet, or in flight: the queue holds it.
        let Some(id) = crate::webhooks::queue::delivery_id_of(corr) else {
            return Ok(None);
        };
        let queued = w.ready.get(id).or_else(|| w.inflight.get(id));
        let found = queued
            .map(|(d, _)| d.clone())
            .filter(|d| d.correlation_id == corr);
        Ok(found)
    }

    async fn mark_answered(&self, corr: &str, ttl: Duration) -> StoreResult<bool> {
        let now = Instant::now();
        let mut st = self.state.lock();
        let w = &mut st.webhooks;
        w.answered.expire(now);
        if w.answered.get(corr).is_some() {
            return Ok(false);
        }
        w.answered.insert(corr.to_string(), (), now + ttl);
        w.answered.cap(MAX_CORRELATIONS);
        // Answered: only the mark is needed from now on.
        w.corr.remove(corr);
        Ok(true)
    }

    async fn is_answered(&self, corr: &str) -> StoreResult<bool> {
        let st = self.state.lock();
        Ok(st.webhooks.answered.live(corr, Instant::now()).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::queue::WebhookQueue;

    fn delivery(i: usize) -> Delivery {
        Delivery {
            session: None,
            id: format!("d{i}"),
            correlation_id: format!("corr{i}"),
            event: "message:new".into(),
            chat_id: Some("c".into()),
            bot_id: Some("bot".into()),
            sender_id: Some("u".into()),
            data: serde_json::Value::Null,
            attempt: 0,
            created_ms: 0,
            cache_key: None,
            refresh: false,
            traceparent: None,
        }
    }

    /// A long run of round trips: the correlation store's work per
    /// operation stays constant (entries looked at, not time), and what it
    /// keeps is bounded by the window.
    #[tokio::test]
    async fn correlation_records_cost_constant_work_per_round_trip() {
        let s = MemoryStore::default();
        let window = Duration::from_millis(20);
        let n = 20_000;
        for i in 0..n {
            let d = delivery(i);
            s.remember(&d, window).await.unwrap();
            assert!(s.mark_answered(&d.correlation_id, window).await.unwrap());
            if i % 5_000 == 4_999 {
                // Let the window pass now and then: what expired goes.
                tokio::time::sleep(window * 2).await;
            }
        }
        let st = s.state.lock();
        let w = &st.webhooks;
        // Each record is looked at once when it expires or is capped,
        // never again: at most one visit per round trip and index.
        assert!(
            w.corr.visited + w.answered.visited <= 2 * n as u64,
            "{} visits for {n} round trips",
            w.corr.visited + w.answered.visited
        );
        assert_eq!(w.corr.len(), 0, "answered records are dropped at once");
        assert!(
            w.answered.len() <= 5_000,
            "only the current window's marks are kept: {}",
            w.answered.len()
        );
    }

    #[tokio::test]
    async fn correlation_records_are_capped() {
        let s = MemoryStore::default();
        let mut st = s.state.lock();
        let now = Instant::now();
        for i in 0..10 {
            st.webhooks.corr.insert(
                format!("c{i}"),
                delivery(i),
                now + Duration::from_secs(i as u64),
            );
        }
        st.webhooks.corr.cap(4);
        assert_eq!(st.webhooks.corr.len(), 4);
        assert!(
            st.webhooks.corr.get("c5").is_none(),
            "the earliest go first"
        );
        assert!(st.webhooks.corr.get("c9").is_some());
    }

    #[tokio::test]
    async fn a_backlog_is_claimed_in_due_order_with_expired_leases_first() {
        let s = MemoryStore::default();
        for i in 0..1_000 {
            s.enqueue(&delivery(i), 0).await.unwrap();
        }
        let lease = Duration::from_millis(1);
        let first = s.claim(3, lease).await.unwrap();
        let ids: Vec<&str> = first.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["d0", "d1", "d2"]);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let next = s.claim(4, Duration::from_secs(60)).await.unwrap();
        let ids: Vec<&str> = next.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(
            ids,
            ["d0", "d1", "d2", "d3"],
            "expired leases, then the queue"
        );
        let mut claimed = 4;
        loop {
            let b = s.claim(100, Duration::from_secs(60)).await.unwrap();
            if b.is_empty() {
                break;
            }
            claimed += b.len();
        }
        assert_eq!(claimed, 1_000);
        let st = s.state.lock();
        assert!(
            st.webhooks.ready.visited + st.webhooks.inflight.visited <= 1_000 + 3,
            "each delivery looked at once per claim"
        );
    }
}
