//! The connection registry and node heartbeats on Redis.
//!
//! | key | type | content | TTL |
//! | --- | --- | --- | --- |
//! | `P{u:ID}:conns` | hash | socket id → session JSON | none (removed on disconnect or node clean-up) |
//! | `P{n:ID}:conns` | set | `user \t socket` of the node's sessions | none |
//! | `Pnodes` | zset | node id → heartbeat expiry (ms, Redis clock) | none |

use std::sync::LazyLock;

use async_trait::async_trait;
use fred::prelude::*;
use fred::types::scripts::Script;

use super::{key_id, map_err, RedisStore};
use crate::cluster::{ClusterStore, Session};
use crate::store::{StoreError, StoreResult};

impl RedisStore {
    fn conns_key(&self, user_id: &str) -> String {
        format!("{}{{u:{}}}:conns", self.prefix, key_id(user_id))
    }
    fn node_key(&self, node_id: &str) -> String {
        format!("{}{{n:{}}}:conns", self.prefix, key_id(node_id))
    }
    fn nodes_key(&self) -> String {
        format!("{}nodes", self.prefix)
    }
}

/// KEYS: nodes. ARGV: node, ttlMs. Uses the Redis clock.
static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return now
"#,
    )
});

/// KEYS: nodes. Returns the nodes whose heartbeat has not expired.
static LIVE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGE', KEYS[1], '(' .. now, '+inf', 'BYSCORE')
"#,
    )
});

/// KEYS: user conns. ARGV: socket. Returns {session JSON or '', left}.
static REMOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local s = redis.call('HGET', KEYS[1], ARGV[1]) or ''
redis.call('HDEL', KEYS[1], ARGV[1])
return {s, redis.call('HLEN', KEYS[1])}
"#,
    )
});

fn json<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Internal(e.to_string()))
}

#[async_trait]
impl ClusterStore for RedisStore {
    async fn add_session(&self, s: &Session) -> StoreResult<()> {
        let p = self.client.pipeline();
        let _: () = p
            .hset(self.conns_key(&s.user_id), (s.socket_id.as_str(), json(s)?))
            .await
            .map_err(map_err)?;
        let _: () = p
            .sadd(
                self.node_key(&s.node_id),
                format!("{}\t{}", s.user_id, s.socket_id),
            )
            .await
            .map_err(map_err)?;
        let _: Vec<Value> = p.all().await.map_err(map_err)?;
        Ok(())
    }

    async fn remove_session(&self, user_id: &str, socket_id: &str) -> StoreResult<usize> {
        let out: Vec<Value> = self
            .eval(
                &REMOVE,
                vec![self.conns_key(user_id)],
                vec![socket_id.to_string().into()],
            )
            .await?;
        let left = out.get(1).and_then(|v| v.as_i64()).unwrap_or(0) as usize;
        let session = out.first().and_then(|v| v.as_string()).unwrap_or_default();
        if let Ok(s) = serde_json::from_str::<Session>(&session) {
            let _: i64 = self
                .client
                .srem(self.node_key(&s.node_id), format!("{user_id}\t{socket_id}"))
                .await
                .map_err(map_err)?;
        }
        Ok(left)
    }

    async fn sessions_of(&self, user_id: &str) -> StoreResult<Vec<Session>> {
        let all: Vec<String> = self
            .client
            .hvals(self.conns_key(user_id))
            .await
            .map_err(map_err)?;
        Ok(all
            .iter()
            .filter_map(|j| serde_json::from_str(j).ok())
            .collect())
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

    async fn heartbeat(&self, node_id: &str, ttl_secs: u64) -> StoreResult<()> {
        let _: i64 = self
            .eval(
                &HEARTBEAT,
                vec![self.nodes_key()],
                vec![node_id.to_string().into(), (ttl_secs as i64 * 1000).into()],
            )
            .await?;
        Ok(())
    }

    async fn live_nodes(&self) -> StoreResult<Vec<String>> {
        self.eval(&LIVE, vec![self.nodes_key()], vec![]).await
    }

    async fn remove_node(&self, node_id: &str) -> StoreResult<usize> {
        let key = self.node_key(node_id);
        let entries: Vec<String> = self.client.smembers(&key).await.map_err(map_err)?;
        let p = self.client.pipeline();
        for e in &entries {
            if let Some((user, socket)) = e.split_once('\t') {
                let _: () = p
                    .hdel(self.conns_key(user), socket)
                    .await
                    .map_err(map_err)?;
            }
        }
        let _: () = p.del(&key).await.map_err(map_err)?;
        let _: () = p.zrem(self.nodes_key(), node_id).await.map_err(map_err)?;
        let _: Vec<Value> = p.all().await.map_err(map_err)?;
        Ok(entries.len())
    }

    async fn ping(&self) -> StoreResult<()> {
        let _: String = self.client.ping(None).await.map_err(map_err)?;
        Ok(())
    }
}
