//! The in-process backend: every storage trait on one node's memory.
//!
//! It makes a single node complete with no Redis (the embedded default). It
//! follows the same rules as the Redis backend, checked by the same
//! behaviour suites: bounded history (count and age), expiring `clientId`
//! entries, forward-only cursors.

mod cache;
mod calls;
mod chat;
mod cluster;
mod inbox;
mod messages;
mod notifications;
mod presence;
mod rate_limit;
mod reactions;
mod webhooks;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use parking_lot::Mutex;

use crate::calls::{Call, HistoryEntry};
use crate::chat::Chat;
use crate::cluster::Session;
use crate::inbox::Queued;
use crate::messages::Message;
use crate::notifications::Notification;
use crate::presence::Record;
use crate::webhooks::cache::{Stats, Waiter};

#[derive(Default)]
struct ChatLog {
    last_seq: u64,
    messages: VecDeque<Message>,
    /// message id → seq
    ids: HashMap<String, u64>,
    /// (sender, clientId) → (message id, expiry)
    client_ids: HashMap<(String, String), (String, Instant)>,
    /// The clientId records by expiry (the TTL is one setting, so the
    /// order they were added): expired ones are dropped from the front, so
    /// an append does constant work however many records the chat holds.
    client_id_expiry: VecDeque<(Instant, (String, String))>,
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

    /// Drops the clientId records that expired by `now`.
    fn expire_client_ids(&mut self, now: Instant) {
        while let Some((at, _)) = self.client_id_expiry.front() {
            if *at > now {
                break;
            }
            let (at, key) = self.client_id_expiry.pop_front().expect("front exists");
            // Unless the clientId was recorded again since (a later expiry).
            if self.client_ids.get(&key).is_some_and(|(_, e)| *e <= at) {
                self.client_ids.remove(&key);
            }
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
    /// The most connections counted at once.
    cluster_peak: usize,
    /// node → its published channel counts (JSON).
    node_channels: HashMap<String, String>,
    /// (user, bot \n topic) → the newest bot session's chat id.
    bot_sessions: HashMap<(String, String), String>,
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
    webhooks: webhooks::WebhookState,
    cache: CacheState,
    /// rate-limit key → theoretical arrival time (ms since `epoch`)
    rate: HashMap<String, f64>,
}

#[derive(Default)]
struct CacheState {
    /// key → (replies, fresh until, stale until, last used)
    entries: HashMap<String, (String, Instant, Instant, Instant)>,
    /// key → (lead expiry, waiters)
    leads: HashMap<String, (Instant, Vec<Waiter>)>,
    refresh: HashMap<String, Instant>,
    stats: Stats,
    /// Logged invalidations, newest first.
    invalidations: std::collections::VecDeque<String>,
}

impl State {
    /// Removes one connection; on the last, sets `lastSeen` and queues the
    /// offline check at `check_at`. Returns the connections left.
    fn remove_session(&mut self, user: &str, socket: &str, check_at: Instant) -> usize {
        let Some(map) = self.sessions.get_mut(user) else {
            // Already gone: still make sure the offline check happens.
            self.gone.entry(user.to_string()).or_insert(check_at);
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
