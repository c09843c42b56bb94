//! Chats on Redis.
//!
//! | key | type | content | TTL |
//! | --- | --- | --- | --- |
//! | `P{c:ID}:meta` | hash | `kind`, `title`, `createdAt`, `topic`, `metadata` (JSON), and once a bot session is completed `completedAt`, `result` (JSON) | none |
//! | `P{c:ID}:members` | zset | user id → join order | none |
//! | `P{c:ID}:owners` | zset | user id → order | none |
//! | `P{c:ID}:bots` | zset | user id → order | none |
//! | `P{u:ID}:chats` | zset | chat id → join order (ms) | none |
//! | `P{u:ID}:botsess` | hash | `bot \n topic` → the newest bot session's chat id (a hint) | none |
//!
//! The chat's own keys are the authority and change atomically (one script);
//! the per-user index lives in another slot and is updated right after. A
//! stale index entry is harmless: readers re-check membership on the chat.

use std::sync::LazyLock;

use async_trait::async_trait;
use fred::prelude::*;
use fred::types::scripts::Script;

use super::{key_id, map_err, RedisStore};
use crate::chat::{Chat, ChatKind, ChatStore, MembershipChange};
use crate::store::error::{StoreError, StoreResult};

impl RedisStore {
    fn chat_keys(&self, chat_id: &str) -> Vec<String> {
        let tag = format!("{}{{c:{}}}", self.prefix, key_id(chat_id));
        ["meta", "members", "owners", "bots"]
            .iter()
            .map(|k| format!("{tag}:{k}"))
            .collect()
    }

    pub(super) fn user_chats_key(&self, user_id: &str) -> String {
        format!("{}{{u:{}}}:chats", self.prefix, key_id(user_id))
    }

    fn bot_sessions_key(&self, user_id: &str) -> String {
        format!("{}{{u:{}}}:botsess", self.prefix, key_id(user_id))
    }

    async fn index(&self, chat_id: &str, add: &[String], remove: &[String]) -> StoreResult<()> {
        if add.is_empty() && remove.is_empty() {
            return Ok(());
        }
        let now = crate::time::now_ms() as f64;
        let p = self.client.pipeline();
        for u in add {
            let _: () = p
                .zadd(
                    self.user_chats_key(u),
                    Some(SetOptions::NX),
                    None,
                    false,
                    false,
                    (now, chat_id),
                )
                .await
                .map_err(map_err)?;
        }
        for u in remove {
            let _: () = p
                .zrem(self.user_chats_key(u), chat_id)
                .await
                .map_err(map_err)?;
        }
        let _: Vec<Value> = p.all().await.map_err(map_err)?;
        Ok(())
    }
}

/// `read_chat` returns `{kind, title, createdAt, members, owners, bots,
/// topic, metadata, completedAt, result}` (absent strings as '') or nil;
/// `write_chat` writes one from the ARGV of CREATE. Shared by the scripts
/// below.
const READ: &str = r#"
local function read_chat()
  if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
  local meta = redis.call('HMGET', KEYS[1], 'kind', 'title', 'createdAt', 'topic', 'metadata', 'completedAt', 'result')
  return {meta[1], meta[2] or '', meta[3],
    redis.call('ZRANGE', KEYS[2], 0, -1),
    redis.call('ZRANGE', KEYS[3], 0, -1),
    redis.call('ZRANGE', KEYS[4], 0, -1),
    meta[4] or '', meta[5] or '', meta[6] or '', meta[7] or ''}
end
-- Writes the chat from ARGV (see CREATE) into empty keys.
local function write_chat()
  redis.call('HSET', KEYS[1], 'kind', ARGV[1], 'title', ARGV[2], 'createdAt', ARGV[3], 'topic', ARGV[4], 'metadata', ARGV[5])
  if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'completedAt', ARGV[6], 'result', ARGV[7]) end
  local nm, no = tonumber(ARGV[8]), tonumber(ARGV[9])
  for i = 1, nm do redis.call('ZADD', KEYS[2], i, ARGV[9 + i]) end
  for i = 1, no do redis.call('ZADD', KEYS[3], i, ARGV[9 + nm + i]) end
  for i = 10 + nm + no, #ARGV do redis.call('ZADD', KEYS[4], i, ARGV[i]) end
end
local function add_all(key, list, from)
  local n = redis.call('ZCARD', key)
  local added = {}
  for i = from, #list do
    if redis.call('ZADD', key, 'NX', n + i, list[i]) == 1 then table.insert(added, list[i]) end
  end
  return added
