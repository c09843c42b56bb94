//! The webhook delivery queue on Redis (the reply cache's keys, listed
//! here too, are in `cache.rs`).
//!
//! | key | type | content | TTL |
//! | --- | --- | --- | --- |
//! | `P{wh}:ready` | zset | delivery id → when due (ms, Redis clock) | none |
//! | `P{wh}:inflight` | zset | delivery id → lease expiry (ms) | none |
//! | `P{wh}:d` | hash | delivery id → delivery JSON | none (removed on ack) |
//! | `P{wh}:dead` | list | `{ delivery, error, at }`, newest first | none, 10,000 entries |
//! | `P{wh:c:CORR}` | string | what answering a correlation id needs (its delivery without the event data), written once the delivery was sent and not answered at once, or dead-lettered (before, `d` holds it: a correlation id is `corr_` + its delivery id), deleted when answered | the reply window (`SB_WEBHOOK_REPLY_WINDOW_SECS`) |
//! | `P{wh:c:CORR}:done` | string | set once the correlation id was answered | the reply window |
//! | `P{rc:H}` | hash | `key`, `replies`, `fresh`, `stale` (ms) of a reply-cache entry | TTL + stale window |
//! | `P{rc:H}:lead`, `:waiters`, `:refresh` | string, list, string | the leading request, the identical requests waiting, the refresh lock | lead time |
//! | `Prc:index` | zset | cache key → end of its stale window (ms) | none (pruned on put) |
//! | `Prc:stats` | hash | `hits`, `misses`, `stale` | none |
//!
//! `H` is the SHA-256 of the cache key (hex, 32 characters). The queue's
//! keys share the `{wh}` slot so that each step is one script.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::*;
use fred::types::scripts::Script;
use fred::types::Expiration;
use serde_json::json;

use super::presence::NOW;
use super::{json, key_id, map_err, ms, parse_all, RedisStore};
use crate::store::error::StoreResult;
use crate::webhooks::queue::{delivery_id_of, Delivery, Depths, WebhookQueue};

impl RedisStore {
    fn wh(&self, part: &str) -> String {
        format!("{}{{wh}}:{part}", self.prefix)
    }
    fn corr_key(&self, corr: &str) -> String {
        format!("{}{{wh:c:{}}}", self.prefix, key_id(corr))
    }
}

/// KEYS: ready, d, inflight. ARGV: id, json, max (0 = unbounded).
/// Returns 1 when queued, 0 when `max` deliveries already wait or are in
/// flight.
static ENQUEUE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        r#"{NOW}
local max = tonumber(ARGV[3])
if max > 0 and redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[3]) >= max then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
return 1
"#
    ))
});

/// KEYS: ready, inflight, dead. Returns {ready, inFlight, dead, ms the
/// earliest due delivery has waited (0: none due)}.
static DEPTHS: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        r#"{NOW}
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = 0
if first[2] and tonumber(first[2]) < now then wait = now - tonumber(first[2]) end
return {{redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2]), redis.call('LLEN', KEYS[3]), wait}}
"#
    ))
});

/// KEYS: ready, inflight, d. ARGV: max, lease ms. Returns delivery JSONs.
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        r#"{NOW}
local max = tonumber(ARGV[1])
local ids = redis.call('ZRANGE', KEYS[2], '-inf', now, 'BYSCORE', 'LIMIT', 0, max)
if #ids < max then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1], '-inf', now, 'BYSCORE', 'LIMIT', 0, max - #ids)) do
    table.insert(ids, id)
  end
end
local out = {{}}
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local body = redis.call('HGET', KEYS[3], id)
  if body then
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), id)
    table.insert(out, body)
  else
    redis.call('ZREM', KEYS[2], id)
  end
end
return out
"#
    ))
});

/// KEYS: ready, inflight, d. ARGV: id, json, delay ms.
static RETRY: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        "{NOW}redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])\n\
         redis.call('ZREM', KEYS[2], ARGV[1])\n\
         return redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])"
    ))
});

/// KEYS: inflight, d, dead. ARGV: id, entry json, max dead.
static DEAD: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('LPUSH', KEYS[3], ARGV[2])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[3]) - 1)
return 1
"#,
    )
});

#[async_trait]
impl WebhookQueue for RedisStore {
    async fn enqueue(&self, d: &Delivery, max: usize) -> StoreResult<bool> {
        let queued: i64 = self
            .eval(
                &ENQUEUE,
                vec![self.wh("ready"), self.wh("d"), self.wh("inflight")],
                vec![d.id.clone().into(), json(d)?.into(), (max as i64).into()],
            )
            .await?;
        Ok(queued == 1)
    }

    async fn claim(&self, max: usize, lease: Duration) -> StoreResult<Vec<Delivery>> {
        let all: Vec<String> = self
            .eval(
                &CLAIM,
                vec![self.wh("ready"), self.wh("inflight"), self.wh("d")],
                vec![(max as i64).into(), ms(lease)],
            )
            .await?;
        Ok(parse_all(&all))
    }

