//! Messages and cursors on Redis.
//!
//! | key | type | content | TTL |
//! | --- | --- | --- | --- |
//! | `P{c:ID}:members` | zset | (from chat.rs) membership, checked by `append` | none |
//! | `P{c:ID}:seq` | string | last assigned `seq` | none (seq never restarts) |
//! | `P{c:ID}:hist` | zset | message JSON scored by `seq` | history max age, renewed on append |
//! | `P{c:ID}:ids` | hash | message id → `seq` | as `hist` |
//! | `P{c:ID}:ms` | hash | `seq` → created ms (age trimming) | as `hist` |
//! | `P{c:ID}:cids` | hash | `sender \n clientId` → `id|expiryMs` | as `hist` |
//! | `P{c:ID}:dlv` | hash | user → delivered `seq` | none |
//! | `P{c:ID}:read` | hash | user → read `seq` | none |
//!
//! `append` is one script: membership, idempotency, `seq`, append, trim by
//! count and age (dropping the trimmed ids and clientIds), sender cursors.

use std::sync::LazyLock;

use async_trait::async_trait;
use fred::prelude::*;
use fred::types::scripts::Script;

use super::{json, key_id, map_err, RedisStore};
use crate::messages::{Appended, Cursor, Message, MessageStore, NewMessage, Page, SyncSlice};
use crate::store::error::{StoreError, StoreResult};

// Positions in `msg_keys` (the order of the APPEND script's KEYS).
const SEQ: usize = 1;
const HIST: usize = 2;
const IDS: usize = 3;
const CIDS: usize = 5;
const DLV: usize = 6;
const READ: usize = 7;

impl RedisStore {
    fn msg_keys(&self, chat_id: &str) -> Vec<String> {
        let tag = format!("{}{{c:{}}}", self.prefix, key_id(chat_id));
        ["members", "seq", "hist", "ids", "ms", "cids", "dlv", "read"]
            .iter()
            .map(|k| format!("{tag}:{k}"))
            .collect()
    }
}

/// KEYS: members seq hist ids ms cids dlv read.
/// ARGV: sender, clientKey ('' = none), jsonHead, jsonTail, id, createdMs,
/// maxMessages, minCreatedMs, clientIdTtlMs, ttlSecs, nowMs, deadlineMs
/// (on Redis's clock; 0 = none), durable ('1': a `WAIT` follows).
/// Returns {0} not a member, {1, json} stored, {2, json} duplicate, {3}
/// too late: the sender may already have been told UNAVAILABLE, so
/// nothing is stored; {4, json} duplicate of a message stored earlier whose
/// replicas never confirmed it (so it was not delivered yet).
///
/// A `cids` value is `id|expiryMs`, or `id|expiryMs|p` while the message
/// awaits its replicas' confirmation (see [`PENDING`]).
static APPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local deadline = tonumber(ARGV[12])
if deadline > 0 then
  local t = redis.call('TIME')
  if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > deadline then return {3} end
end
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {0} end
local now = tonumber(ARGV[11])
if ARGV[2] ~= '' then
  local v = redis.call('HGET', KEYS[6], ARGV[2])
  if v then
    local id, exp, flag = string.match(v, '^([^|]*)|(%d+)(|?p?)$')
    if id and tonumber(exp) > now then
      local s = redis.call('HGET', KEYS[4], id)
      if s then
        local m = redis.call('ZRANGE', KEYS[3], s, s, 'BYSCORE')
        if m[1] then
          if ARGV[13] == '1' then
            -- A write, so that the WAIT that follows covers the original.
            redis.call('EXPIRE', KEYS[6], tonumber(ARGV[10]))
          end
          if flag == '|p' then return {4, m[1]} end
          return {2, m[1]}
        end
      end
    end
  end
