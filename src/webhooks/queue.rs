//! The delivery type and the durable queue's storage trait.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::error::StoreResult;

/// One event to POST to the automation backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub id: String,
    /// Carried unchanged through retries, takeovers and the reply.
    pub correlation_id: String,
    pub event: String,
    #[serde(default)]
    pub chat_id: Option<String>,
    #[serde(default)]
    pub bot_id: Option<String>,
    #[serde(default)]
    pub sender_id: Option<String>,
    pub data: Value,
    /// Attempts already made.
    pub attempt: u32,
    pub created_ms: i64,
    /// Reply-cache key: the reply is cached (and served to waiters).
    #[serde(default)]
    pub cache_key: Option<String>,
    /// A stale-while-revalidate refresh: the reply only updates the cache.
    #[serde(default)]
    pub refresh: bool,
    /// The W3C trace context of the event that caused the delivery (when
    /// traces are exported); the request carries it as `traceparent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// A bot session's (§13) `{ topic, metadata }`, sent as `session`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<Value>,
}

impl Delivery {
    /// A new delivery of `event` with `data`: fresh delivery and
    /// correlation ids, no attempt yet, no bot.
    /// The correlation id is `corr_` + the delivery id, so that a delivery
    /// still queued or in flight is found by its correlation id without a
    /// record of its own (see [`WebhookQueue::recall`]).
    pub fn new(event: &str, chat_id: Option<String>, data: Value) -> Self {
        let id = uuid::Uuid::now_v7().simple().to_string();
        Delivery {
            correlation_id: format!("{CORRELATION_PREFIX}{id}"),
            id,
            event: event.into(),
            chat_id,
            bot_id: None,
            sender_id: None,
            data,
            attempt: 0,
            created_ms: crate::time::now_ms(),
            cache_key: None,
            refresh: false,
            traceparent: None,
            session: None,
        }
    }
}

/// What a correlation id is: this, then its delivery's id.
pub const CORRELATION_PREFIX: &str = "corr_";

/// The delivery id a correlation id names (deliveries queued before
/// correlation ids were derived from delivery ids name none).
pub fn delivery_id_of(correlation_id: &str) -> Option<&str> {
    correlation_id
        .strip_prefix(CORRELATION_PREFIX)
        .filter(|id| is_delivery_id(id))
}

impl Delivery {
    /// Whether its correlation id names it (see [`Delivery::new`]).
    pub fn named_by_correlation(&self) -> bool {
        delivery_id_of(&self.correlation_id) == Some(self.id.as_str())
    }

    /// What answering it needs for the reply window: the chat, the bot and
    /// the cache key, not the event data.
    pub fn answerable(&self) -> Delivery {
        Delivery {
            data: Value::Null,
            traceparent: None,
            ..self.clone()
        }
    }
}

/// Dead letters are named by their delivery id: generated hex, so 1 to 64
/// ASCII letters and digits (anything else names none).
pub fn is_delivery_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Queue depths for `/admin/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Depths {
    /// Waiting to be sent (including retries not yet due).
    pub ready: usize,
    /// Claimed by a node, being sent.
    pub in_flight: usize,
    pub dead: usize,
    /// How long the longest-waiting due delivery has been due, in
    /// milliseconds (0: none is waiting): the queue's lag.
    pub oldest_wait_ms: u64,
}

/// The durable delivery queue and the correlation registry.
#[async_trait]
pub trait WebhookQueue: Send + Sync + 'static {
    /// Adds a delivery, due now, unless `max` (> 0) deliveries are already
    /// waiting or in flight; `false` when it was not added.
    async fn enqueue(&self, d: &Delivery, max: usize) -> StoreResult<bool>;
    /// Claims up to `max` due deliveries (new, retries that are due, and
    /// in-flight ones whose lease expired) for `lease`.
    async fn claim(&self, max: usize, lease: Duration) -> StoreResult<Vec<Delivery>>;
    /// Done: forget the delivery.
    async fn ack(&self, id: &str) -> StoreResult<()>;
    /// Failed: store `d` (its attempt count raised) due after `delay`.
    async fn retry(&self, d: &Delivery, delay: Duration) -> StoreResult<()>;
    /// Failed for good: move to the dead-letter list (keeping `max_dead`).
    async fn dead_letter(&self, d: &Delivery, error: &str, max_dead: usize) -> StoreResult<()>;
    /// The newest dead letters: `{ delivery, error, at }`.
    async fn dead_letters(&self, limit: usize) -> StoreResult<Vec<Value>>;
    /// Removes the dead letter of delivery `id` and returns it (for replay
    /// or deletion); `None` when there is none.
    async fn take_dead(&self, id: &str) -> StoreResult<Option<Value>>;
    async fn depths(&self) -> StoreResult<Depths>;
    /// Remembers a delivery under its correlation id for `ttl` (the reply
    /// window): done once it was sent and not answered at once.
    async fn remember(&self, d: &Delivery, ttl: Duration) -> StoreResult<()>;
    /// The delivery of a correlation id: remembered and within its window,
    /// or (named by the correlation id) still queued or in flight. Whether
    /// it was answered already is for [`WebhookQueue::mark_answered`].
    async fn recall(&self, correlation_id: &str) -> StoreResult<Option<Delivery>>;
    /// Marks a correlation id answered for `ttl`, and forgets its delivery;
    /// `false` if it already was answered.
    async fn mark_answered(&self, correlation_id: &str, ttl: Duration) -> StoreResult<bool>;
    /// Whether a correlation id was answered within the last `ttl`.
    async fn is_answered(&self, correlation_id: &str) -> StoreResult<bool>;
}
