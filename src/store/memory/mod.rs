//! The in-process backend: every storage trait on one node's memory.
//!
//! It makes a single node complete with no Redis (the embedded default). It
//! follows the same rules as the Redis backend, checked by the same
//! behaviour suites: bounded history (count and age), expiring `clientId`
//! entries, forward-only cursors.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::cache::{Counter, Freshness, ReplyCacheStore, Stats, Waiter};
use crate::calls::{Call, CallStore, HistoryEntry};
use crate::chat::{Chat, ChatStore, MembershipChange};
use crate::cluster::{ClusterStore, Session};
use crate::inbox::{InboxStore, Queued};
use crate::messages::{Appended, Cursor, Message, MessageStore, NewMessage, Page, SyncSlice};
use crate::notifications::{Notification, NotificationStore};
use crate::presence::{Presence, PresenceStore, Record, Shown, Status};
use crate::reactions::{Change, ReactionStore, Reactions};
use crate::store::StoreResult;
use crate::webhooks::{Delivery, Depths, WebhookQueue};

#[derive(Default)]
struct ChatLog {
    last_seq: u64,
    messages: VecDeque<Message>,
    /// message id → seq
    ids: HashMap<String, u64>,
    /// (sender, clientId) → (message id, expiry)
    client_ids: HashMap<(String, String), (String, Instant)>,
    delivered: HashMap<String, u64>,
    read: HashMap<String, u64>,
    /// message id → (emoji, user) in the order they were added
    reactions: HashMap<String, Vec<(String, String)>>,
}

impl ChatLog {
    fn trim(&mut self, max: u64, min_created_ms: i64) {
        while let Some(front) = self.messages.front() {
            let too_many = self.messages.len() as u64 > max;
            if !(too_many || front.created_ms < min_created_ms) {
                break;
            }
            let m = self.messages.pop_front().expect("front exists");
            self.ids.remove(&m.id);
            self.reactions.remove(&m.id);
        }
    }

    fn first_seq(&self) -> u64 {
        self.messages.front().map_or(self.last_seq + 1, |m| m.seq)
    }
}

#[derive(Default)]
struct State {
    chats: HashMap<String, Chat>,
    user_chats: HashMap<String, Vec<String>>,
    logs: HashMap<String, ChatLog>,
    sessions: HashMap<String, BTreeMap<String, Session>>,
    nodes: HashMap<String, Instant>,
    /// user → notifications, oldest first
    notifications: HashMap<String, VecDeque<Notification>>,
    presence: HashMap<String, Record>,
    /// user → when to check whether it is still without connections
    gone: HashMap<String, Instant>,
    /// call id → (call, expiry)
    calls: HashMap<String, (Call, Instant)>,
    /// call id → deadline
    call_timers: HashMap<String, Instant>,
    /// user → call history, newest first
    call_history: HashMap<String, VecDeque<HistoryEntry>>,
    /// user → (queued events, expiry)
    inbox: HashMap<String, (VecDeque<Queued>, Instant)>,
    webhooks: WebhookState,
    cache: CacheState,
    /// rate-limit key → theoretical arrival time (ms since `epoch`)
    rate: HashMap<String, f64>,
}

#[derive(Default)]
struct WebhookState {
    /// id → (delivery, due)
    ready: HashMap<String, (Delivery, Instant)>,
    /// id → (delivery, lease expiry)
    inflight: HashMap<String, (Delivery, Instant)>,
    dead: VecDeque<serde_json::Value>,
    /// correlation id → (delivery, expiry)
    corr: HashMap<String, (Delivery, Instant)>,
    answered: HashMap<String, Instant>,
}

#[derive(Default)]
struct CacheState {
    /// key → (replies, fresh until, stale until)
    entries: HashMap<String, (String, Instant, Instant)>,
    /// key → (lead expiry, waiters)
    leads: HashMap<String, (Instant, Vec<Waiter>)>,
    refresh: HashMap<String, Instant>,
    stats: Stats,
}