end
local seq = redis.call('INCR', KEYS[2])
local json = ARGV[3] .. ',"seq":' .. seq .. ',' .. ARGV[4]
redis.call('ZADD', KEYS[3], seq, json)
redis.call('HSET', KEYS[4], ARGV[5], seq)
redis.call('HSET', KEYS[5], seq, ARGV[6])
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[6], ARGV[2], ARGV[5] .. '|' .. (now + tonumber(ARGV[9])))
end
for _, k in ipairs({KEYS[7], KEYS[8]}) do
  if seq > tonumber(redis.call('HGET', k, ARGV[1]) or '0') then
    redis.call('HSET', k, ARGV[1], seq)
  end
end
local function drop(entries)
  for i = 1, #entries, 2 do
    local ok, d = pcall(cjson.decode, entries[i])
    if ok and type(d) == 'table' then
      if d.id then redis.call('HDEL', KEYS[4], d.id) end
      if type(d.clientId) == 'string' and d.senderId then
        redis.call('HDEL', KEYS[6], d.senderId .. '\n' .. d.clientId)
      end
    end
    redis.call('HDEL', KEYS[5], entries[i + 1])
    redis.call('ZREMRANGEBYSCORE', KEYS[3], entries[i + 1], entries[i + 1])
  end
end
local excess = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[7])
if excess > 0 then
  drop(redis.call('ZRANGE', KEYS[3], 0, excess - 1, 'WITHSCORES'))
end
local min = tonumber(ARGV[8])
for _ = 1, 100 do
  local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  if not oldest[1] then break end
  local ms = tonumber(redis.call('HGET', KEYS[5], oldest[2]) or '0')
  if ms >= min then break end
  drop(oldest)
end
local ttl = tonumber(ARGV[10])
for _, k in ipairs({KEYS[3], KEYS[4], KEYS[5], KEYS[6]}) do redis.call('EXPIRE', k, ttl) end
return {1, json}
"#,
    )
});

/// KEYS: cids. ARGV: clientKey, id, mode ('mark' | 'clear').
/// `mark`: the message `id` was stored but `WAIT` did not confirm it, so it
/// was neither acknowledged nor delivered: flag its clientId entry.
/// `clear`: a retry confirmed it; returns 1 only to the one caller that
/// cleared the flag (that caller delivers it).
static PENDING: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v or string.sub(v, 1, #ARGV[2] + 1) ~= ARGV[2] .. '|' then return 0 end
local pending = string.sub(v, -2) == '|p'
if ARGV[3] == 'mark' and not pending then
  redis.call('HSET', KEYS[1], ARGV[1], v .. '|p')
  return 1
elseif ARGV[3] == 'clear' and pending then
  redis.call('HSET', KEYS[1], ARGV[1], string.sub(v, 1, -3))
  return 1
end
return 0
"#,
    )
});

/// KEYS: seq hist. ARGV: after, limit. Returns {complete, hasMore, json...}.
static AFTER: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local after, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local items = redis.call('ZRANGE', KEYS[2], '(' .. after, '+inf', 'BYSCORE', 'LIMIT', 0, limit + 1)
local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local first = last + 1
if oldest[2] then first = tonumber(oldest[2]) end
local complete = 0
if after + 1 >= first or after >= last then complete = 1 end
local more = 0
if #items > limit then more = 1; table.remove(items) end
local out = {complete, more}
for _, j in ipairs(items) do table.insert(out, j) end
return out
"#,
    )
});

/// KEYS: cursor hash. ARGV: user, seq. Returns 1 when it moved.
static ADVANCE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local seq = tonumber(ARGV[2])
if seq > tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') then
  redis.call('HSET', KEYS[1], ARGV[1], seq)
  return 1
end
return 0
"#,
    )
});

fn decode(json: &str) -> StoreResult<Message> {
    serde_json::from_str(json).map_err(|e| StoreError::Internal(format!("stored message: {e}")))
}

/// The `sender \n clientId` field of the `cids` hash.
fn client_key(m: &Message) -> String {
    m.client_id
        .as_ref()
        .map(|c| format!("{}\n{c}", m.sender_id))
        .unwrap_or_default()
}

