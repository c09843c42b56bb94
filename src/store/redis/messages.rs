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

use super::append::{APPEND, PENDING};
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
