//! The connection registry, node heartbeats and the presence half that
//! changes with them, on Redis.
//!
//! | key | type | content | TTL |
//! | --- | --- | --- | --- |
//! | `P{u:ID}:conns` | hash | socket id → session JSON | none (removed on disconnect or node clean-up) |
//! | `P{u:ID}:presence` | hash | `status`, `custom`, `shown` (last announced), `seen` (ms) | 90 days, renewed on change |
//! | `P{n:ID}:conns` | set | `user \t socket` of the node's sessions | none |
//! | `Pnodes` | zset | node id → heartbeat expiry (ms, Redis clock) | none |
//! | `Pgone` | zset | user id → when to check it went offline (ms, Redis clock) | none (entries removed when checked) |
//! | `Preaper` | string | node holding the dead-node reaper lock | the sweep interval |
//! | `P{n:ID}:channels` | string | JSON `[[channel, subscribers], ...]` of the node's busiest channels | the node TTL (renewed by its heartbeat) |
//! | `Ppeak` | string | the most connections the registry counted at once (sampled) | none |
//!
//! A user's connections and presence record share the `{u:…}` slot and
//! change in one script, so the "was it already announced" check is atomic.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::*;
use fred::types::scripts::Script;
use fred::types::{Expiration, SetOptions};

use super::presence::{record_from, NOW};
use super::{json, key_id, map_err, ms, parse_all, RedisStore};
use crate::cluster::{ClusterStore, Session};
use crate::presence::{Presence, RECORD_TTL};
use crate::store::error::StoreResult;

impl RedisStore {
    pub(super) fn conns_key(&self, user_id: &str) -> String {
        format!("{}{{u:{}}}:conns", self.prefix, key_id(user_id))
    }
    pub(super) fn presence_key(&self, user_id: &str) -> String {
        format!("{}{{u:{}}}:presence", self.prefix, key_id(user_id))
    }
    fn node_key(&self, node_id: &str) -> String {
        format!("{}{{n:{}}}:conns", self.prefix, key_id(node_id))
    }
    fn node_channels_key(&self, node_id: &str) -> String {
        format!("{}{{n:{}}}:channels", self.prefix, key_id(node_id))
    }
    fn nodes_key(&self) -> String {
        format!("{}nodes", self.prefix)
    }
    pub(super) fn gone_key(&self) -> String {
        format!("{}gone", self.prefix)
    }
    fn reaper_key(&self) -> String {
        format!("{}reaper", self.prefix)
    }
    fn peak_key(&self) -> String {
        format!("{}peak", self.prefix)
    }
}

/// KEYS: nodes. ARGV: node, ttlMs. Returns {1 when the node was not
/// there, Redis's clock in ms}.
static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        "{NOW}return {{redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1]), now}}"
    ))
});

/// KEYS: peak. ARGV: connections now. Returns the peak.
static PEAK: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local n, p = tonumber(ARGV[1]), tonumber(redis.call('GET', KEYS[1]) or '0')
if n > p then redis.call('SET', KEYS[1], n); return n end
return p
"#,
    )
});

/// KEYS: nodes. ARGV: 'live' or 'dead'.
static NODES: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        r#"{NOW}
if ARGV[1] == 'live' then
  return redis.call('ZRANGE', KEYS[1], '(' .. now, '+inf', 'BYSCORE')
end
return redis.call('ZRANGE', KEYS[1], '-inf', now, 'BYSCORE')
"#
    ))
});

/// KEYS: conns, presence. ARGV: socket, session JSON, record TTL ms.
/// Returns {changed, status, custom, shown, seen}.
static CONNECT: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        r#"{NOW}
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local st = redis.call('HGET', KEYS[2], 'status') or 'online'
local vis = st
if st == 'invisible' then vis = 'offline' end
local shown = redis.call('HGET', KEYS[2], 'shown') or 'offline'
redis.call('HSET', KEYS[2], 'seen', now, 'shown', vis)
redis.call('PEXPIRE', KEYS[2], ARGV[3])
local changed = 0
if shown ~= vis then changed = 1 end
return {{changed, st, redis.call('HGET', KEYS[2], 'custom') or '', vis, tostring(now)}}
"#
    ))
});

