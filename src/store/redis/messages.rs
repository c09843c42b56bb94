//! Messages and cursors on Redis.
//!
//! | key | type | content | TTL |
//! | --- | --- | --- | --- |
//! | `P{c:ID}:members` | zset | (from chat.rs) membership, checked by `append` | none |
//! | `P{c:ID}:seq` | string | last assigned `seq` | none (seq never restarts) |
//! | `P{c:ID}:hist` | zset | message JSON scored by `seq` | history max age + ⅛, renewed by appends |
//! | `P{c:ID}:ids` | hash | the chat's index, see below | as `hist` |
//! | `P{c:ID}:dlv` | hash | user → delivered `seq` | none |
//! | `P{c:ID}:read` | hash | user → read `seq` | none |
//!
//! The fields of `ids`, the chat's one index (none can collide: message ids
//! start with `m_`, clientId keys hold a newline):
//!
//! | field | value |
//! | --- | --- |
//! | message id | its `seq` (receipts name messages by id) |
//! | `sender \n clientId` | `id|expiryMs`, or `id|expiryMs|p` while it awaits its replicas ([`PENDING`]) |
//! | `s:SEQ` | `createdMs|id|clientIdKey` of each kept message (what trimming drops) |
//! | `lo` | `seq|createdMs` of the oldest kept message |
//! | `x` | when the TTL of `hist` and `ids` was last set (ms) |
//!
//! `append` is one script. A new message costs nine Redis calls: the
//! membership check, one `HMGET` of the index (duplicate check, oldest
//! message, TTL age), `HEXISTS` of the chat's `completedAt` (§13), `INCR`,
//! `ZADD`, one `HSET` of the index, the sender's two cursors, and a
//! `ZRANGE` of the chat's bots (with bots, one `HMGET` of its kind, topic
//! and metadata), returned so that the after-store listeners need no chat
//! lookup of their own. The TTL is renewed at most once per ⅛ of the
//! history's max age; trimming (by count, then by age) touches only the
//! messages it drops.
//!
//! Chats written before this layout (up to commit 4160b95) kept clientIds and creation times
//! in two more hashes (`cids`, `ms`); the first append after the upgrade
//! folds them into `ids` (once per chat, in the same script).

use std::sync::LazyLock;

use async_trait::async_trait;
use fred::prelude::*;
use fred::types::scripts::Script;

use super::{json, key_id, map_err, RedisStore};
use crate::messages::{
    Appended, ChatContext, Cursor, Message, MessageStore, NewMessage, Page, SyncSlice,
};
use crate::store::error::{StoreError, StoreResult};

// Positions in `msg_keys` (the order of the APPEND script's KEYS).
const SEQ: usize = 1;
const HIST: usize = 2;
const IDS: usize = 3;
const DLV: usize = 4;
const READ: usize = 5;

impl RedisStore {
    fn msg_keys(&self, chat_id: &str) -> Vec<String> {
        let tag = format!("{}{{c:{}}}", self.prefix, key_id(chat_id));
        [
            "members", "seq", "hist", "ids", "dlv", "read", "cids", "ms", "meta", "bots",
        ]
        .iter()
        .map(|k| format!("{tag}:{k}"))
        .collect()
    }
}

/// KEYS: members seq hist ids dlv read, then the legacy cids ms, then the
/// chat's meta (a completed bot session takes no more messages) and bots.
/// ARGV: sender, clientKey ('' = none), jsonHead, jsonTail, id, createdMs,
/// maxMessages, minCreatedMs, clientIdTtlMs, ttlSecs, nowMs, deadlineMs
/// (on Redis's clock; 0 = none), durable ('1': a `WAIT` follows).
/// Returns {0} not a member, {1, seq, bots, {kind, topic, metadata}}
/// stored (the caller has the rest of the message; the chat's bot members,
/// and the chat's kind, topic and metadata when it has bots: what the
/// after-store listeners need), {2, json} duplicate, {3} too late: the sender may already
/// have been told UNAVAILABLE, so nothing is stored; {4, json} duplicate of
/// a message stored earlier whose replicas never confirmed it (so it was
/// not delivered yet), {5} the chat is a completed bot session.
static APPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local deadline = tonumber(ARGV[12])
if deadline > 0 then
  local t = redis.call('TIME')
  if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > deadline then return {3} end
