//! Reactions on Redis.
//!
//! | key | type | content | TTL |
//! | --- | --- | --- | --- |
//! | `P{c:ID}:rx:MSG` | zset | `emoji \n user` → order added (Redis clock, µs) | history max age, renewed on each add |
//!
//! A message's reaction set lives in its chat's hash slot. It expires with
//! the history's age limit; a message trimmed by count keeps its (then
//! unreachable: the message id no longer resolves) set until that TTL.

use std::sync::LazyLock;

use async_trait::async_trait;
use fred::prelude::*;
use fred::types::scripts::Script;

use super::{key_id, map_err, RedisStore};
use crate::reactions::{Change, ReactionStore, Reactions};
use crate::store::error::StoreResult;

impl RedisStore {
    fn reactions_key(&self, chat_id: &str, message_id: &str) -> String {
        format!(
            "{}{{c:{}}}:rx:{}",
            self.prefix,
            key_id(chat_id),
            key_id(message_id)
        )
    }
}

/// KEYS: set. ARGV: member, max, ttl. Returns {status, members...}:
/// status 1 added, 0 present, -1 full.
static ADD: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local status = 0
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
    status = -1
  else
    local t = redis.call('TIME')
    redis.call('ZADD', KEYS[1], tonumber(t[1]) * 1000000 + tonumber(t[2]), ARGV[1])
    redis.call('EXPIRE', KEYS[1], ARGV[3])
    status = 1
  end
end
local out = {status}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do table.insert(out, m) end
return out
"#,
    )
});

/// KEYS: set. ARGV: member. Returns {removed, members...}.
static REMOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local out = {redis.call('ZREM', KEYS[1], ARGV[1])}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do table.insert(out, m) end
return out
"#,
    )
});

fn member(emoji: &str, user: &str) -> String {
    format!("{emoji}\n{user}")
}

fn group<'a>(members: impl Iterator<Item = &'a str>) -> Reactions {
    let mut out = Reactions::new();
    for m in members {
        if let Some((emoji, user)) = m.split_once('\n') {
            out.entry(emoji.to_string())
                .or_default()
                .push(user.to_string());
        }
    }
    out
}

fn parse(out: Vec<Value>) -> (i64, Reactions) {
    let status = out.first().and_then(|v| v.as_i64()).unwrap_or(0);
    let members: Vec<String> = out.iter().skip(1).filter_map(|v| v.as_string()).collect();
    (status, group(members.iter().map(String::as_str)))
}

#[async_trait]
impl ReactionStore for RedisStore {
    async fn add_reaction(
        &self,
        chat_id: &str,
        message_id: &str,
        emoji: &str,
        user_id: &str,
        max: usize,
        ttl_secs: u64,
    ) -> StoreResult<Change> {
        let args: Vec<Value> = vec![
            member(emoji, user_id).into(),
            (max as i64).into(),
            (ttl_secs.max(1) as i64).into(),
        ];
        let out: Vec<Value> = self
            .eval(&ADD, vec![self.reactions_key(chat_id, message_id)], args)
            .await?;
        let (status, reactions) = parse(out);
        Ok(Change {
            changed: status == 1,
            full: status == -1,
            reactions,
        })
    }

    async fn remove_reaction(
        &self,
        chat_id: &str,
        message_id: &str,
        emoji: &str,
        user_id: &str,
    ) -> StoreResult<Change> {
        let out: Vec<Value> = self
            .eval(
                &REMOVE,
                vec![self.reactions_key(chat_id, message_id)],
                vec![member(emoji, user_id).into()],
            )
            .await?;
        let (status, reactions) = parse(out);
        Ok(Change {
            changed: status == 1,
            full: false,
            reactions,
        })
    }

    async fn reactions(&self, chat_id: &str, message_id: &str) -> StoreResult<Reactions> {
        let members: Vec<String> = self
            .client
            .zrange(
                self.reactions_key(chat_id, message_id),
                0,
                -1,
                None,
                false,
                None,
                false,
            )
            .await
            .map_err(map_err)?;
        Ok(group(members.iter().map(String::as_str)))
    }
}