end
"#;

/// ARGV: kind, title, createdAt, topic, metadata, completedAt, result
/// ('' = none), nMembers, nOwners, members..., owners..., bots... KEYS: meta, members, owners, bots.
/// Returns 0 when it exists.
static CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        r#"{READ}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
write_chat()
return 1"#
    ))
});

/// Like CREATE but replaces; returns the previous chat or nil. A bot
/// session's completion survives (also one that landed after the caller
/// read the chat).
static PUT: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        r#"{READ}
local old = read_chat()
if old and old[9] ~= '' and ARGV[6] == '' then ARGV[6] = old[9]; ARGV[7] = old[10] end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
write_chat()
return old"#
    ))
});

static GET: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(format!("{READ}\nreturn read_chat()")));

/// ARGV: user ids. Returns {added, chat} or nil.
static ADD: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        r#"{READ}
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local added = add_all(KEYS[2], ARGV, 1)
return {{added, read_chat()}}"#
    ))
});

/// ARGV: user ids. Returns {removed, chat} or nil.
static REMOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        r#"{READ}
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local removed = {{}}
for _, u in ipairs(ARGV) do
  if redis.call('ZREM', KEYS[2], u) == 1 then table.insert(removed, u) end
  redis.call('ZREM', KEYS[3], u)
  redis.call('ZREM', KEYS[4], u)
end
return {{removed, read_chat()}}"#
    ))
});

/// ARGV: completedAt, result JSON ('' = none). Returns {completed now (0|1),
/// chat}, or nil when there is no such bot session (other kinds are never
/// completed).
static COMPLETE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        r#"{READ}
if redis.call('HGET', KEYS[1], 'kind') ~= 'bot' then return nil end
if redis.call('HEXISTS', KEYS[1], 'completedAt') == 1 then return {{0, read_chat()}} end
redis.call('HSET', KEYS[1], 'completedAt', ARGV[1], 'result', ARGV[2])
return {{1, read_chat()}}"#
    ))
});

