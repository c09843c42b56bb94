//! The reply cache on Redis (`ReplyCacheStore`); its keys are in the table
//! of `webhooks.rs`, plus `Prc:lru` (zset: cache key → last use, ms), the
//! eviction order of `SB_CACHE_MAX_ENTRIES`, `Prc:leads` (zset: cache key →
//! end of its lead, ms; the in-flight count) and `Prc:invalidations` (list
//! of JSON, newest first, capped).

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::*;
use fred::types::scripts::Script;
use fred::types::{Expiration, SetOptions};
use sha2::{Digest, Sha256};

use super::presence::NOW;
use super::{json, map_err, ms, parse_all, RedisStore};
use crate::store::error::StoreResult;
use crate::webhooks::cache::{Counter, Freshness, ReplyCacheStore, Stats, Waiter};

impl RedisStore {
    fn rc(&self, key: &str, part: &str) -> String {
        let h = hex::encode(&Sha256::digest(key.as_bytes())[..16]);
        format!("{}{{rc:{h}}}{part}", self.prefix)
    }
    fn rc_global(&self, part: &str) -> String {
        format!("{}rc:{part}", self.prefix)
    }
}

/// KEYS: entry. Returns {replies, 'fresh'|'stale', now} or {} (`now`:
/// Redis's clock, the one the eviction order is kept in).
static CACHE_GET: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        r#"{NOW}
local v = redis.call('HMGET', KEYS[1], 'replies', 'fresh', 'stale')
if (not v[1]) or now > tonumber(v[3]) then return {{}} end
if now <= tonumber(v[2]) then return {{v[1], 'fresh', tostring(now)}} end
return {{v[1], 'stale', tostring(now)}}
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
        let [replies, f, now] = v.as_slice() else {
            return Ok(None);
        };
        // A hit is a use: the entry moves to the back of the eviction
        // order, on Redis's clock as `cache_put` (best effort; a lost update
        // only ages it).
        let now: f64 = now.parse().unwrap_or(0.0);
        let _: Result<i64, _> = self
            .client
            .zadd(self.rc_global("lru"), None, None, false, false, (now, key))
            .await;
        let freshness = if f == "fresh" {
            Freshness::Fresh
        } else {
            Freshness::Stale
        };
        Ok(Some((replies.clone(), freshness)))
    }

    async fn cache_put(
        &self,
        key: &str,
        replies: &str,
        ttl: Duration,
        stale: Duration,
        max: usize,
    ) -> StoreResult<u64> {
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
        let (index, lru) = (self.rc_global("index"), self.rc_global("lru"));
        // One round trip: the entry in both orders, what expired, and how
        // many there are.
        let p = self.client.pipeline();
        let _: () = p
            .zadd(&index, None, None, false, false, (until as f64, key))
            .await
            .map_err(map_err)?;
        let _: () = p
            .zadd(&lru, None, None, false, false, (now as f64, key))
            .await
            .map_err(map_err)?;
        let _: () = p
            .zrangebyscore(&index, f64::NEG_INFINITY, now as f64, false, None)
            .await
            .map_err(map_err)?;
        let _: () = p.zcard(&lru).await.map_err(map_err)?;
        let (_, _, expired, n): (Value, Value, Vec<String>, i64) =
            p.all().await.map_err(map_err)?;
        // Over the bound once the expired are gone: the least recently
        // used go too, entries and all.
        let excess = n - expired.len() as i64 - max.max(1) as i64;
        if expired.is_empty() && excess <= 0 {
            return Ok(0);
        }
        let p = self.client.pipeline();
        if !expired.is_empty() {
            let _: () = p.zrem(&index, expired.clone()).await.map_err(map_err)?;
            let _: () = p.zrem(&lru, expired.clone()).await.map_err(map_err)?;
        }
        if excess > 0 {
            let _: () = p
                .zpopmin(&lru, Some(excess as usize))
                .await
                .map_err(map_err)?;
        }
        let mut answers: Vec<Value> = p.all().await.map_err(map_err)?;
        let popped = match answers.pop() {
            Some(Value::Array(popped)) if excess > 0 => popped,
            _ => return Ok(0),
        };
        // ZPOPMIN answers [member, score] pairs (RESP3) or member, score,
        // member, score, ... (RESP2).
        let mut victims = Vec::new();
        let mut flat = Vec::new();
        for v in popped {
            match v {
                Value::Array(pair) => victims.extend(pair.first().and_then(|m| m.as_string())),
                other => flat.push(other),
            }
        }
        victims.extend(flat.iter().step_by(2).filter_map(|v| v.as_string()));
        if victims.is_empty() {
            return Ok(0);
        }
        let p = self.client.pipeline();
        for k in &victims {
            let _: () = p.del(self.rc(k, "")).await.map_err(map_err)?;
        }
        let _: () = p.zrem(&index, victims.clone()).await.map_err(map_err)?;
        let _: Vec<Value> = p.all().await.map_err(map_err)?;
        Ok(victims.len() as u64)
    }

    async fn cache_refresh_lock(&self, key: &str, ttl: Duration) -> StoreResult<bool> {
        self.set_nx(self.rc(key, ":refresh"), ttl).await
    }

    async fn cache_lead(&self, key: &str, ttl: Duration) -> StoreResult<bool> {
        let led = self.set_nx(self.rc(key, ":lead"), ttl).await?;
        if led {
            let until = (crate::time::now_ms() + ttl.as_millis() as i64) as f64;
            let _: i64 = self
                .client
                .zadd(
                    self.rc_global("leads"),
                    None,
                    None,
                    false,
                    false,
                    (until, key),
                )
                .await
                .map_err(map_err)?;
        }
        Ok(led)
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
        let _: i64 = self
            .client
            .zrem(self.rc_global("leads"), key)
            .await
            .map_err(map_err)?;
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
        // Leads whose node died expire here too; prune them now and then.
        let leads = self.rc_global("leads");
        let _: i64 = self
            .client
            .zremrangebyscore(&leads, f64::NEG_INFINITY, now)
            .await
            .map_err(map_err)?;
        let in_flight: u64 = self.client.zcard(&leads).await.map_err(map_err)?;
        Ok(Stats {
            hits: h.unwrap_or(0),
            misses: m.unwrap_or(0),
            stale: s.unwrap_or(0),
            entries,
            in_flight,
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
            let _: i64 = self
                .client
                .zrem(self.rc_global("lru"), k.as_str())
                .await
                .map_err(map_err)?;
            removed += n;
        }
        Ok(removed)
    }

    async fn cache_log_invalidation(&self, entry: &str, keep: usize) -> StoreResult<()> {
        let key = self.rc_global("invalidations");
        let p = self.client.pipeline();
        let _: () = p.lpush(&key, entry).await.map_err(map_err)?;
        let _: () = p.ltrim(&key, 0, keep as i64 - 1).await.map_err(map_err)?;
        let _: Vec<Value> = p.all().await.map_err(map_err)?;
        Ok(())
    }

    async fn cache_invalidations(&self, limit: usize) -> StoreResult<Vec<String>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.client
            .lrange(self.rc_global("invalidations"), 0, limit as i64 - 1)
            .await
            .map_err(map_err)
    }
}