end
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {0} end
local now, ck, id, created = tonumber(ARGV[11]), ARGV[2], ARGV[5], ARGV[6]
local base = tonumber(ARGV[10])
local ttl = base + math.floor(base / 8) + 1
local st = redis.call('HMGET', KEYS[4], ck == '' and 'lo' or ck, 'lo', 'x')
local lo, lo_ms
if st[2] then
  local a, b = string.match(st[2], '^(%d+)|(%d+)$')
  lo, lo_ms = tonumber(a), tonumber(b)
end
if not lo then
  -- No index yet: a new chat, a chat idle past its TTL, or a chat written
  -- before the index held clientIds and creation times (fold those in).
  lo = tonumber(redis.call('GET', KEYS[2]) or '0') + 1
  lo_ms = tonumber(created)
  local cids = redis.call('HGETALL', KEYS[7])
  for i = 1, #cids, 2 do redis.call('HSET', KEYS[4], cids[i], cids[i + 1]) end
  local all = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')
  for i = 1, #all, 2 do
    local s = tonumber(all[i + 1])
    local ok, d = pcall(cjson.decode, all[i])
    local mid, c = '', ''
    if ok and type(d) == 'table' then
      if type(d.id) == 'string' then mid = d.id end
      if type(d.clientId) == 'string' and type(d.senderId) == 'string' then c = d.senderId .. '\n' .. d.clientId end
    end
    local ms = redis.call('HGET', KEYS[8], all[i + 1]) or created
    redis.call('HSET', KEYS[4], 's:' .. all[i + 1], ms .. '|' .. mid .. '|' .. c)
    if s < lo then lo, lo_ms = s, tonumber(ms) end
  end
  if #cids > 0 or #all > 0 then
    redis.call('DEL', KEYS[7], KEYS[8])
    redis.call('HSET', KEYS[4], 'lo', lo .. '|' .. lo_ms)
  end
  if ck ~= '' then st[1] = redis.call('HGET', KEYS[4], ck) end
end
if ck ~= '' and st[1] then
  local cid, exp, flag = string.match(st[1], '^([^|]*)|(%d+)(|?p?)$')
  if cid and tonumber(exp) > now then
    local s = redis.call('HGET', KEYS[4], cid)
    if s then
      local m = redis.call('ZRANGE', KEYS[3], s, s, 'BYSCORE')
      if m[1] then
        if ARGV[13] == '1' then
          -- A write, so that the WAIT that follows covers the original.
          redis.call('EXPIRE', KEYS[4], ttl)
        end
        if flag == '|p' then return {4, m[1]} end
        return {2, m[1]}
      end
    end
  end
end
if redis.call('HEXISTS', KEYS[9], 'completedAt') == 1 then return {5} end
local seq = redis.call('INCR', KEYS[2])
if lo >= seq then lo, lo_ms = seq, tonumber(created) end
local json = ARGV[3] .. ',"seq":' .. seq .. ',' .. ARGV[4]
redis.call('ZADD', KEYS[3], seq, json)
local max, min = tonumber(ARGV[7]), tonumber(ARGV[8])
local moved = not st[2]
for _ = 1, 100 do
  if lo >= seq or (seq - lo < max and lo_ms >= min) then break end
  local e = redis.call('HGET', KEYS[4], 's:' .. lo)
  local del = {'s:' .. lo}
  if e then
    local mid, c = string.match(e, '^[^|]*|([^|]*)|(.*)$')
    if mid and mid ~= '' then table.insert(del, mid) end
    if c and c ~= '' then
      -- Only if the clientId still names this message (it may have been
      -- reused, after its record expired, by a newer one).
      local cur = redis.call('HGET', KEYS[4], c)
      if cur and string.sub(cur, 1, #mid + 1) == mid .. '|' then table.insert(del, c) end
    end
  end
  redis.call('HDEL', KEYS[4], unpack(del))
  redis.call('ZREMRANGEBYSCORE', KEYS[3], lo, lo)
  lo = lo + 1
  local n = redis.call('HGET', KEYS[4], 's:' .. lo)
  lo_ms = tonumber(n and string.match(n, '^(%d+)|') or created)
  moved = true
end
local set = {id, seq, 's:' .. seq, created .. '|' .. id .. '|' .. ck}
if ck ~= '' then
  table.insert(set, ck)
  table.insert(set, id .. '|' .. (now + tonumber(ARGV[9])))
end
if moved then
  table.insert(set, 'lo')
  table.insert(set, lo .. '|' .. lo_ms)
end
local renew = not st[3] or now > tonumber(st[3]) + base * 125
if renew then
  table.insert(set, 'x')
  table.insert(set, now)
end
redis.call('HSET', KEYS[4], unpack(set))
if renew then
  redis.call('EXPIRE', KEYS[3], ttl)
  redis.call('EXPIRE', KEYS[4], ttl)
end
-- The newest seq is above every cursor: the sender has read up to it.
redis.call('HSET', KEYS[5], ARGV[1], seq)
redis.call('HSET', KEYS[6], ARGV[1], seq)
local bots = redis.call('ZRANGE', KEYS[10], 0, -1)
if #bots == 0 then return {1, seq, bots} end
return {1, seq, bots, redis.call('HMGET', KEYS[9], 'kind', 'topic', 'metadata')}
"#,
    )
});

