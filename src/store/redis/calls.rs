//! Calls on Redis.
//!
//! | key | type | content | TTL |
//! | --- | --- | --- | --- |
//! | `P{call:ID}` | hash | `v` (version), `json` (the call) | `SB_CALL_MAX_SECS`, renewed on change |
//! | `Pcalltimers` | zset | call id → ring deadline (ms, Redis clock) | none (entries removed when handled) |
//! | `P{u:ID}:calls` | list | call-history entries (JSON), newest first | none, `SB_CALL_HISTORY_MAX` entries |
//!
//! Every change is a compare-and-set on `v` in one script.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::*;
use fred::types::scripts::Script;

use super::presence::NOW;
use super::{json, key_id, map_err, ms, parse_all, RedisStore};
use crate::calls::{Call, CallStore, HistoryEntry};
use crate::store::error::{StoreError, StoreResult};

impl RedisStore {
    fn call_key(&self, id: &str) -> String {
        format!("{}{{call:{}}}", self.prefix, key_id(id))
    }
    fn call_timers_key(&self) -> String {
        format!("{}calltimers", self.prefix)
    }
    fn call_history_key(&self, user: &str) -> String {
        format!("{}{{u:{}}}:calls", self.prefix, key_id(user))
    }
}

/// KEYS: call. ARGV: json, ttl ms. 1 when created.
static CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', 0, 'json', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"#,
    )
});

/// KEYS: call. ARGV: expected version, json, ttl ms. 1 when replaced.
static UPDATE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local v = redis.call('HGET', KEYS[1], 'v')
if (not v) or tonumber(v) ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', tonumber(v) + 1, 'json', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"#,
    )
});

/// KEYS: timers. ARGV: id, delay ms.
static SCHEDULE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        "{NOW}return redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])"
    ))
});

/// KEYS: timers. ARGV: lease ms, limit. Claims due entries.
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        r#"{NOW}
local due = redis.call('ZRANGE', KEYS[1], '-inf', now, 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(due) do redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), id) end
return due
"#
    ))
});

#[async_trait]
impl CallStore for RedisStore {
    async fn create_call(&self, call: &Call, ttl: Duration) -> StoreResult<bool> {
        let n: i64 = self
            .eval(
                &CREATE,
                vec![self.call_key(&call.id)],
                vec![json(call)?.into(), ms(ttl)],
            )
            .await?;
        Ok(n == 1)
    }

    async fn get_call(&self, id: &str) -> StoreResult<Option<Call>> {
        let (v, body): (Option<u64>, Option<String>) = self
            .client
            .hmget(self.call_key(id), vec!["v", "json"])
            .await
            .map_err(map_err)?;
        let (Some(v), Some(body)) = (v, body) else {
            return Ok(None);
        };
        let mut call: Call =
            serde_json::from_str(&body).map_err(|e| StoreError::Internal(e.to_string()))?;
        call.version = v;
        Ok(Some(call))
    }

    async fn update_call(&self, call: &Call, ttl: Duration) -> StoreResult<bool> {
        let n: i64 = self
            .eval(
                &UPDATE,
                vec![self.call_key(&call.id)],
                vec![(call.version as i64).into(), json(call)?.into(), ms(ttl)],
            )
            .await?;
        Ok(n == 1)
    }

    async fn schedule_call(&self, id: &str, delay: Duration) -> StoreResult<()> {
        let _: i64 = self
            .eval(
                &SCHEDULE,
                vec![self.call_timers_key()],
                vec![id.to_string().into(), ms(delay)],
            )
            .await?;
        Ok(())
    }

    async fn take_due_calls(&self, limit: usize, lease: Duration) -> StoreResult<Vec<String>> {
        self.eval(
            &TAKE,
            vec![self.call_timers_key()],
            vec![ms(lease), (limit as i64).into()],
        )
        .await
    }

    async fn unschedule_call(&self, id: &str) -> StoreResult<()> {
        let _: i64 = self
            .client
            .zrem(self.call_timers_key(), id)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn push_history(
        &self,
        user_id: &str,
        entry: &HistoryEntry,
        max: usize,
    ) -> StoreResult<()> {
        let key = self.call_history_key(user_id);
        let p = self.client.pipeline();
        let _: () = p.lpush(&key, json(entry)?).await.map_err(map_err)?;
        let _: () = p.ltrim(&key, 0, max as i64 - 1).await.map_err(map_err)?;
        let _: Vec<Value> = p.all().await.map_err(map_err)?;
        Ok(())
    }

    async fn history(&self, user_id: &str, limit: usize) -> StoreResult<Vec<HistoryEntry>> {
        let all: Vec<String> = self
            .client
            .lrange(self.call_history_key(user_id), 0, limit as i64 - 1)
            .await
            .map_err(map_err)?;
        Ok(parse_all(&all))
    }
}
