//! The webhook delivery queue and the reply cache on Redis.
//!
//! | key | type | content | TTL |
//! | --- | --- | --- | --- |
//! | `P{wh}:ready` | zset | delivery id → when due (ms, Redis clock) | none |
//! | `P{wh}:inflight` | zset | delivery id → lease expiry (ms) | none |
//! | `P{wh}:d` | hash | delivery id → delivery JSON | none (removed on ack) |
//! | `P{wh}:dead` | list | `{ delivery, error, at }`, newest first | none, 10,000 entries |
//! | `P{wh:c:CORR}` | string | what answering a correlation id needs (its delivery without the event data), deleted when answered | the reply window (`SB_WEBHOOK_REPLY_WINDOW_SECS`) |
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
use fred::types::{Expiration, SetOptions};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::presence::NOW;
use super::{json, key_id, map_err, ms, parse_all, RedisStore};
use crate::store::error::StoreResult;
use crate::webhooks::cache::{Counter, Freshness, ReplyCacheStore, Stats, Waiter};
use crate::webhooks::queue::{Delivery, Depths, WebhookQueue};

impl RedisStore {
    fn wh(&self, part: &str) -> String {
        format!("{}{{wh}}:{part}", self.prefix)
    }
    fn corr_key(&self, corr: &str) -> String {
        format!("{}{{wh:c:{}}}", self.prefix, key_id(corr))
    }
    fn rc(&self, key: &str, part: &str) -> String {
        let h = hex::encode(&Sha256::digest(key.as_bytes())[..16]);
        format!("{}{{rc:{h}}}{part}", self.prefix)
    }
    fn rc_global(&self, part: &str) -> String {
        format!("{}rc:{part}", self.prefix)
    }
}

/// KEYS: ready, d. ARGV: id, json.
static ENQUEUE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        "{NOW}redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])\n\
         return redis.call('ZADD', KEYS[1], now, ARGV[1])"
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
    async fn enqueue(&self, d: &Delivery) -> StoreResult<()> {
        let _: i64 = self
            .eval(
                &ENQUEUE,
                vec![self.wh("ready"), self.wh("d")],
                vec![d.id.clone().into(), json(d)?.into()],
            )
            .await?;
        Ok(())
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

    async fn depths(&self) -> StoreResult<Depths> {
        let p = self.client.pipeline();
        let _: () = p.zcard(self.wh("ready")).await.map_err(map_err)?;
        let _: () = p.zcard(self.wh("inflight")).await.map_err(map_err)?;
        let _: () = p.llen(self.wh("dead")).await.map_err(map_err)?;
        let n: Vec<i64> = p.all().await.map_err(map_err)?;
        let at = |i: usize| n.get(i).copied().unwrap_or(0).max(0) as usize;
        Ok(Depths {
            ready: at(0),
            in_flight: at(1),
            dead: at(2),
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
        Ok(v.and_then(|j| serde_json::from_str(&j).ok()))
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

/// KEYS: entry. Returns {replies, 'fresh'|'stale'} or {}.
static CACHE_GET: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        r#"{NOW}
local v = redis.call('HMGET', KEYS[1], 'replies', 'fresh', 'stale')
if (not v[1]) or now > tonumber(v[3]) then return {{}} end
if now <= tonumber(v[2]) then return {{v[1], 'fresh'}} end
return {{v[1], 'stale'}}
"#
    ))
});

/// KEYS: entry. ARGV: key, replies, ttl ms, stale ms. Returns the end of
/// the stale window.
static CACHE_PUT: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        r#"{NOW}
local fresh = now + tonumber(ARGV[3])
local stale = fresh + tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'key', ARGV[1], 'replies', ARGV[2], 'fresh', fresh, 'stale', stale)
redis.call('PEXPIREAT', KEYS[1], stale)
return {{stale, now}}
"#
    ))
});

/// KEYS: lead, waiters. ARGV: waiter JSON, ttl ms.
static CACHE_WAIT: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
"#,
    )
});

/// KEYS: lead, waiters.
static CACHE_FINISH: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local all = redis.call('LRANGE', KEYS[2], 0, -1)
redis.call('DEL', KEYS[1], KEYS[2])
return all
"#,
    )
});

impl RedisStore {
    async fn set_nx(&self, key: String, ttl: Duration) -> StoreResult<bool> {
        let r: Option<String> = self
            .client
            .set(
                key,
                "1",
                Some(Expiration::PX((ttl.as_millis() as i64).max(1))),
                Some(SetOptions::NX),
                false,
            )
            .await
            .map_err(map_err)?;
        Ok(r.is_some())
    }
}