/// KEYS: ids. ARGV: clientKey, id, mode ('mark' | 'clear').
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

/// The chat context the append returns: its bots, then (with bots) its
/// `kind`, `topic`, `metadata` fields. Unreadable parts read as absent.
fn chat_context(bots: Option<&Value>, info: Option<&Value>) -> ChatContext {
    let bots: Vec<String> = bots
        .and_then(|b| b.clone().convert().ok())
        .unwrap_or_default();
    let info: Vec<Option<String>> = info
        .and_then(|i| i.clone().convert().ok())
        .unwrap_or_default();
    let field = |i: usize| info.get(i).cloned().flatten().filter(|t| !t.is_empty());
    ChatContext {
        bots,
        kind: field(0).and_then(|k| serde_json::from_value(serde_json::Value::String(k)).ok()),
        topic: field(1),
        metadata: field(2).and_then(|m| serde_json::from_str(&m).ok()),
    }
}

fn decode(json: &str) -> StoreResult<Message> {
    serde_json::from_str(json).map_err(|e| StoreError::Internal(format!("stored message: {e}")))
}

/// The `sender \n clientId` field of the `ids` hash.
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
        [seq_key, ids_key]: [String; 2],
        stored: Message,
        status: i64,
        context: Option<ChatContext>,
    ) -> StoreResult<Appended> {
        let ckey = client_key(&stored);
        let timeout = (self
            .client
            .perf_config()
            .default_command_timeout
            .as_millis()
            / 2)
        .max(1);
        let acked = d.confirm(ticket, &seq_key, timeout as i64).await;
        let confirmed = matches!(acked, Ok(true));
        crate::telemetry::metrics::redis_wait(confirmed);
        if !confirmed {
            if !ckey.is_empty() && status == 1 {
                // Best effort: if this fails too, a retry finds a plain
                // duplicate (stored, then confirmed, never delivered live).
                let _: Result<i64, _> = self
                    .eval(
                        &PENDING,
                        vec![ids_key.clone()],
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
            1 => Appended::Stored(stored, context),
            4 => {
                let cleared: i64 = self
                    .eval(
                        &PENDING,
                        vec![ids_key.clone()],
                        vec![ckey.into(), stored.id.clone().into(), "clear".into()],
                    )
                    .await?;
                if cleared == 1 {
                    Appended::Stored(stored, None)
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
                let kept = [keys[SEQ].clone(), keys[IDS].clone()];
                (Some((d, ticket, kept)), client)
            }
            None => (None, self.client.clone()),
        };
        let out: Vec<Value> = self.eval_on(&client, &APPEND, keys, args).await?;
        let status = out.first().and_then(|v| v.as_i64()).unwrap_or(-1);
        // A new message comes back as its seq only: the rest is `m`.
        let stored = match (status, out.get(1)) {
            (1, Some(seq)) => {
                let seq = seq
                    .as_u64()
                    .ok_or_else(|| StoreError::Internal("append: seq is not a number".into()))?;
                let mut stored = new.message;
                stored.seq = seq;
                Some(stored)
            }
            (2 | 4, Some(json)) => Some(decode(&json.as_string().unwrap_or_default())?),
            _ => None,
        };
        let context = (status == 1).then(|| chat_context(out.get(2), out.get(3)));
        if let (Some(stored), Some((d, ticket, kept))) = (&stored, durable) {
            return self
                .confirm(d, ticket, kept, stored.clone(), status, context)
                .await;
        }
        Ok(match (status, stored) {
            (0, _) => Appended::NotMember,
            (5, _) => Appended::Completed,
            (1, Some(m)) => Appended::Stored(m, context),
            (2 | 4, Some(m)) => Appended::Duplicate(m),
            // Ran after its deadline: nothing stored, so UNAVAILABLE is true.
            (3, _) => {
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
