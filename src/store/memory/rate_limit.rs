//! In memory: GCRA rate limits (`RateLimitStore`), mirroring `store/redis/rate_limit.rs`.

use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::store::error::StoreResult;

use super::MemoryStore;

/// A monotonic millisecond clock for the in-process limiter.
fn mono_ms() -> f64 {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_secs_f64() * 1000.0
}

#[async_trait]
impl crate::rate_limit::RateLimitStore for MemoryStore {
    async fn hit(&self, key: &str, count: u32, period: Duration) -> StoreResult<Option<Duration>> {
        // The same GCRA as the Redis script.
        let now = mono_ms();
        let period = period.as_secs_f64() * 1000.0;
        let step = period / f64::from(count);
        let mut st = self.state.lock();
        if st.rate.len() > 100_000 {
            st.rate.retain(|_, tat| *tat > now);
        }
        let tat = st.rate.get(key).copied().unwrap_or(now).max(now);
        let new_tat = tat + step;
        let allow_at = new_tat - period;
        if now < allow_at {
            return Ok(Some(Duration::from_millis(
                (allow_at - now).ceil().max(1.0) as u64,
            )));
        }
        st.rate.insert(key.to_string(), new_tat);
        Ok(None)
    }
}