impl State {
    /// Removes one connection; on the last, sets `lastSeen` and queues the
    /// offline check at `check_at`. Returns the connections left.
    fn remove_session(&mut self, user: &str, socket: &str, check_at: Instant) -> usize {
        let Some(map) = self.sessions.get_mut(user) else {
            return 0;
        };
        if map.remove(socket).is_none() {
            return map.len();
        }
        let left = map.len();
        if left == 0 {
            self.sessions.remove(user);
            self.presence.entry(user.to_string()).or_default().seen_ms =
                Some(crate::time::now_ms());
            self.gone.insert(user.to_string(), check_at);
        }
        left
    }

    fn remove_node_sessions(&mut self, node: &str, check_at: Instant) -> usize {
        let doomed: Vec<(String, String)> = self
            .sessions
            .values()
            .flat_map(|m| m.values())
            .filter(|s| s.node_id == node)
            .map(|s| (s.user_id.clone(), s.socket_id.clone()))
            .collect();
        for (user, socket) in &doomed {
            self.remove_session(user, socket, check_at);
        }
        doomed.len()
    }

    fn index_add(&mut self, user: &str, chat: &str) {
        let list = self.user_chats.entry(user.to_string()).or_default();
        if !list.iter().any(|c| c == chat) {
            list.push(chat.to_string());
        }
    }

    fn index_remove(&mut self, user: &str, chat: &str) {
        if let Some(list) = self.user_chats.get_mut(user) {
            list.retain(|c| c != chat);
            if list.is_empty() {
                self.user_chats.remove(user);
            }
        }
    }
}

/// All state of a single node.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

fn push_unique(list: &mut Vec<String>, items: &[String]) -> Vec<String> {
    let mut added = Vec::new();
    for item in items {
        if !list.contains(item) {
            list.push(item.clone());
            added.push(item.clone());
        }
    }
    added
}

#[async_trait]
impl ChatStore for MemoryStore {
    async fn create_chat(&self, chat: &Chat) -> StoreResult<bool> {
        let mut st = self.state.lock();
        if st.chats.contains_key(&chat.id) {
            return Ok(false);
        }
        for m in &chat.members {
            st.index_add(m, &chat.id);
        }
        st.chats.insert(chat.id.clone(), chat.clone());
        Ok(true)
    }

    async fn put_chat(&self, chat: &Chat) -> StoreResult<Option<Chat>> {
        let mut st = self.state.lock();
        let previous = st.chats.insert(chat.id.clone(), chat.clone());
        if let Some(prev) = &previous {
            for m in prev.members.iter().filter(|m| !chat.is_member(m)) {
                st.index_remove(m, &chat.id);
            }
        }
        for m in &chat.members {
            st.index_add(m, &chat.id);
        }
        Ok(previous)
    }

    async fn get_chat(&self, chat_id: &str) -> StoreResult<Option<Chat>> {
        Ok(self.state.lock().chats.get(chat_id).cloned())
    }

    async fn add_members(
        &self,
        chat_id: &str,
        user_ids: &[String],
    ) -> StoreResult<Option<MembershipChange>> {
        let mut st = self.state.lock();
        let Some(chat) = st.chats.get_mut(chat_id) else {
            return Ok(None);
        };
        let added = push_unique(&mut chat.members, user_ids);
        let chat = chat.clone();
        for u in &added {
            st.index_add(u, chat_id);
        }
        Ok(Some(MembershipChange {
            chat,
            added,
            removed: Vec::new(),
        }))
    }

    async fn remove_members(
        &self,
        chat_id: &str,
        user_ids: &[String],
    ) -> StoreResult<Option<MembershipChange>> {
        let mut st = self.state.lock();
        let Some(chat) = st.chats.get_mut(chat_id) else {
            return Ok(None);
        };
        let gone: HashSet<&String> = user_ids.iter().collect();
        let removed: Vec<String> = chat
            .members
            .iter()
            .filter(|m| gone.contains(m))
            .cloned()
            .collect();
        chat.members.retain(|m| !gone.contains(m));
        chat.owners.retain(|m| !gone.contains(m));
        chat.bots.retain(|m| !gone.contains(m));
        let chat = chat.clone();
        for u in &removed {
            st.index_remove(u, chat_id);
        }
        Ok(Some(MembershipChange {
            chat,
            added: Vec::new(),
            removed,
        }))
    }

    async fn is_member(&self, chat_id: &str, user_id: &str) -> StoreResult<bool> {
        Ok(self
            .state
            .lock()
            .chats
            .get(chat_id)
            .is_some_and(|c| c.is_member(user_id)))
    }

