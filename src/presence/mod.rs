//! Presence (PROTOCOL §5): who is online, derived from the connection
//! registry, with a chosen status, a custom status and `lastSeen`.
//!
//! - A user is online while any of its connections, on any node, is in the
//!   registry ([`crate::cluster`]). The registry and the presence record of
//!   a user change together in one atomic step, and each record remembers
//!   what was last announced (`shown`), so every change is announced exactly
//!   once whichever node (or how many nodes) observe it.
//! - The last disconnect does not announce `offline` at once: the user is
//!   queued for a check after `SB_PRESENCE_GRACE_MS`. Every node sweeps due
//!   checks every `SB_PRESENCE_SWEEP_MS`; a user that reconnected in between
//!   is skipped, so a rolling restart or a flaky network does not flap.
//! - A node that dies without goodbye stops renewing its heartbeat; after
//!   `SB_NODE_TTL_SECS` the next sweep (on whichever node takes the reaper
//!   lock) removes its connections and queues its users for an immediate
//!   check. Bound: node TTL + heartbeat interval + sweep interval.
//! - `invisible` is shown to everybody (the user's own acks included) as
//!   `offline`, without its custom status.
//!
//! Events (`events.rs`): `presence:update`, `presence:subscribe`,
//! `presence:unsubscribe`, `presence:get`. Server event:
//! `presence:update { presence }` to the room `p:USER` of the subscribers.
//! Storage: [`PresenceStore`] (and the registry half in `ClusterStore`), in
//! `store/memory` and `store/redis/presence.rs`.

pub mod events;
pub mod routes;
pub mod service;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Deserializer, Serialize};

use crate::store::error::{StoreError, StoreResult};

/// The status a user chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Online,
    Away,
    Busy,
    Invisible,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Online => "online",
            Status::Away => "away",
            Status::Busy => "busy",
            Status::Invisible => "invisible",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "online" => Status::Online,
            "away" => Status::Away,
            "busy" => Status::Busy,
            "invisible" => Status::Invisible,
            _ => return None,
        })
    }
}

/// The status others see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Shown {
    Online,
    Away,
    Busy,
    Offline,
}

impl Shown {
    pub fn parse(s: &str) -> Self {
        match s {
            "online" => Shown::Online,
            "away" => Shown::Away,
            "busy" => Shown::Busy,
            _ => Shown::Offline,
        }
    }
}

/// The `presence` object of the protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Presence {
    pub user_id: String,
    pub status: Shown,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_status: Option<String>,
    /// RFC 3339; `null` for a user never seen.
    pub last_seen: Option<String>,
}

/// One user's stored presence record, as both backends keep it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub status: Status,
    pub custom: Option<String>,
    /// What was last announced; `None` before the first connection.
    pub shown: Option<Shown>,
    /// Last connect, disconnect or status change (epoch ms).
    pub seen_ms: Option<i64>,
}

impl Record {
    /// What others see now.
    pub fn presence(&self, user_id: &str) -> Presence {
        let status = self.shown.unwrap_or(Shown::Offline);
        Presence {
            user_id: user_id.to_string(),
            status,
            custom_status: (self.status != Status::Invisible)
                .then(|| self.custom.clone())
                .flatten(),
            last_seen: self.seen_ms.map(crate::time::rfc3339_from_ms),
        }
    }

    /// What others should see given the number of live connections.
    pub fn visible(&self, connections: usize) -> Shown {
        match (connections, self.status) {
            (0, _) | (_, Status::Invisible) => Shown::Offline,
            (_, Status::Online) => Shown::Online,
            (_, Status::Away) => Shown::Away,
            (_, Status::Busy) => Shown::Busy,
        }
    }
}

/// How long a presence record outlives the user's last activity.
pub const RECORD_TTL: Duration = Duration::from_secs(90 * 86_400);

/// Longest custom status, in bytes.
pub const MAX_CUSTOM_STATUS: usize = 256;

/// Per-user presence records. The registry half (connect, disconnect, node
/// reaping) is in [`crate::cluster::ClusterStore`], on the same records.
#[async_trait]
pub trait PresenceStore: Send + Sync + 'static {
    /// Sets the chosen status and, when `custom` is `Some`, the custom status
    /// (`Some(None)` clears it). Returns the presence others now see and
    /// whether it changed (then it must be announced, exactly once).
    async fn set_status(
        &self,
        user_id: &str,
        status: Status,
        custom: Option<Option<String>>,
    ) -> StoreResult<(Presence, bool)>;
    /// Presences as others see them, in the order asked.
    async fn presences(&self, user_ids: &[String]) -> StoreResult<Vec<Presence>>;
    /// Users whose grace period is over: those still without a connection
    /// and not yet announced offline are marked offline and returned (each
    /// once across all nodes). At most `limit` per call; `lease` is how long
    /// a claimed check stays hidden from other nodes before it is retried.
    async fn settle_due(&self, limit: usize, lease: Duration) -> StoreResult<Vec<Presence>>;
}

/// What can go wrong with a presence request.
#[derive(Debug, thiserror::Error)]
pub enum PresenceError {
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("too many presence subscriptions on this connection (at most {0})")]
    TooManySubscriptions(usize),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `presence:update` payload.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Update {
    pub status: Status,
    /// Absent: unchanged; `null` or `""`: cleared.
    #[serde(default, deserialize_with = "present")]
    pub custom_status: Option<Option<String>>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `presence:subscribe` / `presence:unsubscribe` / `presence:get` payload.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Users {
    pub user_ids: Vec<String>,
}