/// KEYS: conns, presence. ARGV: socket, record TTL ms.
/// Returns {left, now}. A socket that was not registered (a retry whose
/// first attempt ran late) changes nothing but still reports `now`, so
/// that a user left with no connection gets its offline check.
static DISCONNECT: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        r#"{NOW}
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then
  return {{redis.call('HLEN', KEYS[1]), now}}
end
local left = redis.call('HLEN', KEYS[1])
if left == 0 then
  redis.call('HSET', KEYS[2], 'seen', now)
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return {{left, now}}
"#
    ))
});

#[async_trait]
impl ClusterStore for RedisStore {
    async fn add_session(&self, s: &Session) -> StoreResult<Option<Presence>> {
        // The user's slot and the node's slot: two commands, sent together.
        let node_key = self.node_key(&s.node_id);
        let member = format!("{}\t{}", s.user_id, s.socket_id);
        let connect = self.eval::<Vec<Value>>(
            &CONNECT,
            vec![self.conns_key(&s.user_id), self.presence_key(&s.user_id)],
            vec![s.socket_id.clone().into(), json(s)?.into(), ms(RECORD_TTL)],
        );
        let index = async {
            self.client
                .sadd::<i64, _, _>(node_key, member)
                .await
                .map_err(map_err)
        };
        let (out, _) = tokio::try_join!(connect, index)?;
        let changed = out.first().and_then(|v| v.as_i64()) == Some(1);
        Ok(changed.then(|| record_from(&out[1..]).presence(&s.user_id)))
    }

    async fn remove_session(
        &self,
        user_id: &str,
        socket_id: &str,
        node_id: &str,
        grace: Duration,
    ) -> StoreResult<usize> {
        let out: Vec<i64> = self
            .eval(
                &DISCONNECT,
                vec![self.conns_key(user_id), self.presence_key(user_id)],
                vec![socket_id.to_string().into(), ms(RECORD_TTL)],
            )
            .await?;
        let (left, now) = (out.first().copied().unwrap_or(0), out.get(1).copied());
        let p = self.client.pipeline();
        let _: () = p
            .srem(self.node_key(node_id), format!("{user_id}\t{socket_id}"))
            .await
            .map_err(map_err)?;
        if let (0, Some(now)) = (left, now.filter(|n| *n >= 0)) {
            let at = (now + grace.as_millis() as i64) as f64;
            let _: () = p
                .zadd(self.gone_key(), None, None, false, false, (at, user_id))
                .await
                .map_err(map_err)?;
        }
        let _: Vec<Value> = p.all().await.map_err(map_err)?;
        Ok(left.max(0) as usize)
    }

    async fn node_sessions(&self, node_id: &str) -> StoreResult<Vec<(String, String)>> {
        let members: Vec<String> = self
            .client
            .smembers(self.node_key(node_id))
            .await
            .map_err(map_err)?;
        Ok(members
            .into_iter()
            .filter_map(|m| {
                let (u, s) = m.split_once('\t')?;
                Some((u.to_string(), s.to_string()))
            })
            .collect())
    }

    async fn sessions_of(&self, user_id: &str) -> StoreResult<Vec<Session>> {
        let all: Vec<String> = self
            .client
            .hvals(self.conns_key(user_id))
            .await
            .map_err(map_err)?;
        Ok(parse_all(&all))
    }

