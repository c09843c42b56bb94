//! The reply cache (PROTOCOL §12): automation replies to cacheable requests
//! (menu commands and the like, matched by `SB_CACHE_RULES`) kept in the
//! store with a TTL and a stale-while-revalidate window, and identical
//! requests in flight de-duplicated across all nodes.
//!
//! - Fresh hit: the cached replies are posted at once; no upstream call.
//! - Stale hit (after `SB_CACHE_TTL_SECS`, within `SB_CACHE_STALE_SECS`):
//!   the stale replies are posted at once and one node (a lock) refreshes
//!   the entry in the background.
//! - Miss: the first request leads (a lock per key) and is delivered; the
//!   identical requests that arrive meanwhile, on any node, wait on the
//!   leader and get its reply: one upstream call serves them all.
//!
//! Keys are `BOT:g:DAY:CONTENT` (global) or `BOT:u:USERHASH:DAY:CONTENT`
//! (per user; [`user_part`], never the user id itself), `DAY` being the UTC date for rules marked `day` and `-`
//! otherwise, `CONTENT` the trimmed, lower-cased message; invalidation
//! takes a key or a prefix of one. Storage: [`ReplyCacheStore`]. Routes:
//! `GET /admin/cache/stats`, `POST /admin/cache/invalidate`.

pub mod routes;
pub mod service;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use crate::config::automation::{parse_rules, Rule, Scope};
use crate::store::error::StoreResult;
use crate::webhooks::Reply;

/// Longest message content considered for caching, in bytes.
pub const MAX_CACHEABLE: usize = 256;

/// The cache key of a message to `bot`, if a rule makes it cacheable.
pub fn key_for(
    rules: &[Rule],
    bot: &str,
    sender: &str,
    content: &str,
    day: &str,
) -> Option<String> {
    let text = content.trim().to_lowercase();
    if text.is_empty() || text.len() > MAX_CACHEABLE {
        return None;
    }
    let rule = rules.iter().find(|r| {
        if r.prefix {
            text.starts_with(&r.pattern)
        } else {
            text == r.pattern
        }
    })?;
    let day = if rule.day { day } else { "-" };
    Some(match rule.scope {
        Scope::Global => format!("{bot}:g:{day}:{text}"),
        Scope::User => format!("{bot}:u:{}:{day}:{text}", user_part(sender)),
    })
}

/// The user part of a per-user cache key: the first 16 bytes of the
/// SHA-256 of the user id, in hex. No user id is kept in the cache's keys
/// or its index; an operator who wants one user's entries computes the
/// same (`printf %s USER | sha256sum | cut -c1-32`).
pub fn user_part(user: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(user.as_bytes())[..16])
}

/// Is a cached entry still fresh, or only within its stale window?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    Stale,
}

/// A request waiting for the leader's reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Waiter {
    pub chat_id: String,
    pub bot_id: String,
    /// Makes the reply's client ids unique per waiting request.
    pub request_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub hits: u64,
    pub misses: u64,
    pub stale: u64,
    pub entries: u64,
    /// Requests with the automation now whose identical requests wait for
    /// them (single-flight leaders), cluster-wide.
    pub in_flight: u64,
}

/// `hits` | `misses` | `stale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Hit,
    Miss,
    Stale,
}

impl Counter {
    pub fn field(self) -> &'static str {
        match self {
            Counter::Hit => "hits",
            Counter::Miss => "misses",
            Counter::Stale => "stale",
        }
    }
}

#[async_trait]
pub trait ReplyCacheStore: Send + Sync + 'static {
    /// The cached replies (JSON) and their freshness; `None` when absent or
    /// past the stale window.
    async fn cache_get(&self, key: &str) -> StoreResult<Option<(String, Freshness)>>;
    /// Stores replies fresh for `ttl`, then stale for `stale`, and keeps
    /// at most `max` entries, evicting the least recently used (read or
    /// written). Returns how many were evicted.
    async fn cache_put(
        &self,
        key: &str,
        replies: &str,
        ttl: Duration,
        stale: Duration,
        max: usize,
    ) -> StoreResult<u64>;
    /// Takes the key's refresh lock for `ttl`; `false` if already taken.
    async fn cache_refresh_lock(&self, key: &str, ttl: Duration) -> StoreResult<bool>;
    /// Becomes the leader of the key's upstream call for `ttl`; `false` if
    /// another request leads.
    async fn cache_lead(&self, key: &str, ttl: Duration) -> StoreResult<bool>;
    /// Waits on the leader: `false` (nothing stored) when no request leads.
    async fn cache_wait(&self, key: &str, waiter: &Waiter) -> StoreResult<bool>;
    /// Ends the lead: returns the waiters, in arrival order.
    async fn cache_finish(&self, key: &str) -> StoreResult<Vec<Waiter>>;
    async fn cache_count(&self, counter: Counter) -> StoreResult<()>;
    async fn cache_stats(&self) -> StoreResult<Stats>;
    /// Drops the entry `key`, or every entry whose key starts with `prefix`.
    async fn cache_invalidate(&self, key: Option<&str>, prefix: Option<&str>) -> StoreResult<u64>;
    /// Records an invalidation (JSON) in the cluster's log, keeping the
    /// newest `keep`.
    async fn cache_log_invalidation(&self, entry: &str, keep: usize) -> StoreResult<()>;
    /// The logged invalidations, newest first, at most `limit`.
    async fn cache_invalidations(&self, limit: usize) -> StoreResult<Vec<String>>;
}

fn today() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}",
        now.year(),
        now.month() as u8,
        now.day()
    )
}

fn parse_replies(json: &str) -> Vec<Reply> {
    serde_json::from_str(json).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_match() {
        let rules = parse_rules("/menu global; /order* user day").unwrap();
        assert_eq!(
            key_for(&rules, "bot", "ann", "  /MENU ", "2026-12-01").as_deref(),
            Some("bot:g:-:/menu")
        );
        assert_eq!(
            key_for(&rules, "bot", "ann", "/order 12", "2026-12-01").as_deref(),
            Some(format!("bot:u:{}:2026-12-01:/order 12", user_part("ann")).as_str())
        );
        assert_eq!(key_for(&rules, "bot", "ann", "/menus", "d"), None);
        assert_eq!(key_for(&rules, "bot", "ann", "hello", "d"), None);
        assert_eq!(
            key_for(&rules, "bot", "ann", &"/order".repeat(100), "d"),
            None
        );
        assert!(parse_rules("/x sometimes").is_err());
        assert!(parse_rules("/x").is_err());
        assert_eq!(parse_rules("").unwrap(), vec![]);
    }
}