fn chat_args(chat: &Chat) -> Vec<Value> {
    let kind = serde_json::to_value(chat.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut args: Vec<Value> = vec![
        kind.into(),
        chat.title.clone().unwrap_or_default().into(),
        chat.created_at.clone().into(),
        chat.topic.clone().unwrap_or_default().into(),
        chat.metadata
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_default()
            .into(),
        chat.completed_at.clone().unwrap_or_default().into(),
        chat.result
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_default()
            .into(),
        (chat.members.len() as i64).into(),
        (chat.owners.len() as i64).into(),
    ];
    for list in [&chat.members, &chat.owners, &chat.bots] {
        args.extend(list.iter().map(|u| Value::from(u.clone())));
    }
    args
}

fn parse_chat(id: &str, v: Value) -> StoreResult<Option<Chat>> {
    if v.is_null() {
        return Ok(None);
    }
    let bad = || StoreError::Internal(format!("malformed chat {id}"));
    let parts: Vec<Value> = v.convert().map_err(|_| bad())?;
    if parts.len() != 10 {
        return Err(bad());
    }
    let s = |v: &Value| v.as_string().unwrap_or_default();
    let list = |v: &Value| -> StoreResult<Vec<String>> { v.clone().convert().map_err(|_| bad()) };
    let kind: ChatKind =
        serde_json::from_value(serde_json::Value::String(s(&parts[0]))).map_err(|_| bad())?;
    let title = s(&parts[1]);
    let opt = |v: &Value| Some(s(v)).filter(|t| !t.is_empty());
    let json = |v: &Value| opt(v).and_then(|t| serde_json::from_str(&t).ok());
    Ok(Some(Chat {
        id: id.to_string(),
        kind,
        title: (!title.is_empty()).then_some(title),
        created_at: s(&parts[2]),
        members: list(&parts[3])?,
        owners: list(&parts[4])?,
        bots: list(&parts[5])?,
        topic: opt(&parts[6]),
        metadata: json(&parts[7]),
        completed_at: opt(&parts[8]),
        result: json(&parts[9]),
    }))
}

fn parse_change(id: &str, v: Value, added: bool) -> StoreResult<Option<MembershipChange>> {
    if v.is_null() {
        return Ok(None);
    }
    let bad = || StoreError::Internal(format!("malformed change of {id}"));
    let mut parts: Vec<Value> = v.convert().map_err(|_| bad())?;
    if parts.len() != 2 {
        return Err(bad());
    }
    let chat = parse_chat(id, parts.pop().unwrap())?.ok_or_else(bad)?;
    let changed: Vec<String> = parts.pop().unwrap().convert().unwrap_or_default();
    Ok(Some(if added {
        MembershipChange {
            chat,
            added: changed,
            removed: Vec::new(),
        }
    } else {
        MembershipChange {
            chat,
            added: Vec::new(),
            removed: changed,
        }
    }))
}

#[async_trait]
impl ChatStore for RedisStore {
    async fn create_chat(&self, chat: &Chat) -> StoreResult<bool> {
        let created: i64 = self
            .eval(&CREATE, self.chat_keys(&chat.id), chat_args(chat))
            .await?;
        if created == 1 {
            self.index(&chat.id, &chat.members, &[]).await?;
        }
        Ok(created == 1)
    }

    async fn put_chat(&self, chat: &Chat) -> StoreResult<Option<Chat>> {
        let old: Value = self
            .eval(&PUT, self.chat_keys(&chat.id), chat_args(chat))
            .await?;
        let old = parse_chat(&chat.id, old)?;
        let gone: Vec<String> = old
            .iter()
            .flat_map(|o| o.members.iter())
            .filter(|m| !chat.is_member(m))
            .cloned()
            .collect();
        self.index(&chat.id, &chat.members, &gone).await?;
        Ok(old)
    }

    async fn get_chat(&self, chat_id: &str) -> StoreResult<Option<Chat>> {
        let v: Value = self.eval(&GET, self.chat_keys(chat_id), vec![]).await?;
        parse_chat(chat_id, v)
    }

    async fn add_members(
        &self,
        chat_id: &str,
        user_ids: &[String],
    ) -> StoreResult<Option<MembershipChange>> {
        let args = user_ids.iter().map(|u| Value::from(u.clone())).collect();
        let v: Value = self.eval(&ADD, self.chat_keys(chat_id), args).await?;
        let change = parse_change(chat_id, v, true)?;
        if let Some(c) = &change {
            self.index(chat_id, &c.added, &[]).await?;
        }
        Ok(change)
    }

    async fn remove_members(
        &self,
        chat_id: &str,
        user_ids: &[String],
    ) -> StoreResult<Option<MembershipChange>> {
        let args = user_ids.iter().map(|u| Value::from(u.clone())).collect();
        let v: Value = self.eval(&REMOVE, self.chat_keys(chat_id), args).await?;
        let change = parse_change(chat_id, v, false)?;
        if let Some(c) = &change {
            self.index(chat_id, &[], &c.removed).await?;
        }
        Ok(change)
    }

    async fn is_member(&self, chat_id: &str, user_id: &str) -> StoreResult<bool> {
        let key = &self.chat_keys(chat_id)[1];
        let score: Option<f64> = self.client.zscore(key, user_id).await.map_err(map_err)?;
        Ok(score.is_some())
    }

    async fn complete_chat(
        &self,
        chat_id: &str,
        completed_at: &str,
        result: Option<&serde_json::Value>,
    ) -> StoreResult<Option<(Chat, bool)>> {
        let args = vec![
            Value::from(completed_at),
            result.map(|r| r.to_string()).unwrap_or_default().into(),
        ];
        let v: Value = self.eval(&COMPLETE, self.chat_keys(chat_id), args).await?;
        if v.is_null() {
            return Ok(None);
        }
        let bad = || StoreError::Internal(format!("malformed completion of {chat_id}"));
        let mut parts: Vec<Value> = v.convert().map_err(|_| bad())?;
        let (Some(chat), Some(now)) = (parts.pop(), parts.pop()) else {
            return Err(bad());
        };
        let chat = parse_chat(chat_id, chat)?.ok_or_else(bad)?;
        Ok(Some((chat, now.as_i64() == Some(1))))
    }

    async fn bot_session(&self, user_id: &str, key: &str) -> StoreResult<Option<String>> {
        self.client
            .hget(self.bot_sessions_key(user_id), key)
            .await
            .map_err(map_err)
    }

    async fn set_bot_session(&self, user_id: &str, key: &str, chat_id: &str) -> StoreResult<()> {
        self.client
            .hset(self.bot_sessions_key(user_id), (key, chat_id))
            .await
            .map_err(map_err)
    }

    async fn chats_of_user(&self, user_id: &str, limit: usize) -> StoreResult<Vec<String>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.client
            .zrange(
                self.user_chats_key(user_id),
                -(limit as i64),
                -1,
                None,
                false,
                None,
                false,
            )
            .await
            .map_err(map_err)
    }
}
