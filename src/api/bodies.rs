//! The 2xx bodies of the HTTP API, for the OpenAPI document: what a
//! generated client types its answers as. Handlers build these same
//! shapes; the test command's schemathesis run checks every answer it
//! gets against the document (`response_schema_conformance`).

use serde::Serialize;
use utoipa::ToSchema;

use crate::chat::Chat;
use crate::cluster::Session;
use crate::messages::Message;
use crate::presence::Presence;

/// `{}`: done.
#[derive(Serialize, ToSchema)]
pub struct Empty {}

/// `{ message }`: stored and delivered.
#[derive(Serialize, ToSchema)]
pub struct MessageBody {
    pub message: Message,
}

/// `{ chat }`.
#[derive(Serialize, ToSchema)]
pub struct ChatBody {
    pub chat: Chat,
}

/// `{ chat, created }`.
#[derive(Serialize, ToSchema)]
pub struct PutChatBody {
    pub chat: Chat,
    /// The chat did not exist before.
    pub created: bool,
}

/// `{ notified }`: how many users.
#[derive(Serialize, ToSchema)]
pub struct NotifiedBody {
    pub notified: u64,
}

/// `{ outcome }`: `live` (delivered to connected devices), `queued` (kept
/// for the next connection) or `dropped` (offline, not persisted).
#[derive(Serialize, ToSchema)]
pub struct OutcomeBody {
    pub outcome: String,
}

/// `{ presences }`, in the order asked.
#[derive(Serialize, ToSchema)]
pub struct PresencesBody {
    pub presences: Vec<Presence>,
}

/// `{ token, userId, expiresAt, chat? }`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GuestSessionBody {
    /// The guest's JWT (connect with it as `auth.token`).
    pub token: String,
    /// `guest_<32 hex>`.
    pub user_id: String,
    /// RFC 3339.
    pub expires_at: String,
    /// The started bot session, when `botId` was given.
    pub chat: Option<Chat>,
}

/// `{ posted }`: replies posted into the chat.
#[derive(Serialize, ToSchema)]
pub struct PostedBody {
    pub posted: u64,
}

/// `/admin/stats`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatsBody {
    pub node_id: String,
    pub draining: bool,
    /// RFC 3339.
    pub started_at: String,
    pub uptime_secs: u64,
    pub connections: ConnectionStats,
    pub nodes: Vec<NodeStats>,
    pub rooms: RoomStats,
    /// This node's busiest channels, most subscribers first (at most 10).
    pub channels: Vec<ChannelStats>,
    /// The cluster's busiest channels: the sums of what each live node
    /// published at its last heartbeat (each its 100 busiest).
    pub cluster_channels: Vec<ChannelStats>,
    /// This node's running totals since it started.
    pub totals: Totals,
    /// `{ webhooks: { ready, inFlight, dead, oldestWaitMs } }`.
    #[schema(value_type = Object)]
    pub queues: (),
}

/// This node's running totals since it started (the console shows their
/// rates).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub messages_stored: u64,
    /// Broadcasts through the fan-out (each reaches every recipient).
    pub fanout_publishes: u64,
    /// Client events answered with an error.
    pub event_errors: u64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionStats {
    pub node: u64,
    pub cluster: u64,
    pub node_peak: u64,
    pub cluster_peak: u64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeStats {
    pub node_id: String,
    pub connections: u64,
}

/// This node's rooms.
#[derive(Serialize, ToSchema)]
pub struct RoomStats {
    pub chats: u64,
    pub channels: u64,
    pub users: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ChannelStats {
    pub channel: String,
    pub subscribers: u64,
}

/// `{ chat, messages, hasMore }`: a chat and its last messages, oldest
/// first.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessagesBody {
    pub chat: Chat,
    pub messages: Vec<Message>,
    /// Older messages exist.
    pub has_more: bool,
}

/// `{ sessions }`: live connections across nodes.
#[derive(Serialize, ToSchema)]
pub struct SessionsBody {
    pub sessions: Vec<Session>,
}

/// `{ sessions }`: how many connections were registered.
#[derive(Serialize, ToSchema)]
pub struct DisconnectedBody {
    pub sessions: u64,
}

/// `{ replayed }`: the dead letter's id, queued again.
#[derive(Serialize, ToSchema)]
pub struct ReplayedBody {
    pub replayed: String,
}

/// `{ deleted }`: the dead letter's id.
#[derive(Serialize, ToSchema)]
pub struct DeletedBody {
    pub deleted: String,
}

/// `{ removed }`: cache entries removed.
#[derive(Serialize, ToSchema)]
pub struct RemovedBody {
    pub removed: u64,
}

/// One logged cache invalidation.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Invalidation {
    pub key: Option<String>,
    pub prefix: Option<String>,
    pub removed: u64,
    /// RFC 3339.
    pub at: String,
    pub node_id: String,
}

/// `{ invalidations }`, newest first.
#[derive(Serialize, ToSchema)]
pub struct InvalidationsBody {
    pub invalidations: Vec<Invalidation>,
}