impl RedisStore {
    /// `SB_REDIS_WAIT_REPLICAS`: waits until the replicas have what
    /// `client` wrote (the append, or for a duplicate the write it made so
    /// that the original is covered). Confirmed: a new message, or a
    /// pending one whose flag this call cleared, is `Stored` (to be
    /// delivered now); other duplicates stay `Duplicate`. Not confirmed:
    /// the entry is flagged pending and the answer is `Unavailable`.
    async fn confirm(
        &self,
        d: &super::durable::Durable,
        ticket: super::durable::Ticket,
        seq_key: &str,
        cids_key: String,
        stored: Message,
        status: i64,
    ) -> StoreResult<Appended> {
        let ckey = client_key(&stored);
        let timeout = (self
            .client
            .perf_config()
            .default_command_timeout
            .as_millis()
            / 2)
        .max(1);
        let acked = d.confirm(ticket, seq_key, timeout as i64).await;
        let confirmed = matches!(acked, Ok(true));
        crate::telemetry::metrics::redis_wait(confirmed);
        if !confirmed {
            if !ckey.is_empty() && status == 1 {
                // Best effort: if this fails too, a retry finds a plain
                // duplicate (stored, then confirmed, never delivered live).
                let _: Result<i64, _> = self
                    .eval(
                        &PENDING,
                        vec![cids_key.clone()],
                        vec![ckey.into(), stored.id.into(), "mark".into()],
                    )
                    .await;
            }
            let why = match acked {
                Err(e) => format!(" ({e})"),
                Ok(_) => String::new(),
            };
            return Err(StoreError::Unavailable(format!(
                "the message is on the master but {} replica(s) did not confirm it within \
                 {timeout} ms{why}; it was not delivered; retry with the same clientId",
                d.replicas
            )));
        }
        Ok(match status {
            1 => Appended::Stored(stored),
            4 => {
                let cleared: i64 = self
                    .eval(
                        &PENDING,
                        vec![cids_key.clone()],
                        vec![ckey.into(), stored.id.clone().into(), "clear".into()],
                    )
                    .await?;
                if cleared == 1 {
                    Appended::Stored(stored)
                } else {
                    Appended::Duplicate(stored)
                }
            }
            _ => Appended::Duplicate(stored),
        })
    }
}

#[async_trait]
impl MessageStore for RedisStore {
    async fn append(&self, new: NewMessage) -> StoreResult<Appended> {
        let m = &new.message;
        let json = json(m)?;
        // `seq` is the third field; ids and chat ids contain no quotes, so
        // its first occurrence is the field itself.
        let (head, tail) = json
            .split_once(",\"seq\":0,")
            .ok_or_else(|| StoreError::Internal("message JSON without seq".into()))?;
        let ttl = (new.message.created_ms - new.min_created_ms).max(1000) / 1000;
        let args: Vec<Value> = vec![
            m.sender_id.clone().into(),
            client_key(m).into(),
            head.to_string().into(),
            tail.to_string().into(),
            m.id.clone().into(),
            m.created_ms.into(),
            (new.max_messages as i64).into(),
            new.min_created_ms.into(),
            (new.client_id_ttl_secs as i64 * 1000).into(),
            ttl.into(),
            crate::time::now_ms().into(),
            self.write_deadline_ms().into(),
            if self.durable.is_some() { "1" } else { "0" }.into(),
        ];
        let keys = self.msg_keys(&m.chat_id);
        // With WAIT, the append and its WAIT share one pooled connection
        // (WAIT counts that connection's writes); it keeps the two keys it
        // needs afterwards.
        let (durable, client) = match &self.durable {
            Some(d) => {
                let (ticket, client) = d.take();
                let kept = [keys[SEQ].clone(), keys[CIDS].clone()];
                (Some((d, ticket, kept)), client)
            }
            None => (None, self.client.clone()),
        };
        let mut out: Vec<Value> = self.eval_on(&client, &APPEND, keys, args).await?;
        let status = out.first().and_then(|v| v.as_i64()).unwrap_or(-1);
        let json = out.pop().and_then(|v| v.as_string()).unwrap_or_default();
        if matches!(status, 1 | 2 | 4) {
            if let Some((d, ticket, [seq_key, cids_key])) = durable {
                let mut stored = decode(&json)?;
                if status == 1 {
                    stored.created_ms = m.created_ms;
                }
                return self
                    .confirm(d, ticket, &seq_key, cids_key, stored, status)
                    .await;
            }
        }
        Ok(match status {
            0 => Appended::NotMember,
            1 => {
                let mut stored = decode(&json)?;
                stored.created_ms = m.created_ms;
                Appended::Stored(stored)
            }
            2 | 4 => Appended::Duplicate(decode(&json)?),
            // Ran after its deadline: nothing stored, so UNAVAILABLE is true.
            3 => {
                crate::telemetry::metrics::redis_error("unavailable");
                return Err(StoreError::Unavailable(
                    "the store ran the append after its deadline; nothing was stored".into(),
                ));
            }
            _ => return Err(StoreError::Internal("unexpected append reply".into())),
        })
    }

