//! The scripts that store a message on Redis (the layout is described in
//! `messages.rs`): the append, and the pending flag of a message whose
//! replicas did not confirm it.

use std::sync::LazyLock;

use fred::types::scripts::Script;

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
pub(super) static APPEND: LazyLock<Script> = LazyLock::new(|| {
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
pub(super) static PENDING: LazyLock<Script> = LazyLock::new(|| {
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
