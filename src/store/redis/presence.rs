//! Presence records on Redis (keys in `cluster.rs`, which changes them
//! together with the connection registry).

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::*;
use fred::types::scripts::Script;

use super::{map_err, ms, RedisStore};
use crate::presence::{Presence, PresenceStore, Record, Shown, Status, RECORD_TTL};
use crate::store::error::StoreResult;

/// Lua prelude: `now` in ms on the Redis clock.
pub(super) const NOW: &str = "local t = redis.call('TIME')\n\
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";

/// {status, custom, shown, seen} as the scripts return them ('' = unset).
pub(super) fn record_from(v: &[Value]) -> Record {
    let s = |i: usize| {
        v.get(i)
            .and_then(|x| x.as_string())
            .filter(|x| !x.is_empty())
    };
    Record {
        status: s(0).and_then(|x| Status::parse(&x)).unwrap_or_default(),
        custom: s(1),
        shown: s(2).map(|x| Shown::parse(&x)),
        seen_ms: s(3).and_then(|x| x.parse().ok()),
    }
}

/// KEYS: conns, presence. ARGV: status, '1' to set custom, custom, TTL ms.
/// Returns {changed, status, custom, shown, seen}.
static SET_STATUS: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        r#"{NOW}
local n = redis.call('HLEN', KEYS[1])
local oldst = redis.call('HGET', KEYS[2], 'status') or 'online'
local oldcustom = redis.call('HGET', KEYS[2], 'custom') or ''
local oldshown = redis.call('HGET', KEYS[2], 'shown') or 'offline'
if oldst == 'invisible' then oldcustom = '' end
redis.call('HSET', KEYS[2], 'status', ARGV[1])
if ARGV[2] == '1' then
  if ARGV[3] == '' then redis.call('HDEL', KEYS[2], 'custom')
  else redis.call('HSET', KEYS[2], 'custom', ARGV[3]) end
end
local custom = redis.call('HGET', KEYS[2], 'custom') or ''
local vcustom = custom
if ARGV[1] == 'invisible' then vcustom = '' end
local vis = 'offline'
if n > 0 and ARGV[1] ~= 'invisible' then vis = ARGV[1] end
redis.call('HSET', KEYS[2], 'seen', now, 'shown', vis)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
local changed = 0
if vis ~= oldshown or (vis ~= 'offline' and vcustom ~= oldcustom) then changed = 1 end
return {{changed, ARGV[1], custom, vis, tostring(now)}}
"#
    ))
});

/// KEYS: conns, presence. Marks the user offline if it has no connection
/// and was not announced offline yet. Returns {1, record…} or {0}.
static SETTLE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
if redis.call('HLEN', KEYS[1]) > 0 then return {0} end
local shown = redis.call('HGET', KEYS[2], 'shown')
if (not shown) or shown == 'offline' then return {0} end
redis.call('HSET', KEYS[2], 'shown', 'offline')
return {1, redis.call('HGET', KEYS[2], 'status') or 'online',
  redis.call('HGET', KEYS[2], 'custom') or '', 'offline',
  redis.call('HGET', KEYS[2], 'seen') or ''}
"#,
    )
});

/// KEYS: gone. ARGV: lease ms, limit. Claims due checks by pushing them
/// `lease` into the future. Returns {claim score, user…}.
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        r#"{NOW}
local due = redis.call('ZRANGE', KEYS[1], '-inf', now, 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
local lease = now + tonumber(ARGV[1])
for _, u in ipairs(due) do redis.call('ZADD', KEYS[1], 'XX', lease, u) end
table.insert(due, 1, tostring(lease))
return due
"#
    ))
});

/// KEYS: gone. ARGV: claim score, user… Drops the checks still holding
/// this claim (a newer disconnect re-queued the others).
static DONE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local claim = tonumber(ARGV[1])
for i = 2, #ARGV do
  if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[i])) == claim then
    redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return 0
"#,
    )
});

#[async_trait]
impl PresenceStore for RedisStore {
    async fn set_status(
        &self,
        user_id: &str,
        status: Status,
        custom: Option<Option<String>>,
    ) -> StoreResult<(Presence, bool)> {
        let (flag, text) = match custom {
            None => ("0", String::new()),
            Some(c) => ("1", c.unwrap_or_default()),
        };
        let out: Vec<Value> = self
            .eval(
                &SET_STATUS,
                vec![self.conns_key(user_id), self.presence_key(user_id)],
                vec![
                    status.as_str().into(),
                    flag.into(),
                    text.into(),
                    ms(RECORD_TTL),
                ],
            )
            .await?;
        let changed = out.first().and_then(|v| v.as_i64()) == Some(1);
        Ok((record_from(&out[1..]).presence(user_id), changed))
    }

    async fn presences(&self, user_ids: &[String]) -> StoreResult<Vec<Presence>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let p = self.client.pipeline();
        for u in user_ids {
            let _: () = p
                .hmget(
                    self.presence_key(u),
                    vec!["status", "custom", "shown", "seen"],
                )
                .await
                .map_err(map_err)?;
        }
        let rows: Vec<Vec<Value>> = p.all().await.map_err(map_err)?;
        Ok(user_ids
            .iter()
            .zip(rows)
            .map(|(u, row)| record_from(&row).presence(u))
            .collect())
    }

    async fn settle_due(&self, limit: usize, lease: Duration) -> StoreResult<Vec<Presence>> {
        let claimed: Vec<String> = self
            .eval(
                &CLAIM,
                vec![self.gone_key()],
                vec![ms(lease), (limit as i64).into()],
            )
            .await?;
        let Some((claim, users)) = claimed.split_first() else {
            return Ok(Vec::new());
        };
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for u in users {
            let r: Vec<Value> = self
                .eval(
                    &SETTLE,
                    vec![self.conns_key(u), self.presence_key(u)],
                    vec![],
                )
                .await?;
            if r.first().and_then(|v| v.as_i64()) == Some(1) {
                out.push(record_from(&r[1..]).presence(u));
            }
        }
        let mut args: Vec<Value> = vec![claim.clone().into()];
        args.extend(users.iter().map(|u| Value::from(u.clone())));
        let _: i64 = self.eval(&DONE, vec![self.gone_key()], args).await?;
        Ok(out)
    }
}