    async fn ack(&self, id: &str) -> StoreResult<()> {
        let p = self.client.pipeline();
        let _: () = p.zrem(self.wh("inflight"), id).await.map_err(map_err)?;
        let _: () = p.hdel(self.wh("d"), id).await.map_err(map_err)?;
        let _: Vec<Value> = p.all().await.map_err(map_err)?;
        Ok(())
    }

    async fn retry(&self, d: &Delivery, delay: Duration) -> StoreResult<()> {
        let _: i64 = self
            .eval(
                &RETRY,
                vec![self.wh("ready"), self.wh("inflight"), self.wh("d")],
                vec![d.id.clone().into(), json(d)?.into(), ms(delay)],
            )
            .await?;
        Ok(())
    }

    async fn dead_letter(&self, d: &Delivery, error: &str, max_dead: usize) -> StoreResult<()> {
        let entry = json!({ "delivery": d, "error": error, "at": crate::time::now_rfc3339() });
        let _: i64 = self
            .eval(
                &DEAD,
                vec![self.wh("inflight"), self.wh("d"), self.wh("dead")],
                vec![
                    d.id.clone().into(),
                    entry.to_string().into(),
                    (max_dead as i64).into(),
                ],
            )
            .await?;
        Ok(())
    }

    async fn dead_letters(&self, limit: usize) -> StoreResult<Vec<serde_json::Value>> {
        let all: Vec<String> = self
            .client
            .lrange(self.wh("dead"), 0, limit as i64 - 1)
            .await
            .map_err(map_err)?;
        Ok(parse_all(&all))
    }

    async fn take_dead(&self, id: &str) -> StoreResult<Option<serde_json::Value>> {
        // Delivery ids are generated hex; anything else names nothing
        // (and could not be matched safely).
        if !crate::webhooks::queue::is_delivery_id(id) {
            return Ok(None);
        }
        let found: Option<String> = self
            .eval(
                &TAKE_DEAD,
                vec![self.wh("dead")],
                vec![format!("\"id\":\"{id}\"").into()],
            )
            .await?;
        Ok(found.and_then(|j| serde_json::from_str(&j).ok()))
    }

    async fn depths(&self) -> StoreResult<Depths> {
        let n: Vec<i64> = self
            .eval(
                &DEPTHS,
                vec![self.wh("ready"), self.wh("inflight"), self.wh("dead")],
                vec![],
            )
            .await?;
        let at = |i: usize| n.get(i).copied().unwrap_or(0).max(0) as usize;
        Ok(Depths {
            ready: at(0),
            in_flight: at(1),
            dead: at(2),
            oldest_wait_ms: at(3) as u64,
        })
    }

    async fn remember(&self, d: &Delivery, ttl: Duration) -> StoreResult<()> {
        let _: () = self
            .client
            .set(
                self.corr_key(&d.correlation_id),
                json(d)?,
                Some(Expiration::PX(ttl.as_millis() as i64)),
                None,
                false,
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn recall(&self, corr: &str) -> StoreResult<Option<Delivery>> {
        let v: Option<String> = self
            .client
            .get(self.corr_key(corr))
            .await
            .map_err(map_err)?;
        if let Some(j) = v {
            return Ok(serde_json::from_str(&j).ok());
        }
        // Not sent yet, or in flight: the queue holds it.
        let Some(id) = delivery_id_of(corr) else {
            return Ok(None);
        };
        let v: Option<String> = self.client.hget(self.wh("d"), id).await.map_err(map_err)?;
        Ok(v.and_then(|j| serde_json::from_str::<Delivery>(&j).ok())
            .filter(|d| d.correlation_id == corr))
    }

    async fn mark_answered(&self, corr: &str, ttl: Duration) -> StoreResult<bool> {
        let key = self.corr_key(corr);
        let first: i64 = self
            .eval(&ANSWER, vec![format!("{key}:done"), key], vec![ms(ttl)])
            .await?;
        Ok(first == 1)
    }

    async fn is_answered(&self, corr: &str) -> StoreResult<bool> {
        let n: i64 = self
            .client
            .exists(format!("{}:done", self.corr_key(corr)))
            .await
            .map_err(map_err)?;
        Ok(n > 0)
    }
}

/// KEYS: dead. ARGV: `"id":"<delivery id>"`. Removes and returns the
/// first dead letter whose JSON holds that field (a delivery's id is a
/// generated hex string, found only in its own entry; a quote inside any
/// string value is escaped, so message text cannot match). At most the
/// list's 10,000 entries are read, for an admin action.
static TAKE_DEAD: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
for _, v in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if string.find(v, ARGV[1], 1, true) then
    redis.call('LREM', KEYS[1], 1, v)
    return v
  end
end
return false
"#,
    )
});

/// KEYS: done, corr. ARGV: ttl ms. Marks a correlation id answered (1), or
/// finds it already was (0); an answered id keeps only its mark.
static ANSWER: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', tonumber(ARGV[1])) then return 0 end
redis.call('DEL', KEYS[2])
return 1
"#,
    )
});