    async fn chats_of_user(&self, user_id: &str, limit: usize) -> StoreResult<Vec<String>> {
        let st = self.state.lock();
        let list = st.user_chats.get(user_id).cloned().unwrap_or_default();
        let skip = list.len().saturating_sub(limit);
        Ok(list.into_iter().skip(skip).collect())
    }
}

#[async_trait]
impl MessageStore for MemoryStore {
    async fn append(&self, new: NewMessage) -> StoreResult<Appended> {
        let mut st = self.state.lock();
        let m = new.message;
        let member = st
            .chats
            .get(&m.chat_id)
            .is_some_and(|c| c.is_member(&m.sender_id));
        if !member {
            return Ok(Appended::NotMember);
        }
        let log = st.logs.entry(m.chat_id.clone()).or_default();
        let now = Instant::now();
        log.client_ids.retain(|_, (_, expiry)| *expiry > now);
        let key = m
            .client_id
            .as_ref()
            .map(|c| (m.sender_id.clone(), c.clone()));
        if let Some(key) = &key {
            if let Some((id, _)) = log.client_ids.get(key) {
                if let Some(seq) = log.ids.get(id) {
                    let idx = (seq - log.first_seq()) as usize;
                    return Ok(Appended::Duplicate(log.messages[idx].clone()));
                }
            }
        }
        log.last_seq += 1;
        let mut stored = m;
        stored.seq = log.last_seq;
        log.ids.insert(stored.id.clone(), stored.seq);
        if let Some(key) = key {
            let ttl = Duration::from_secs(new.client_id_ttl_secs);
            log.client_ids.insert(key, (stored.id.clone(), now + ttl));
        }
        for cursors in [&mut log.delivered, &mut log.read] {
            cursors.insert(stored.sender_id.clone(), stored.seq);
        }
        log.messages.push_back(stored.clone());
        log.trim(new.max_messages, new.min_created_ms);
        Ok(Appended::Stored(stored))
    }

    async fn before(&self, chat_id: &str, before: Option<u64>, limit: usize) -> StoreResult<Page> {
        let st = self.state.lock();
        let Some(log) = st.logs.get(chat_id) else {
            return Ok(Page {
                messages: Vec::new(),
                has_more: false,
            });
        };
        let eligible: Vec<&Message> = log
            .messages
            .iter()
            .filter(|m| before.is_none_or(|b| m.seq < b))
            .collect();
        let skip = eligible.len().saturating_sub(limit);
        Ok(Page {
            messages: eligible[skip..].iter().map(|m| (*m).clone()).collect(),
            has_more: skip > 0,
        })
    }

    async fn after(&self, chat_id: &str, after: u64, limit: usize) -> StoreResult<SyncSlice> {
        let st = self.state.lock();
        let Some(log) = st.logs.get(chat_id) else {
            return Ok(SyncSlice {
                messages: Vec::new(),
                complete: true,
                has_more: false,
            });
        };
        let mut eligible = log.messages.iter().filter(|m| m.seq > after);
        let messages: Vec<Message> = eligible.by_ref().take(limit).cloned().collect();
        let has_more = eligible.next().is_some();
        let complete = after + 1 >= log.first_seq() || after >= log.last_seq;
        Ok(SyncSlice {
            messages,
            complete,
            has_more,
        })
    }

    async fn seq_of(&self, chat_id: &str, message_id: &str) -> StoreResult<Option<u64>> {
        let st = self.state.lock();
        Ok(st
            .logs
            .get(chat_id)
            .and_then(|l| l.ids.get(message_id).copied()))
    }

    async fn last_seq(&self, chat_id: &str) -> StoreResult<u64> {
        Ok(self
            .state
            .lock()
            .logs
            .get(chat_id)
            .map_or(0, |l| l.last_seq))
    }