#[async_trait]
impl ReplyCacheStore for RedisStore {
    async fn cache_get(&self, key: &str) -> StoreResult<Option<(String, Freshness)>> {
        let v: Vec<String> = self
            .eval(&CACHE_GET, vec![self.rc(key, "")], vec![])
            .await?;
        Ok(match v.as_slice() {
            [replies, f] => Some((
                replies.clone(),
                if f == "fresh" {
                    Freshness::Fresh
                } else {
                    Freshness::Stale
                },
            )),
            _ => None,
        })
    }

    async fn cache_put(
        &self,
        key: &str,
        replies: &str,
        ttl: Duration,
        stale: Duration,
    ) -> StoreResult<()> {
        let out: Vec<i64> = self
            .eval(
                &CACHE_PUT,
                vec![self.rc(key, "")],
                vec![
                    key.to_string().into(),
                    replies.to_string().into(),
                    ms(ttl),
                    ms(stale),
                ],
            )
            .await?;
        let (until, now) = (
            out.first().copied().unwrap_or(0),
            out.get(1).copied().unwrap_or(0),
        );
        let index = self.rc_global("index");
        let p = self.client.pipeline();
        let _: () = p
            .zadd(&index, None, None, false, false, (until as f64, key))
            .await
            .map_err(map_err)?;
        let _: () = p
            .zremrangebyscore(&index, f64::NEG_INFINITY, now as f64)
            .await
            .map_err(map_err)?;
        let _: Vec<Value> = p.all().await.map_err(map_err)?;
        Ok(())
    }

    async fn cache_refresh_lock(&self, key: &str, ttl: Duration) -> StoreResult<bool> {
        self.set_nx(self.rc(key, ":refresh"), ttl).await
    }

    async fn cache_lead(&self, key: &str, ttl: Duration) -> StoreResult<bool> {
        self.set_nx(self.rc(key, ":lead"), ttl).await
    }

    async fn cache_wait(&self, key: &str, waiter: &Waiter) -> StoreResult<bool> {
        let n: i64 = self
            .eval(
                &CACHE_WAIT,
                vec![self.rc(key, ":lead"), self.rc(key, ":waiters")],
                vec![json(waiter)?.into(), 86_400_000i64.into()],
            )
            .await?;
        Ok(n == 1)
    }

    async fn cache_finish(&self, key: &str) -> StoreResult<Vec<Waiter>> {
        let all: Vec<String> = self
            .eval(
                &CACHE_FINISH,
                vec![self.rc(key, ":lead"), self.rc(key, ":waiters")],
                vec![],
            )
            .await?;
        Ok(parse_all(&all))
    }

    async fn cache_count(&self, counter: Counter) -> StoreResult<()> {
        let _: i64 = self
            .client
            .hincrby(self.rc_global("stats"), counter.field(), 1)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn cache_stats(&self) -> StoreResult<Stats> {
        let (h, m, s): (Option<u64>, Option<u64>, Option<u64>) = self
            .client
            .hmget(self.rc_global("stats"), vec!["hits", "misses", "stale"])
            .await
            .map_err(map_err)?;
        let now = crate::time::now_ms() as f64;
        let entries: u64 = self
            .client
            .zcount(self.rc_global("index"), now, f64::INFINITY)
            .await
            .map_err(map_err)?;
        Ok(Stats {
            hits: h.unwrap_or(0),
            misses: m.unwrap_or(0),
            stale: s.unwrap_or(0),
            entries,
        })
    }

    async fn cache_invalidate(&self, key: Option<&str>, prefix: Option<&str>) -> StoreResult<u64> {
        let index = self.rc_global("index");
        let keys: Vec<String> = match (key, prefix) {
            (Some(k), _) => vec![k.to_string()],
            (None, Some(p)) => {
                let all: Vec<String> = self
                    .client
                    .zrange(&index, 0, -1, None, false, None, false)
                    .await
                    .map_err(map_err)?;
                all.into_iter().filter(|k| k.starts_with(p)).collect()
            }
            (None, None) => Vec::new(),
        };
        let mut removed = 0;
        for k in &keys {
            let n: u64 = self.client.del(self.rc(k, "")).await.map_err(map_err)?;
            let _: i64 = self
                .client
                .zrem(&index, k.as_str())
                .await
                .map_err(map_err)?;
            removed += n;
        }
        Ok(removed)
    }
}
