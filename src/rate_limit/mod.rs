//! Rate limits (PROTOCOL §10) as data: every limited action, its default
//! and its configuration variable in one table, checked by one call.
//!
//! The limiter is GCRA (generic cell rate algorithm): `COUNT` per `SECS`
//! with a burst of `COUNT`, kept as one "theoretical arrival time" per key.
//! On Redis it is one Lua script using Redis's own clock, so every node
//! shares one budget per user and node clocks cannot widen it; the memory
//! backend runs the same algorithm in process. Keys are per user (all its
//! devices on all nodes together) and, for new connections, per client IP.
//!
//! Each limit says what happens when the store cannot be reached: `open`
//! lets the request through (counted in
//! `switchboard_rate_limit_total{result="fail_open"}`), `closed` refuses it
//! with `UNAVAILABLE`.
//!
//! The table of actions lives with the configuration
//! (`config/limits.rs`); the check is `service.rs`.
//!
//! Storage: [`RateLimitStore`], in `store/memory` and
//! `store/redis/rate_limit.rs`. Metric: `switchboard_rate_limit_total{action,result}`.

pub mod service;

use std::time::Duration;

use async_trait::async_trait;

pub use crate::config::limits::{parse_limit, Action, Limit, Limits, RateRow, TABLE};
use crate::store::error::StoreResult;

/// Why a limited action was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitError {
    /// Over the limit: the next request may go in `retry_after_ms`.
    #[error("rate limit exceeded; retry in {retry_after_ms} ms")]
    Limited { retry_after_ms: u64 },
    /// The store could not be reached and the limit fails closed.
    #[error("the rate limiter is unavailable")]
    Unavailable,
}

#[async_trait]
pub trait RateLimitStore: Send + Sync + 'static {
    /// Counts one request against `key` under `limit`: `None` when allowed,
    /// otherwise how long until the next request would be.
    async fn hit(&self, key: &str, count: u32, period: Duration) -> StoreResult<Option<Duration>>;
}