    async fn before(&self, chat_id: &str, before: Option<u64>, limit: usize) -> StoreResult<Page> {
        let keys = self.msg_keys(chat_id);
        let max = match before {
            Some(b) => format!("({b}"),
            None => "+inf".to_string(),
        };
        let mut items: Vec<String> = self
            .client
            .zrevrangebyscore(&keys[HIST], max, "-inf", false, Some((0, limit as i64 + 1)))
            .await
            .map_err(map_err)?;
        let has_more = items.len() > limit;
        items.truncate(limit);
        items.reverse();
        Ok(Page {
            messages: items
                .iter()
                .map(|j| decode(j))
                .collect::<StoreResult<_>>()?,
            has_more,
        })
    }

    async fn after(&self, chat_id: &str, after: u64, limit: usize) -> StoreResult<SyncSlice> {
        let keys = self.msg_keys(chat_id);
        let out: Vec<Value> = self
            .eval(
                &AFTER,
                vec![keys[SEQ].clone(), keys[HIST].clone()],
                vec![(after as i64).into(), (limit as i64).into()],
            )
            .await?;
        let flag = |i: usize| out.get(i).and_then(|v| v.as_i64()) == Some(1);
        let messages = out
            .iter()
            .skip(2)
            .map(|v| decode(&v.as_string().unwrap_or_default()))
            .collect::<StoreResult<_>>()?;
        Ok(SyncSlice {
            messages,
            complete: flag(0),
            has_more: flag(1),
        })
    }

    async fn seq_of(&self, chat_id: &str, message_id: &str) -> StoreResult<Option<u64>> {
        self.client
            .hget(&self.msg_keys(chat_id)[IDS], message_id)
            .await
            .map_err(map_err)
    }

    async fn last_seq(&self, chat_id: &str) -> StoreResult<u64> {
        let v: Option<u64> = self
            .client
            .get(&self.msg_keys(chat_id)[SEQ])
            .await
            .map_err(map_err)?;
        Ok(v.unwrap_or(0))
    }

    async fn advance_cursor(
        &self,
        chat_id: &str,
        user_id: &str,
        cursor: Cursor,
        seq: u64,
    ) -> StoreResult<bool> {
        let keys = self.msg_keys(chat_id);
        let key = match cursor {
            Cursor::Delivered => &keys[DLV],
            Cursor::Read => &keys[READ],
        };
        let moved: i64 = self
            .eval(
                &ADVANCE,
                vec![key.clone()],
                vec![user_id.to_string().into(), (seq as i64).into()],
            )
            .await?;
        Ok(moved == 1)
    }

    async fn read_cursor(&self, chat_id: &str, user_id: &str) -> StoreResult<u64> {
        let v: Option<u64> = self
            .client
            .hget(&self.msg_keys(chat_id)[READ], user_id)
            .await
            .map_err(map_err)?;
        Ok(v.unwrap_or(0))
    }
}
