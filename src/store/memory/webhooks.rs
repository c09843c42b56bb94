//! In memory: the durable webhook queue (`WebhookQueue`), mirroring `store/redis/webhooks.rs`.

use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::store::error::StoreResult;
use crate::webhooks::queue::{Delivery, Depths, WebhookQueue};

use super::MemoryStore;

#[async_trait]
impl WebhookQueue for MemoryStore {
    async fn enqueue(&self, d: &Delivery) -> StoreResult<()> {
        let mut st = self.state.lock();
        st.webhooks
            .ready
            .insert(d.id.clone(), (d.clone(), Instant::now()));
        Ok(())
    }

    async fn claim(&self, max: usize, lease: Duration) -> StoreResult<Vec<Delivery>> {
        let now = Instant::now();
        let mut st = self.state.lock();
        let w = &mut st.webhooks;
        let mut due: Vec<(Instant, String)> = w
            .inflight
            .iter()
            .filter(|(_, (_, until))| *until <= now)
            .map(|(id, (_, until))| (*until, id.clone()))
            .collect();
        let mut ready: Vec<(Instant, String)> = w
            .ready
            .iter()
            .filter(|(_, (_, at))| *at <= now)
            .map(|(id, (_, at))| (*at, id.clone()))
            .collect();
        ready.sort();
        due.sort();
        due.extend(ready);
        due.truncate(max);
        let mut out = Vec::new();
        for (_, id) in due {
            let d = match w.ready.remove(&id) {
                Some((d, _)) => d,
                None => match w.inflight.remove(&id) {
                    Some((d, _)) => d,
                    None => continue,
                },
            };
            w.inflight.insert(id, (d.clone(), now + lease));
            out.push(d);
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
            .insert(d.id.clone(), (d.clone(), Instant::now() + delay));
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

    async fn depths(&self) -> StoreResult<Depths> {
        let st = self.state.lock();
        Ok(Depths {
            ready: st.webhooks.ready.len(),
            in_flight: st.webhooks.inflight.len(),
            dead: st.webhooks.dead.len(),
        })
    }

    async fn remember(&self, d: &Delivery, ttl: Duration) -> StoreResult<()> {
        let now = Instant::now();
        let mut st = self.state.lock();
        st.webhooks.corr.retain(|_, (_, until)| *until > now);
        st.webhooks
            .corr
            .insert(d.correlation_id.clone(), (d.clone(), now + ttl));
        Ok(())
    }

    async fn recall(&self, corr: &str) -> StoreResult<Option<Delivery>> {
        let now = Instant::now();
        let st = self.state.lock();
        Ok(st
            .webhooks
            .corr
            .get(corr)
            .filter(|(_, until)| *until > now)
            .map(|(d, _)| d.clone()))
    }

    async fn mark_answered(&self, corr: &str, ttl: Duration) -> StoreResult<bool> {
        let now = Instant::now();
        let mut st = self.state.lock();
        st.webhooks.answered.retain(|_, until| *until > now);
        if st.webhooks.answered.contains_key(corr) {
            return Ok(false);
        }
        st.webhooks.answered.insert(corr.to_string(), now + ttl);
        Ok(true)
    }
}
