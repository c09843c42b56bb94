//! Storage backends for the domains' storage traits.
//!
//! Each domain (`chat`, `messages`, `cluster`) declares the trait it needs;
//! `memory/` implements them in-process (a complete single node, no Redis) and
//! `redis/` implements them on Redis with fred (stateless nodes sharing one
//! Redis). [`Stores`] bundles one implementation of each trait. The behaviour
//! suites in `suite.rs` run the same assertions against both backends.

pub mod error;
pub mod memory;
pub mod redis;
#[cfg(test)]
mod suite;

use std::sync::Arc;

use crate::calls::CallStore;
use crate::chat::ChatStore;
use crate::cluster::ClusterStore;
use crate::inbox::InboxStore;
use crate::messages::MessageStore;
use crate::notifications::NotificationStore;
use crate::presence::PresenceStore;
use crate::reactions::ReactionStore;
use crate::webhooks::cache::ReplyCacheStore;

/// One implementation of every storage trait.
#[derive(Clone)]
pub struct Stores {
    pub chats: Arc<dyn ChatStore>,
    pub messages: Arc<dyn MessageStore>,
    pub cluster: Arc<dyn ClusterStore>,
    pub reactions: Arc<dyn ReactionStore>,
    pub notifications: Arc<dyn NotificationStore>,
    pub presence: Arc<dyn PresenceStore>,
    pub calls: Arc<dyn CallStore>,
    pub inbox: Arc<dyn InboxStore>,
    pub webhooks: Arc<dyn crate::webhooks::queue::WebhookQueue>,
    pub cache: Arc<dyn ReplyCacheStore>,
    pub rate_limits: Arc<dyn crate::rate_limit::RateLimitStore>,
}

impl Stores {
    /// The in-process backend (a complete single node).
    pub fn memory() -> Self {
        let mem = Arc::new(memory::MemoryStore::default());
        Self {
            chats: mem.clone(),
            messages: mem.clone(),
            cluster: mem.clone(),
            reactions: mem.clone(),
            notifications: mem.clone(),
            presence: mem.clone(),
            calls: mem.clone(),
            inbox: mem.clone(),
            webhooks: mem.clone(),
            cache: mem.clone(),
            rate_limits: mem,
        }
    }

    /// The Redis backend (stateless nodes sharing one Redis).
    pub fn from_redis(store: redis::RedisStore) -> Self {
        let store = Arc::new(store);
        Self {
            chats: store.clone(),
            messages: store.clone(),
            cluster: store.clone(),
            reactions: store.clone(),
            notifications: store.clone(),
            presence: store.clone(),
            calls: store.clone(),
            inbox: store.clone(),
            webhooks: store.clone(),
            cache: store.clone(),
            rate_limits: store,
        }
    }
}
