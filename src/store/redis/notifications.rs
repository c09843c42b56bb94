//! Notifications on Redis.
//!
//! | key | type | content | TTL |
//! | --- | --- | --- | --- |
//! | `P{u:ID}:notif` | zset | notification id → created ms | notification TTL, renewed on push |
//! | `P{u:ID}:notif:data` | hash | id → notification JSON | as above |
//! | `P{u:ID}:notif:read` | set | ids marked read | as above |
//!
//! All three share the user's hash tag; every operation is one script.

use std::sync::LazyLock;

use async_trait::async_trait;
use fred::prelude::*;
use fred::types::scripts::Script;

use super::{json, key_id, RedisStore};
use crate::notifications::{Notification, NotificationStore};
use crate::store::error::{StoreError, StoreResult};

impl RedisStore {
    fn notif_keys(&self, user_id: &str) -> Vec<String> {
        let base = format!("{}{{u:{}}}:notif", self.prefix, key_id(user_id));
        vec![base.clone(), format!("{base}:data"), format!("{base}:read")]
    }
}

/// Drops entries older than ARGV[cutoff index]; shared by the scripts.
const EXPIRE_OLD: &str = r#"
local function forget(ids)
  for _, id in ipairs(ids) do
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('SREM', KEYS[3], id)
  end
end
local function expire_old(cutoff)
  forget(redis.call('ZRANGE', KEYS[1], '-inf', '(' .. cutoff, 'BYSCORE'))
end
"#;

/// ARGV: id, createdMs, json, max, ttlSecs, cutoffMs.
static PUSH: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        r#"{EXPIRE_OLD}
expire_old(ARGV[6])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4])
if excess > 0 then forget(redis.call('ZRANGE', KEYS[1], 0, excess - 1)) end
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[5]) end
return 1"#
    ))
});

/// ARGV: limit, cutoffMs. Returns {json, read, json, read, ...} newest first.
static LIST: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        r#"{EXPIRE_OLD}
expire_old(ARGV[2])
local out = {{}}
for _, id in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)) do
  local j = redis.call('HGET', KEYS[2], id)
  if j then
    table.insert(out, j)
    table.insert(out, redis.call('SISMEMBER', KEYS[3], id))
  end
end
return out"#
    ))
});

/// ARGV: id. 1 when found.
static READ: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('SADD', KEYS[3], ARGV[1])
return 1"#,
    )
});

/// ARGV: id. 1 when found.
static CLEAR: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
return 1"#,
    )
});

/// Returns how many were cleared.
static CLEAR_ALL: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local n = redis.call('ZCARD', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return n"#,
    )
});

#[async_trait]
impl NotificationStore for RedisStore {
    async fn push(&self, user_id: &str, n: &Notification, max: usize, ttl: u64) -> StoreResult<()> {
        let json = json(n)?;
        let cutoff = crate::time::now_ms() - ttl as i64 * 1000;
        let args: Vec<Value> = vec![
            n.id.clone().into(),
            n.created_ms.into(),
            json.into(),
            (max as i64).into(),
            (ttl.max(1) as i64).into(),
            cutoff.into(),
        ];
        let _: i64 = self.eval(&PUSH, self.notif_keys(user_id), args).await?;
        Ok(())
    }

    async fn list(&self, user_id: &str, limit: usize, ttl: u64) -> StoreResult<Vec<Notification>> {
        let cutoff = crate::time::now_ms() - ttl as i64 * 1000;
        let out: Vec<Value> = self
            .eval(
                &LIST,
                self.notif_keys(user_id),
                vec![(limit as i64).into(), cutoff.into()],
            )
            .await?;
        let mut list = Vec::with_capacity(out.len() / 2);
        for pair in out.chunks(2) {
            let json = pair[0].as_string().unwrap_or_default();
            let mut n: Notification = serde_json::from_str(&json)
                .map_err(|e| StoreError::Internal(format!("stored notification: {e}")))?;
            n.read = pair.get(1).and_then(|v| v.as_i64()) == Some(1);
            list.push(n);
        }
        Ok(list)
    }

    async fn mark_read(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        let found: i64 = self
            .eval(&READ, self.notif_keys(user_id), vec![id.to_string().into()])
            .await?;
        Ok(found == 1)
    }

    async fn clear(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        let found: i64 = self
            .eval(
                &CLEAR,
                self.notif_keys(user_id),
                vec![id.to_string().into()],
            )
            .await?;
        Ok(found == 1)
    }

    async fn clear_all(&self, user_id: &str) -> StoreResult<usize> {
        let n: i64 = self
            .eval(&CLEAR_ALL, self.notif_keys(user_id), vec![])
            .await?;
        Ok(n as usize)
    }
}
