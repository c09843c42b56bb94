//! The GCRA limiter on Redis: one script, Redis's clock.
//!
//! | key | type | content | TTL |
//! | --- | --- | --- | --- |
//! | `P{rl:ACTION:SUBJECT}` | string | theoretical arrival time (ms, Redis clock) | until it is in the past |

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use fred::types::scripts::Script;

use super::{key_id, ms, RedisStore};
use crate::rate_limit::RateLimitStore;
use crate::store::error::StoreResult;

/// KEYS: key. ARGV: count, period ms. Returns 0 (allowed) or the wait in ms.
static GCRA: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local period = tonumber(ARGV[2])
local step = period / tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + step
local allow_at = new_tat - period
if now < allow_at then
  return math.max(1, math.ceil(allow_at - now))
end
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.max(1, math.ceil(new_tat - now)))
return 0
"#,
    )
});

#[async_trait]
impl RateLimitStore for RedisStore {
    async fn hit(&self, key: &str, count: u32, period: Duration) -> StoreResult<Option<Duration>> {
        let wait: i64 = self
            .eval(
                &GCRA,
                vec![format!("{}{{rl:{}}}", self.prefix, key_id(key))],
                vec![(count as i64).into(), ms(period)],
            )
            .await?;
        Ok((wait > 0).then(|| Duration::from_millis(wait as u64)))
    }
}
