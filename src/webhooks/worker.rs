//! The delivery worker every node runs: claim due deliveries, POST them,
//! then ack, retry with backoff, or dead-letter.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tracing::Instrument;

use super::{payload, queue::Delivery, replies, sign};
use crate::app::AppState;
use crate::telemetry::{metrics, traces};

/// Largest automation response read, in bytes.
const MAX_RESPONSE: usize = 1024 * 1024;
/// Runs forever (when a webhook URL is configured).
///
/// The worker claims as many due deliveries as it has free slots
/// (`SB_WEBHOOK_CONCURRENCY`), and claims again as soon as a slot frees: a
/// finished delivery is what wakes it while a backlog lasts, so a backlog
/// drains at the backend's pace. When the queue had fewer due deliveries
/// than free slots, it waits for a new delivery on this node or for the
/// poll (`SB_WEBHOOK_POLL_MS`: retries coming due, deliveries queued on
/// other nodes, leases of dead nodes).
pub async fn run(app: AppState) {
    let cfg = &app.config.webhooks;
    if cfg.url.is_none() {
        return;
    }
    let client = match reqwest::Client::builder()
        .timeout(cfg.timeout)
        .connect_timeout(cfg.timeout)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook: no HTTP client; deliveries stay queued");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(cfg.concurrency));
    // A node that dies mid-delivery loses its lease after this long; another
    // node then sends the delivery again.
    let lease = cfg.timeout * 2 + Duration::from_secs(1);
    let mut wait = false;
    loop {
        if wait {
            tokio::select! {
                _ = app.webhook_notified() => {}
                _ = tokio::time::sleep(cfg.poll) => {}
            }
        }
        // One free slot first: while every slot is busy, the next claim
        // waits for a delivery to finish.
        let Ok(first) = slots.clone().acquire_owned().await else {
            return;
        };
        // Draining: the attempts in flight finish; nothing new is claimed
        // (another node takes the rest).
        if app.is_draining() {
            drop(first);
            wait = true;
            continue;
        }
        let free = slots.available_permits() + 1;
        let batch = match app.stores.webhooks.claim(free, lease).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "webhook: could not claim deliveries");
                wait = true;
                continue;
            }
        };
        // Fewer due than free slots: the queue is empty for now.
        wait = batch.len() < free;
        let mut first = Some(first);
        for d in batch {
            let permit = match first.take() {
                Some(p) => p,
                // Free when counted, and only this loop takes slots.
                None => match slots.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            let (app, client) = (app.clone(), client.clone());
            let attempt = app.0.webhook_attempt();
            tokio::spawn(async move {
                deliver(&app, &client, d).await;
                drop(permit);
                drop(attempt);
            });
        }
    }
}

async fn read_limited(mut r: reqwest::Response) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = r.chunk().await {
        if out.len() + chunk.len() > MAX_RESPONSE {
            return None;
        }
        out.extend_from_slice(&chunk);
    }
    Some(out)
}

/// One attempt of one delivery.
pub async fn deliver(app: &AppState, client: &reqwest::Client, d: Delivery) {
    let cfg = &app.config.webhooks;
    let (Some(url), Some(secret)) = (&cfg.url, &cfg.secret) else {
        return;
    };
    let body = serde_json::to_vec(&payload(&d, cfg.format)).unwrap_or_default();
    let t = crate::time::now_secs();
    let started = Instant::now();
    // A client span continuing the event's trace; its context goes out as
    // `traceparent`.
    let span = traces::continued("webhook POST", "client", d.traceparent.as_deref());
    let mut request = client.post(url);
    if let Some(tp) = traces::traceparent_of(&span) {
        request = request.header("traceparent", tp);
    }
    let sent = request
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(sign::HEADER, sign::sign(secret, t, &body))
        .header("x-switchboard-correlation-id", &d.correlation_id)
        .header("x-switchboard-delivery-id", &d.id)
        .header("x-switchboard-attempt", (d.attempt + 1).to_string())
        .header("x-switchboard-node", &app.node_id)
        .body(body)
        .send()
        .instrument(span.clone())
        .await;
    if let Ok(r) = &sent {
        span.record("http.response.status_code", r.status().as_u16());
    }
    drop(span);
    let outcome = match sent {
        Ok(r) if r.status().is_success() => Ok(read_limited(r).await),
        Ok(r) if refused_for_good(r.status().as_u16()) => {
            return fail(app, d, &format!("HTTP {}", r.status().as_u16()), false).await;
        }
        Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
        Err(e) if e.is_timeout() => Err("timed out".to_string()),
        Err(e) => Err(format!("request failed: {e}")),
    };
    metrics::webhook_latency(started.elapsed());
    match outcome {
        Ok(body) => {
            metrics::webhook("delivered");
            let (replies, complete) = body
                .and_then(|b| serde_json::from_slice::<super::Inbound>(&b).ok())
                .map(|r| (r.replies, r.complete))
                .unwrap_or_default();
            let answered = if !replies.is_empty() || complete.is_some() {
                match replies::handle(app, &d, replies, complete).await {
                    Ok(_) | Err(super::ReplyError::AlreadyAnswered) => true,
                    Err(e) => {
                        tracing::debug!(error = %e, "webhook: synchronous reply not posted");
                        false
                    }
                }
            } else {
                false
            };
            // Not answered at once: the reply comes later through the
            // inbound route, for the reply window. Kept before the ack, so
            // that the delivery is always findable by its correlation id.
            if !answered {
                if let Err(e) = super::deliver::remember(app, &d).await {
                    tracing::warn!(error = %e, "webhook: could not keep the correlation id");
                }
            }
            if let Err(e) = app.stores.webhooks.ack(&d.id).await {
                tracing::warn!(error = %e, "webhook: ack failed (the delivery may repeat)");
            }
        }
        Err(why) => fail(app, d, &why, true).await,
    }
}

/// A 4xx other than 408 (timeout) and 429 (too many requests): the backend
/// refuses the request itself, and sending it again will not change that.
fn refused_for_good(status: u16) -> bool {
    (400..500).contains(&status) && status != 408 && status != 429
}

/// A failed attempt: retried with backoff while `retryable` and attempts
/// remain, otherwise dead-lettered (and the chat told, see
/// [`replies::abandon`]).
async fn fail(app: &AppState, mut d: Delivery, why: &str, retryable: bool) {
    let cfg = &app.config.webhooks;
    d.attempt += 1;
    let q = &app.stores.webhooks;
    if d.attempt >= cfg.max_attempts || !retryable {
        tracing::warn!(correlation = %d.correlation_id, error = why, "webhook: dead-lettered");
        metrics::webhook("dead");
        // A late reply through the inbound route is still posted.
        if let Err(e) = super::deliver::remember(app, &d).await {
            tracing::warn!(error = %e, "webhook: could not keep the correlation id");
        }
        if let Err(e) = q.dead_letter(&d, why, 10_000).await {
            tracing::warn!(error = %e, "webhook: could not dead-letter");
        }
        replies::abandon(app, &d, retryable).await;
        return;
    }
    let delay = cfg.backoff * 2u32.saturating_pow(d.attempt - 1).min(1 << 16);
    tracing::info!(correlation = %d.correlation_id, attempt = d.attempt, error = why, ?delay, "webhook: retrying");
    metrics::webhook("retried");
    if let Err(e) = q.retry(&d, delay).await {
        tracing::warn!(error = %e, "webhook: could not reschedule");
    }
}
