//! The cache service: the logic behind `events.rs` and `routes.rs`.

use std::time::Duration;

use serde_json::json;

use super::{key_for, parse_replies, today, Counter, Freshness, Waiter};
use crate::app::AppState;
pub use crate::config::automation::{parse_rules, Rule, Scope};
use crate::messages::Message;
use crate::store::error::StoreResult;
use crate::webhooks::queue::Delivery;
use crate::webhooks::Reply;

/// How long a leader or a refresh may take: every attempt with backoff.
fn lead_ttl(app: &AppState) -> Duration {
    let w = &app.config.webhooks;
    let mut total = Duration::ZERO;
    for i in 0..w.max_attempts {
        total += w.timeout + w.backoff * 2u32.saturating_pow(i).min(1 << 16);
    }
    total + Duration::from_secs(5)
}

/// Hit, miss and entry counts across the cluster.
pub async fn stats(app: &AppState) -> StoreResult<super::Stats> {
    app.stores.cache.cache_stats().await
}

/// Invalidations kept in the log of `GET /admin/cache/invalidations`.
pub const INVALIDATIONS_KEPT: usize = 100;

/// The newest invalidations first: `{ key, prefix, removed, at, nodeId }`.
pub async fn invalidations(app: &AppState, limit: usize) -> StoreResult<Vec<serde_json::Value>> {
    let raw = app.stores.cache.cache_invalidations(limit).await?;
    Ok(raw
        .iter()
        .filter_map(|r| serde_json::from_str(r).ok())
        .collect())
}

/// Removes one entry (`key`) or every entry under `prefix`; exactly one of
/// them, 1-1024 bytes, and logs it. How many entries were removed.
pub async fn invalidate(
    app: &AppState,
    key: Option<&str>,
    prefix: Option<&str>,
) -> Result<u64, crate::error::AppError> {
    let ok = |s: Option<&str>| s.is_none_or(|s| !s.is_empty() && s.len() <= 1024);
    match (key, prefix) {
        (Some(_), None) | (None, Some(_)) if ok(key) && ok(prefix) => {
            let removed = app.stores.cache.cache_invalidate(key, prefix).await?;
            let entry = serde_json::json!({
                "key": key, "prefix": prefix, "removed": removed,
                "at": crate::time::now_rfc3339(), "nodeId": app.node_id,
            });
            app.stores
                .cache
                .cache_log_invalidation(&entry.to_string(), INVALIDATIONS_KEPT)
                .await?;
            Ok(removed)
        }
        _ => Err(crate::error::AppError::invalid(
            "give exactly one of key and prefix (1-1024 bytes)",
        )),
    }
}

/// A user message to `bot`: served from the cache, made to wait for an
/// identical request in flight, or delivered to the automation. Returns the
/// delivery when the queue was full and shed it (the caller answers it with
/// `bot:error`).
pub async fn handle(
    app: &AppState,
    m: &Message,
    bot: &str,
    session: Option<serde_json::Value>,
) -> StoreResult<Option<Delivery>> {
    let cfg = &app.config.cache;
    let chat = &m.chat_id;
    // A bot session's replies belong to it (they may depend on its topic
    // and metadata, and may complete it): never cached.
    let key = match session {
        Some(_) => None,
        None => key_for(&cfg.rules, bot, &m.sender_id, &m.content, &today()),
    };
    let Some(key) = key else {
        crate::webhooks::deliver::bot_typing(app, chat, bot, true).await;
        return request(
            app,
            crate::webhooks::delivery_for(m, Some(bot), None, session),
        )
        .await;
    };
    let store = &app.stores.cache;
    let request_id = format!("cache_{}_{}", m.id, bot);
    for round in 0..3 {
        match store.cache_get(&key).await? {
            Some((json, fresh)) => {
                let counter = if fresh == Freshness::Fresh {
                    Counter::Hit
                } else {
                    Counter::Stale
                };
                store.cache_count(counter).await?;
                crate::telemetry::metrics::cache(counter.field());
                crate::webhooks::deliver::post(app, chat, bot, &request_id, &parse_replies(&json))
                    .await;
                if fresh == Freshness::Stale
                    && store.cache_refresh_lock(&key, lead_ttl(app)).await?
                {
                    let mut d = crate::webhooks::delivery_for(
                        m,
                        Some(bot),
                        Some(key.clone()),
                        session.clone(),
                    );
                    d.refresh = true;
                    // Shed: the stale reply was served; a later hit refreshes.
                    crate::webhooks::deliver::enqueue(app, &d).await?;
                }
                return Ok(None);
            }
            None => {
                if round == 0 {
                    store.cache_count(Counter::Miss).await?;
                    crate::telemetry::metrics::cache("misses");
                }
                if store.cache_lead(&key, lead_ttl(app)).await? {
                    crate::webhooks::deliver::bot_typing(app, chat, bot, true).await;
                    let d = crate::webhooks::delivery_for(m, Some(bot), Some(key), session);
                    return request(app, d).await;
                }
                let waiter = Waiter {
                    chat_id: chat.clone(),
                    bot_id: bot.to_string(),
                    request_id: request_id.clone(),
                };
                if store.cache_wait(&key, &waiter).await? {
                    crate::webhooks::deliver::bot_typing(app, chat, bot, true).await;
                    return Ok(None);
                }
                // The leader finished in between: look again.
            }
        }
    }
    crate::webhooks::deliver::bot_typing(app, chat, bot, true).await;
    request(
        app,
        crate::webhooks::delivery_for(m, Some(bot), None, session),
    )
    .await
}

/// Queues a bot request; the delivery back when the queue shed it.
async fn request(app: &AppState, d: Delivery) -> StoreResult<Option<Delivery>> {
    Ok((!crate::webhooks::deliver::enqueue(app, &d).await?).then_some(d))
}

/// The automation answered a cacheable request: store, then serve waiters.
pub async fn answered(app: &AppState, key: &str, list: &[Reply]) {
    let cfg = &app.config.cache;
    let store = &app.stores.cache;
    let body = json!(list).to_string();
    match store
        .cache_put(key, &body, cfg.ttl, cfg.stale, cfg.max_entries)
        .await
    {
        Ok(evicted) => crate::telemetry::metrics::reply_cache_evicted(evicted),
        Err(e) => tracing::warn!(error = %e, "reply cache: could not store a reply"),
    }
    match store.cache_finish(key).await {
        Ok(waiters) => {
            for w in waiters {
                crate::webhooks::deliver::post(app, &w.chat_id, &w.bot_id, &w.request_id, list)
                    .await;
                crate::webhooks::deliver::bot_typing(app, &w.chat_id, &w.bot_id, false).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "reply cache: could not read the waiters"),
    }
}

/// The leading request failed for good: the waiters stop waiting.
pub async fn abandoned(app: &crate::app::App, key: &str) {
    if let Ok(waiters) = app.stores.cache.cache_finish(key).await {
        for w in waiters {
            crate::webhooks::deliver::bot_typing(app, &w.chat_id, &w.bot_id, false).await;
        }
    }
}