    async fn online(&self, user_ids: &[String]) -> StoreResult<Vec<bool>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let p = self.client.pipeline();
        for u in user_ids {
            let _: () = p.hlen(self.conns_key(u)).await.map_err(map_err)?;
        }
        let counts: Vec<i64> = p.all().await.map_err(map_err)?;
        Ok(counts.into_iter().map(|n| n > 0).collect())
    }

    async fn heartbeat(&self, node_id: &str, ttl: Duration) -> StoreResult<bool> {
        let sent = crate::time::now_ms();
        let reply: Vec<i64> = self
            .eval(
                &HEARTBEAT,
                vec![self.nodes_key()],
                vec![node_id.to_string().into(), ms(ttl)],
            )
            .await?;
        if let [_, redis_now] = reply[..] {
            self.observe_clock(sent, redis_now, crate::time::now_ms());
        }
        Ok(reply.first() == Some(&1))
    }

    async fn live_nodes(&self) -> StoreResult<Vec<String>> {
        self.eval(&NODES, vec![self.nodes_key()], vec!["live".into()])
            .await
    }

    async fn remove_node(&self, node_id: &str, grace: Duration) -> StoreResult<usize> {
        let key = self.node_key(node_id);
        let entries: Vec<String> = self.client.smembers(&key).await.map_err(map_err)?;
        for e in &entries {
            if let Some((user, socket)) = e.split_once('\t') {
                self.remove_session(user, socket, node_id, grace).await?;
            }
        }
        let p = self.client.pipeline();
        let _: () = p.del(&key).await.map_err(map_err)?;
        let _: () = p.zrem(self.nodes_key(), node_id).await.map_err(map_err)?;
        let _: Vec<Value> = p.all().await.map_err(map_err)?;
        Ok(entries.len())
    }

    async fn reap_dead_nodes(&self, holder: &str, lease: Duration) -> StoreResult<Vec<String>> {
        let dead: Vec<String> = self
            .eval(&NODES, vec![self.nodes_key()], vec!["dead".into()])
            .await?;
        if dead.is_empty() {
            return Ok(dead);
        }
        let got: Option<String> = self
            .client
            .set(
                self.reaper_key(),
                holder,
                Some(Expiration::PX(lease.as_millis().max(1) as i64)),
                Some(SetOptions::NX),
                false,
            )
            .await
            .map_err(map_err)?;
        if got.is_none() {
            return Ok(Vec::new());
        }
        // Idempotent: if this node dies half-way, the next holder redoes it.
        for node in &dead {
            self.remove_node(node, Duration::ZERO).await?;
        }
        Ok(dead)
    }

    async fn connection_counts(&self, node_ids: &[String]) -> StoreResult<Vec<usize>> {
        if node_ids.is_empty() {
            return Ok(Vec::new());
        }
        let p = self.client.pipeline();
        for n in node_ids {
            let _: () = p.scard(self.node_key(n)).await.map_err(map_err)?;
        }
        let counts: Vec<i64> = p.all().await.map_err(map_err)?;
        Ok(counts.into_iter().map(|n| n.max(0) as usize).collect())
    }

    async fn ping(&self) -> StoreResult<()> {
        let _: String = self.client.ping(None).await.map_err(map_err)?;
        Ok(())
    }

    async fn publish_channels(
        &self,
        node_id: &str,
        counts: &str,
        ttl: Duration,
    ) -> StoreResult<()> {
        let key = self.node_channels_key(node_id);
        let _: () = self
            .client
            .set(
                key,
                counts,
                Some(Expiration::PX(ttl.as_millis() as i64)),
                None,
                false,
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn node_channels(&self, node_ids: &[String]) -> StoreResult<Vec<Option<String>>> {
        if node_ids.is_empty() {
            return Ok(Vec::new());
        }
        let p = self.client.pipeline();
        for n in node_ids {
            let _: () = p.get(self.node_channels_key(n)).await.map_err(map_err)?;
        }
        p.all().await.map_err(map_err)
    }

    async fn record_peak(&self, connections: usize) -> StoreResult<usize> {
        let peak: i64 = self
            .eval(
                &PEAK,
                vec![self.peak_key()],
                vec![(connections as i64).into()],
            )
            .await?;
        Ok(peak.max(0) as usize)
    }
}