    async fn advance_cursor(
        &self,
        chat_id: &str,
        user_id: &str,
        cursor: Cursor,
        seq: u64,
    ) -> StoreResult<bool> {
        let mut st = self.state.lock();
        let log = st.logs.entry(chat_id.to_string()).or_default();
        let map = match cursor {
            Cursor::Delivered => &mut log.delivered,
            Cursor::Read => &mut log.read,
        };
        let current = map.entry(user_id.to_string()).or_insert(0);
        if seq > *current {
            *current = seq;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    async fn read_cursor(&self, chat_id: &str, user_id: &str) -> StoreResult<u64> {
        let st = self.state.lock();
        Ok(st
            .logs
            .get(chat_id)
            .and_then(|l| l.read.get(user_id).copied())
            .unwrap_or(0))
    }
}

#[async_trait]
impl ClusterStore for MemoryStore {
    async fn add_session(&self, session: &Session) -> StoreResult<Option<Presence>> {
        let mut st = self.state.lock();
        let user = &session.user_id;
        let conns = st.sessions.entry(user.clone()).or_default();
        conns.insert(session.socket_id.clone(), session.clone());
        let n = conns.len();
        let rec = st.presence.entry(user.clone()).or_default();
        rec.seen_ms = Some(crate::time::now_ms());
        let visible = rec.visible(n);
        let changed = rec.shown.unwrap_or(Shown::Offline) != visible;
        rec.shown = Some(visible);
        Ok(changed.then(|| rec.presence(user)))
    }

    async fn remove_session(
        &self,
        user_id: &str,
        socket_id: &str,
        _node_id: &str,
        grace: Duration,
    ) -> StoreResult<usize> {
        let mut st = self.state.lock();
        Ok(st.remove_session(user_id, socket_id, Instant::now() + grace))
    }

    async fn sessions_of(&self, user_id: &str) -> StoreResult<Vec<Session>> {
        let st = self.state.lock();
        Ok(st
            .sessions
            .get(user_id)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn online(&self, user_ids: &[String]) -> StoreResult<Vec<bool>> {
        let st = self.state.lock();
        Ok(user_ids
            .iter()
            .map(|u| st.sessions.get(u).is_some_and(|m| !m.is_empty()))
            .collect())
    }

    async fn heartbeat(&self, node_id: &str, ttl: Duration) -> StoreResult<bool> {
        let expiry = Instant::now() + ttl;
        Ok(self
            .state
            .lock()
            .nodes
            .insert(node_id.to_string(), expiry)
            .is_none())
    }

    async fn live_nodes(&self) -> StoreResult<Vec<String>> {
        let now = Instant::now();
        let st = self.state.lock();
        let mut nodes: Vec<String> = st
            .nodes
            .iter()
            .filter(|(_, expiry)| **expiry > now)
            .map(|(n, _)| n.clone())
            .collect();
        nodes.sort();
        Ok(nodes)
    }

    async fn remove_node(&self, node_id: &str, grace: Duration) -> StoreResult<usize> {
        let mut st = self.state.lock();
        st.nodes.remove(node_id);
        Ok(st.remove_node_sessions(node_id, Instant::now() + grace))
    }

    async fn connection_counts(&self, node_ids: &[String]) -> StoreResult<Vec<usize>> {
        let st = self.state.lock();
        Ok(node_ids
            .iter()
            .map(|n| {
                st.sessions
                    .values()
                    .flat_map(|m| m.values())
                    .filter(|s| &s.node_id == n)
                    .count()
            })
            .collect())
    }

    async fn reap_dead_nodes(&self, _holder: &str, _lease: Duration) -> StoreResult<Vec<String>> {
        // One process holds the whole state: the lock is the mutex.
        let now = Instant::now();
        let mut st = self.state.lock();
        let dead: Vec<String> = st
            .nodes
            .iter()
            .filter(|(_, expiry)| **expiry <= now)
            .map(|(n, _)| n.clone())
            .collect();
        for node in &dead {
            st.nodes.remove(node);
            st.remove_node_sessions(node, now);
        }
        Ok(dead)
    }

    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }
}

fn group(pairs: &[(String, String)]) -> Reactions {
    let mut out = Reactions::new();
    for (emoji, user) in pairs {
        out.entry(emoji.clone()).or_default().push(user.clone());
    }
    out
}

#[async_trait]
impl ReactionStore for MemoryStore {
    async fn add_reaction(
        &self,
        chat_id: &str,
        message_id: &str,
        emoji: &str,
        user_id: &str,
        max: usize,
        _ttl_secs: u64,
    ) -> StoreResult<Change> {
        let mut st = self.state.lock();
        let log = st.logs.entry(chat_id.to_string()).or_default();
        let pairs = log.reactions.entry(message_id.to_string()).or_default();
        let pair = (emoji.to_string(), user_id.to_string());
        let present = pairs.contains(&pair);
        let full = !present && pairs.len() >= max;
        let changed = !present && !full;
        if changed {
            pairs.push(pair);
        }
        Ok(Change {
            changed,
            full,
            reactions: group(pairs),
        })
    }

    async fn remove_reaction(
        &self,
        chat_id: &str,
        message_id: &str,
        emoji: &str,
        user_id: &str,
    ) -> StoreResult<Change> {
        let mut st = self.state.lock();
        let log = st.logs.entry(chat_id.to_string()).or_default();
        let pairs = log.reactions.entry(message_id.to_string()).or_default();
        let before = pairs.len();
        pairs.retain(|(e, u)| !(e == emoji && u == user_id));
        let changed = pairs.len() != before;
        let reactions = group(pairs);
        if pairs.is_empty() {
            log.reactions.remove(message_id);
        }
        Ok(Change {
            changed,
            full: false,
            reactions,
        })
    }

    async fn reactions(&self, chat_id: &str, message_id: &str) -> StoreResult<Reactions> {
        let st = self.state.lock();
        Ok(st
            .logs
            .get(chat_id)
            .and_then(|l| l.reactions.get(message_id))
            .map(|p| group(p))
            .unwrap_or_default())
    }
}

#[async_trait]
impl NotificationStore for MemoryStore {
    async fn push(
        &self,
        user_id: &str,
        n: &Notification,
        max: usize,
        _ttl: u64,
    ) -> StoreResult<()> {
        let mut st = self.state.lock();
        let list = st.notifications.entry(user_id.to_string()).or_default();
        list.push_back(n.clone());
        while list.len() > max {
            list.pop_front();
        }
        Ok(())
    }

    async fn list(
        &self,
        user_id: &str,
        limit: usize,
        ttl_secs: u64,
    ) -> StoreResult<Vec<Notification>> {
        let cutoff = crate::time::now_ms() - ttl_secs as i64 * 1000;
        let mut st = self.state.lock();
        let Some(list) = st.notifications.get_mut(user_id) else {
            return Ok(Vec::new());
        };
        list.retain(|n| n.created_ms >= cutoff);
        Ok(list.iter().rev().take(limit).cloned().collect())
    }

    async fn mark_read(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        let mut st = self.state.lock();
        let found = st
            .notifications
            .get_mut(user_id)
            .and_then(|l| l.iter_mut().find(|n| n.id == id));
        Ok(found.map(|n| n.read = true).is_some())
    }

    async fn clear(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        let mut st = self.state.lock();
        let Some(list) = st.notifications.get_mut(user_id) else {
            return Ok(false);
        };
        let before = list.len();
        list.retain(|n| n.id != id);
        Ok(list.len() != before)
    }

    async fn clear_all(&self, user_id: &str) -> StoreResult<usize> {
        Ok(self
            .state
            .lock()
            .notifications
            .remove(user_id)
            .map_or(0, |l| l.len()))
    }
}

#[async_trait]
impl PresenceStore for MemoryStore {
    async fn set_status(
        &self,
        user_id: &str,
        status: Status,
        custom: Option<Option<String>>,
    ) -> StoreResult<(Presence, bool)> {
        let mut st = self.state.lock();
        let n = st.sessions.get(user_id).map_or(0, |m| m.len());
        let rec = st.presence.entry(user_id.to_string()).or_default();
        let before = rec.presence(user_id);
        rec.status = status;
        if let Some(c) = custom {
            rec.custom = c;
        }
        rec.seen_ms = Some(crate::time::now_ms());
        rec.shown = Some(rec.visible(n));
        let after = rec.presence(user_id);
        let changed = before.status != after.status
            || (after.status != Shown::Offline && before.custom_status != after.custom_status);
        Ok((after, changed))
    }

    async fn presences(&self, user_ids: &[String]) -> StoreResult<Vec<Presence>> {
        let st = self.state.lock();
        Ok(user_ids
            .iter()
            .map(|u| st.presence.get(u).cloned().unwrap_or_default().presence(u))
            .collect())
    }

    async fn settle_due(&self, limit: usize, _lease: Duration) -> StoreResult<Vec<Presence>> {
        let now = Instant::now();
        let mut st = self.state.lock();
        let due: Vec<String> = st
            .gone
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(u, _)| u.clone())
            .take(limit)
            .collect();
        let mut out = Vec::new();
        for user in due {
            st.gone.remove(&user);
            if st.sessions.get(&user).is_some_and(|m| !m.is_empty()) {
                continue;
            }
            let rec = st.presence.entry(user.clone()).or_default();
            if rec.shown.is_some_and(|s| s != Shown::Offline) {
                rec.shown = Some(Shown::Offline);
                out.push(rec.presence(&user));
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl CallStore for MemoryStore {
    async fn create_call(&self, call: &Call, ttl: Duration) -> StoreResult<bool> {
        let now = Instant::now();
        let mut st = self.state.lock();
        st.calls.retain(|_, (_, expiry)| *expiry > now);
        if st.calls.contains_key(&call.id) {
            return Ok(false);
        }
        let mut c = call.clone();
        c.version = 0;
        st.calls.insert(call.id.clone(), (c, now + ttl));
        Ok(true)
    }

    async fn get_call(&self, id: &str) -> StoreResult<Option<Call>> {
        let now = Instant::now();
        let st = self.state.lock();
        Ok(st
            .calls
            .get(id)
            .filter(|(_, expiry)| *expiry > now)
            .map(|(c, _)| c.clone()))
    }

    async fn update_call(&self, call: &Call, ttl: Duration) -> StoreResult<bool> {
        let now = Instant::now();
        let mut st = self.state.lock();
        match st.calls.get_mut(&call.id) {
            Some((c, expiry)) if *expiry > now && c.version == call.version => {
                *c = call.clone();
                c.version += 1;
                *expiry = now + ttl;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn schedule_call(&self, id: &str, delay: Duration) -> StoreResult<()> {
        self.state
            .lock()
            .call_timers
            .insert(id.to_string(), Instant::now() + delay);
        Ok(())
    }

    async fn take_due_calls(&self, limit: usize, lease: Duration) -> StoreResult<Vec<String>> {
        let now = Instant::now();
        let mut st = self.state.lock();
        let due: Vec<String> = st
            .call_timers
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| id.clone())
            .take(limit)
            .collect();
        for id in &due {
            st.call_timers.insert(id.clone(), now + lease);
        }
        Ok(due)
    }

    async fn unschedule_call(&self, id: &str) -> StoreResult<()> {
        self.state.lock().call_timers.remove(id);
        Ok(())
    }

    async fn push_history(
        &self,
        user_id: &str,
        entry: &HistoryEntry,
        max: usize,
    ) -> StoreResult<()> {
        let mut st = self.state.lock();
        let list = st.call_history.entry(user_id.to_string()).or_default();
        list.push_front(entry.clone());
        list.truncate(max);
        Ok(())
    }

    async fn history(&self, user_id: &str, limit: usize) -> StoreResult<Vec<HistoryEntry>> {
        let st = self.state.lock();
        Ok(st
            .call_history
            .get(user_id)
            .map(|l| l.iter().take(limit).cloned().collect())
            .unwrap_or_default())
    }
}

#[async_trait]
impl InboxStore for MemoryStore {
    async fn push_inbox(
        &self,
        user_id: &str,
        item: &Queued,
        max: usize,
        ttl_secs: u64,
    ) -> StoreResult<()> {
        let now = Instant::now();
        let mut st = self.state.lock();
        st.inbox.retain(|_, (_, expiry)| *expiry > now);
        let (list, expiry) = st
            .inbox
            .entry(user_id.to_string())
            .or_insert_with(|| (VecDeque::new(), now));
        list.push_back(item.clone());
        while list.len() > max {
            list.pop_front();
        }
        *expiry = now + Duration::from_secs(ttl_secs);
        Ok(())
    }

    async fn take_inbox(&self, user_id: &str) -> StoreResult<Vec<Queued>> {
        let now = Instant::now();
        let mut st = self.state.lock();
        Ok(match st.inbox.remove(user_id) {
            Some((list, expiry)) if expiry > now => list.into(),
            _ => Vec::new(),
        })
    }
}

#[async_trait]
impl WebhookQueue for MemoryStore {
    async fn enqueue(&self, d: &Delivery) -> StoreResult<()> {
        let mut st = self.state.lock();
        st.webhooks
            .ready
            .insert(d.id.clone(), (d.clone(), Instant::now()));
        Ok(())
    }

    async fn claim(&self, max: usize, lease: Duration) -> StoreResult<Vec<Delivery>> {
        let now = Instant::now();
        let mut st = self.state.lock();
        let w = &mut st.webhooks;
        let mut due: Vec<(Instant, String)> = w
            .inflight
            .iter()
            .filter(|(_, (_, until))| *until <= now)
            .map(|(id, (_, until))| (*until, id.clone()))
            .collect();
        let mut ready: Vec<(Instant, String)> = w
            .ready
            .iter()
            .filter(|(_, (_, at))| *at <= now)
            .map(|(id, (_, at))| (*at, id.clone()))
            .collect();
        ready.sort();
        due.sort();
        due.extend(ready);
        due.truncate(max);
        let mut out = Vec::new();
        for (_, id) in due {
            let d = match w.ready.remove(&id) {
                Some((d, _)) => d,
                None => match w.inflight.remove(&id) {
                    Some((d, _)) => d,
                    None => continue,
                },
            };
            w.inflight.insert(id, (d.clone(), now + lease));
            out.push(d);
        }
        Ok(out)
    }

    async fn ack(&self, id: &str) -> StoreResult<()> {
        self.state.lock().webhooks.inflight.remove(id);
        Ok(())
    }

    async fn retry(&self, d: &Delivery, delay: Duration) -> StoreResult<()> {
        let mut st = self.state.lock();
        st.webhooks.inflight.remove(&d.id);
        st.webhooks
            .ready
            .insert(d.id.clone(), (d.clone(), Instant::now() + delay));
        Ok(())
    }

    async fn dead_letter(&self, d: &Delivery, error: &str, max_dead: usize) -> StoreResult<()> {
        let mut st = self.state.lock();
        st.webhooks.inflight.remove(&d.id);
        let entry =
            serde_json::json!({ "delivery": d, "error": error, "at": crate::time::now_rfc3339() });
        st.webhooks.dead.push_front(entry);
        st.webhooks.dead.truncate(max_dead);
        Ok(())
    }

    async fn dead_letters(&self, limit: usize) -> StoreResult<Vec<serde_json::Value>> {
        let st = self.state.lock();
        Ok(st.webhooks.dead.iter().take(limit).cloned().collect())
    }

    async fn depths(&self) -> StoreResult<Depths> {
        let st = self.state.lock();
        Ok(Depths {
            ready: st.webhooks.ready.len(),
            in_flight: st.webhooks.inflight.len(),
            dead: st.webhooks.dead.len(),
        })
    }

    async fn remember(&self, d: &Delivery, ttl: Duration) -> StoreResult<()> {
        let now = Instant::now();
        let mut st = self.state.lock();
        st.webhooks.corr.retain(|_, (_, until)| *until > now);
        st.webhooks
            .corr
            .insert(d.correlation_id.clone(), (d.clone(), now + ttl));
        Ok(())
    }

    async fn recall(&self, corr: &str) -> StoreResult<Option<Delivery>> {
        let now = Instant::now();
        let st = self.state.lock();
        Ok(st
            .webhooks
            .corr
            .get(corr)
            .filter(|(_, until)| *until > now)
            .map(|(d, _)| d.clone()))
    }

    async fn mark_answered(&self, corr: &str, ttl: Duration) -> StoreResult<bool> {
        let now = Instant::now();
        let mut st = self.state.lock();
        st.webhooks.answered.retain(|_, until| *until > now);
        if st.webhooks.answered.contains_key(corr) {
            return Ok(false);
        }
        st.webhooks.answered.insert(corr.to_string(), now + ttl);
        Ok(true)
    }
}

#[async_trait]
impl ReplyCacheStore for MemoryStore {
    async fn cache_get(&self, key: &str) -> StoreResult<Option<(String, Freshness)>> {
        let now = Instant::now();
        let st = self.state.lock();
        Ok(st.cache.entries.get(key).and_then(|(r, fresh, stale)| {
            if now <= *fresh {
                Some((r.clone(), Freshness::Fresh))
            } else if now <= *stale {
                Some((r.clone(), Freshness::Stale))
            } else {
                None
            }
        }))
    }

    async fn cache_put(
        &self,
        key: &str,
        replies: &str,
        ttl: Duration,
        stale: Duration,
    ) -> StoreResult<()> {
        let now = Instant::now();
        let mut st = self.state.lock();
        st.cache.entries.retain(|_, (_, _, until)| *until >= now);
        st.cache.entries.insert(
            key.to_string(),
            (replies.to_string(), now + ttl, now + ttl + stale),
        );
        Ok(())
    }

    async fn cache_refresh_lock(&self, key: &str, ttl: Duration) -> StoreResult<bool> {
        let now = Instant::now();
        let mut st = self.state.lock();
        st.cache.refresh.retain(|_, until| *until > now);
        if st.cache.refresh.contains_key(key) {
            return Ok(false);
        }
        st.cache.refresh.insert(key.to_string(), now + ttl);
        Ok(true)
    }

    async fn cache_lead(&self, key: &str, ttl: Duration) -> StoreResult<bool> {
        let now = Instant::now();
        let mut st = self.state.lock();
        st.cache.leads.retain(|_, (until, _)| *until > now);
        if st.cache.leads.contains_key(key) {
            return Ok(false);
        }
        st.cache
            .leads
            .insert(key.to_string(), (now + ttl, Vec::new()));
        Ok(true)
    }

    async fn cache_wait(&self, key: &str, waiter: &Waiter) -> StoreResult<bool> {
        let now = Instant::now();
        let mut st = self.state.lock();
        match st.cache.leads.get_mut(key) {
            Some((until, waiters)) if *until > now => {
                waiters.push(waiter.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn cache_finish(&self, key: &str) -> StoreResult<Vec<Waiter>> {
        let mut st = self.state.lock();
        Ok(st
            .cache
            .leads
            .remove(key)
            .map(|(_, w)| w)
            .unwrap_or_default())
    }

    async fn cache_count(&self, counter: Counter) -> StoreResult<()> {
        let mut st = self.state.lock();
        let s = &mut st.cache.stats;
        match counter {
            Counter::Hit => s.hits += 1,
            Counter::Miss => s.misses += 1,
            Counter::Stale => s.stale += 1,
        }
        Ok(())
    }

    async fn cache_stats(&self) -> StoreResult<Stats> {
        let now = Instant::now();
        let st = self.state.lock();
        let mut s = st.cache.stats.clone();
        s.entries = st
            .cache
            .entries
            .values()
            .filter(|(_, _, until)| *until >= now)
            .count() as u64;
        Ok(s)
    }

    async fn cache_invalidate(&self, key: Option<&str>, prefix: Option<&str>) -> StoreResult<u64> {
        let mut st = self.state.lock();
        let before = st.cache.entries.len();
        st.cache.entries.retain(|k, _| match (key, prefix) {
            (Some(key), _) => k != key,
            (None, Some(p)) => !k.starts_with(p),
            (None, None) => true,
        });
        Ok((before - st.cache.entries.len()) as u64)
    }
}

/// A monotonic millisecond clock for the in-process limiter.
fn mono_ms() -> f64 {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_secs_f64() * 1000.0
}

#[async_trait]
impl crate::rate_limit::RateLimitStore for MemoryStore {
    async fn hit(&self, key: &str, count: u32, period: Duration) -> StoreResult<Option<Duration>> {
        // The same GCRA as the Redis script.
        let now = mono_ms();
        let period = period.as_secs_f64() * 1000.0;
        let step = period / f64::from(count);
        let mut st = self.state.lock();
        if st.rate.len() > 100_000 {
            st.rate.retain(|_, tat| *tat > now);
        }
        let tat = st.rate.get(key).copied().unwrap_or(now).max(now);
        let new_tat = tat + step;
        let allow_at = new_tat - period;
        if now < allow_at {
            return Ok(Some(Duration::from_millis(
                (allow_at - now).ceil().max(1.0) as u64,
            )));
        }
        st.rate.insert(key.to_string(), new_tat);
        Ok(None)
    }
}
