//! Calls (PROTOCOL §6): WebRTC signaling with the call state in the store,
//! so that every step works whichever node each party is on.
//!
//! - A call is `ringing` → `active` → `ended`. Each callee is a *leg*:
//!   `ringing` → `joined` | `rejected` | `missed` | `left`. The caller
//!   signals from the socket that started the call; a callee from the
//!   device that answered. Everybody else is refused with `FORBIDDEN`.
//! - Every change is a compare-and-set on the call's version
//!   ([`CallStore::update_call`]), so two nodes never both apply a step
//!   (two devices answering at once: one wins, the other gets `CONFLICT`).
//! - The ring timeout is a deadline in the store's timer queue, claimed and
//!   handled by whichever node sweeps first (a claim hides it from the
//!   others for a lease; a handler that dies is retried after it). It fires
//!   even if the caller's node died.
//! - Calls into a group chat ring every other member; the caller relays
//!   with each member who answers (a star around the caller).
//! - When a call ends, every participant gets a call-history entry; callees
//!   who never answered get a missed-call notification.
//!
//! Events (`events.rs`): `call:initiate`, `call:answer`, `call:reject`,
//! `call:end`, `call:ice-candidate`, `call:history`. Server events:
//! `call:incoming`, `call:answer`, `call:reject`, `call:end`,
//! `call:ice-candidate`. Storage: [`CallStore`], in `store/memory` and
//! `store/redis/calls.rs`. Metrics: `switchboard_calls_total`,
//! `switchboard_calls_ended_total`.

pub mod events;
pub mod service;
pub mod state;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::chat::ChatError;
use crate::store::error::{StoreError, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Media {
    Audio,
    Video,
}

impl Media {
    pub fn as_str(self) -> &'static str {
        match self {
            Media::Audio => "audio",
            Media::Video => "video",
        }
    }
}

/// Most callees rung by one call into a group chat.
pub const MAX_GROUP_CALLEES: usize = 32;
/// Largest offer or answer (serialized JSON), in bytes.
pub const MAX_SDP_BYTES: usize = 64 * 1024;
/// Largest ICE candidate (serialized JSON), in bytes.
pub const MAX_CANDIDATE_BYTES: usize = 4096;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Initiate {
    #[serde(default)]
    pub callee_id: Option<String>,
    #[serde(default)]
    pub chat_id: Option<String>,
    pub media: Media,
    pub offer: Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    pub call_id: String,
    pub answer: Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hangup {
    pub call_id: String,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    pub call_id: String,
    pub candidate: Value,
    /// Group calls: the member the caller's candidate is for.
    #[serde(default)]
    pub to_user_id: Option<String>,
}

/// Who acts: the user and the socket it acts from.
#[derive(Clone, Copy)]
pub struct Actor<'a> {
    pub user: &'a str,
    pub socket: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallState {
    Ringing,
    Active,
    Ended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LegState {
    Ringing,
    Joined,
    Rejected,
    Missed,
    Left,
}

/// One callee of a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Leg {
    pub user_id: String,
    pub state: LegState,
    /// The device (socket) that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_id: Option<String>,
}

/// A call as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    pub id: String,
    pub caller_id: String,
    pub caller_socket: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    pub media: Media,
    pub state: CallState,
    pub legs: Vec<Leg>,
    pub created_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<String>,
    /// Compare-and-set version, kept by the store (not part of the JSON).
    #[serde(skip)]
    pub version: u64,
}

impl Call {
    pub fn leg(&self, user: &str) -> Option<&Leg> {
        self.legs.iter().find(|l| l.user_id == user)
    }

    pub fn leg_mut(&mut self, user: &str) -> Option<&mut Leg> {
        self.legs.iter_mut().find(|l| l.user_id == user)
    }

    /// Any callee still ringing or in the call.
    pub fn anyone_left(&self) -> bool {
        self.legs
            .iter()
            .any(|l| matches!(l.state, LegState::Ringing | LegState::Joined))
    }
}

/// One entry of a user's call history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub call_id: String,
    pub caller_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    pub media: Media,
    /// Everybody in the call, caller first.
    pub user_ids: Vec<String>,
    /// This user's part: `outgoing` | `answered` | `rejected` | `missed` | `left`.
    pub outcome: String,
    pub end_reason: String,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<String>,
    pub ended_at: String,
    pub duration_secs: u64,
}

/// Call state, ring deadlines and per-user history.
#[async_trait]
pub trait CallStore: Send + Sync + 'static {
    /// Stores a new call (version 0) that expires after `ttl`. `false` if
    /// the id exists.
    async fn create_call(&self, call: &Call, ttl: Duration) -> StoreResult<bool>;
    /// The call with its current version, `None` when unknown or expired.
    async fn get_call(&self, id: &str) -> StoreResult<Option<Call>>;
    /// Replaces the call if its stored version is still `call.version`
    /// (then the version is incremented). `false` when someone else changed
    /// it first, or it expired.
    async fn update_call(&self, call: &Call, ttl: Duration) -> StoreResult<bool>;
    /// Queues a deadline for the call, `delay` from now (store clock).
    async fn schedule_call(&self, id: &str, delay: Duration) -> StoreResult<()>;
    /// Claims up to `limit` due deadlines, hiding them from other nodes for
    /// `lease`; the claimer calls [`Self::unschedule_call`] when done.
    async fn take_due_calls(&self, limit: usize, lease: Duration) -> StoreResult<Vec<String>>;
    async fn unschedule_call(&self, id: &str) -> StoreResult<()>;
    /// Adds an entry to the front of a user's history, keeping `max`.
    async fn push_history(
        &self,
        user_id: &str,
        entry: &HistoryEntry,
        max: usize,
    ) -> StoreResult<()>;
    /// The newest `limit` entries, newest first.
    async fn history(&self, user_id: &str, limit: usize) -> StoreResult<Vec<HistoryEntry>>;
}

/// What can go wrong with a call request.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("too large: {0}")]
    TooLarge(String),
    #[error("call not found")]
    NotFound,
    #[error("not a participant of this call")]
    NotParticipant,
    #[error("you may only call users you share a chat with")]
    NotContact,
    #[error("{0}")]
    Conflict(&'static str),
    #[error(transparent)]
    Chat(#[from] ChatError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::ids::IdError> for CallError {
    fn from(e: crate::ids::IdError) -> Self {
        CallError::Chat(e.into())
    }
}
