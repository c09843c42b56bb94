//! The `bot` scenario: users in chats with a bot, the node's automation
//! webhooks pointed at a built-in backend. Each user message goes user →
//! node → webhook → backend → synchronous reply → node → user; the round
//! trip is measured open-loop from the message's due time to the bot's
//! reply arriving at the user (the backend echoes the timed content).
//!
//! The backend verifies every signature (HMAC-SHA256, constant time),
//! counts duplicate deliveries, and answers at once, after a delay, or
//! with a 503 for a share of requests, as configured. While messages are
//! sent, `/admin/stats` is sampled for the webhook queue depth.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::time::Instant;

use crate::client::{Stats, Target};
use crate::report::Report;
use crate::scenarios::{close_all, finish, ramp, Publish};

/// What the built-in automation backend does.
#[derive(Clone, Debug)]
pub struct Backend {
    /// Where it listens; the nodes' `SB_WEBHOOK_URL` is `http://<listen>/hook`.
    pub listen: SocketAddr,
    /// `SB_WEBHOOK_SECRET` of the nodes.
    pub secret: String,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Answer 503 to this share of requests (0 to 1), spread evenly.
    pub error_rate: f64,
}

/// The `bot` scenario's parameters.
#[derive(Clone, Debug)]
pub struct BotRun {
    pub users: usize,
    /// Messages per second, over all users.
    pub rate: f64,
    pub duration: Duration,
    /// `SB_API_KEY` of the nodes (the chats are created over HTTP).
    pub api_key: String,
    /// `SB_ADMIN_KEY`, to sample the webhook queue; none: not sampled.
    pub admin_key: Option<String>,
    pub bot_id: String,
    pub backend: Backend,
    pub connect_rate: f64,
    pub progress: bool,
}

#[derive(Default)]
struct Counters {
    received: AtomicU64,
    bad_signatures: AtomicU64,
    duplicates: AtomicU64,
    refused: AtomicU64,
    answered: Mutex<HashSet<String>>,
}

struct Hook {
    cfg: Backend,
    counters: Arc<Counters>,
}

/// Checks `t=<unix>,v1=<hex>` against `body` (constant-time compare, a
/// timestamp within 5 minutes).
pub fn signature_ok(secret: &str, header: Option<&str>, body: &[u8], now: i64) -> bool {
    let Some(header) = header else { return false };
    let (mut t, mut v1) = (None, None);
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    if (now - t).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&v1).is_ok()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn hook(State(h): State<Arc<Hook>>, headers: HeaderMap, body: Bytes) -> Response {
    let n = h.counters.received.fetch_add(1, Ordering::Relaxed) + 1;
    let sig = headers
        .get("x-switchboard-signature")
        .and_then(|v| v.to_str().ok());
    if !signature_ok(&h.cfg.secret, sig, &body, now_secs()) {
        h.counters.bad_signatures.fetch_add(1, Ordering::Relaxed);
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if h.cfg.error_rate > 0.0 {
        // Every k-th request fails, k = 1 / rate.
        let every = (1.0 / h.cfg.error_rate).round().max(1.0) as u64;
        if n % every == 0 {
            h.counters.refused.fetch_add(1, Ordering::Relaxed);
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let delivery = headers
        .get("x-switchboard-delivery-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if !h
        .counters
        .answered
        .lock()
        .expect("answered")
        .insert(delivery)
    {
        // Answered before: a backend deduplicates, and posts nothing again.
        h.counters.duplicates.fetch_add(1, Ordering::Relaxed);
        return axum::Json(json!({ "replies": [] })).into_response();
    }
    if !h.cfg.delay.is_zero() {
        tokio::time::sleep(h.cfg.delay).await;
    }
    let content = event["data"]["message"]["content"].clone();
    axum::Json(json!({ "replies": [{ "content": content }] })).into_response()
}

/// Starts the backend; it serves until the process ends.
async fn serve(cfg: Backend, counters: Arc<Counters>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(Arc::new(Hook { cfg, counters }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(())
}

/// Samples the webhook queue (ready + in flight) every 500 ms.
fn sample_queue(
    http: reqwest::Client,
    url: String,
    key: String,
) -> (tokio::task::JoinHandle<()>, Arc<Mutex<Vec<u64>>>) {
    let samples = Arc::new(Mutex::new(Vec::new()));
    let out = samples.clone();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            let Ok(r) = http
                .get(format!("{url}/admin/stats"))
                .bearer_auth(&key)
                .send()
                .await
            else {
                continue;
            };
            let Ok(v) = r.json::<Value>().await else {
                continue;
            };
            let q = &v["queues"]["webhooks"];
            let depth = q["ready"].as_u64().unwrap_or(0) + q["inFlight"].as_u64().unwrap_or(0);
            out.lock().expect("samples").push(depth);
        }
    });
    (task, samples)
}

/// `bot`: `users` users, each in a chat with the bot, sending `rate`
/// messages/s in total for `duration`; every message should come back as
/// one bot reply.
pub async fn bot(target: &Target, run: BotRun) -> Report {
    let stats = Arc::new(Stats::default());
    let base = Instant::now();
    let counters = Arc::new(Counters::default());
    let mut report = Report::default();
    if let Err(e) = serve(run.backend.clone(), counters.clone()).await {
        eprintln!("backend on {}: {e:#}", run.backend.listen);
        report.connect_errors = 1;
        return finish("bot", base, &stats, &Default::default(), report);
    }
    let (clients, handshake, failed) = ramp(
        target,
        run.users,
        run.connect_rate,
        &stats,
        base,
        run.progress,
    )
    .await;
    report.connections = clients.len() as u64;
    report.connect_errors = failed;
    report.handshake = handshake.summary();
    if failed > 0 {
        return finish("bot", base, &stats, &close_all(clients).await, report);
    }
    // One chat per user, with the bot, created over the HTTP API; the
    // user's socket is in the chat's room when the answer comes.
    let http = reqwest::Client::new();
    let url = target.urls[0].trim_end_matches('/').to_string();
    let puts = clients.iter().map(|c| {
        let (http, url, key, bot) = (http.clone(), url.clone(), &run.api_key, &run.bot_id);
        let chat = format!("{}-bot", c.user);
        let body = json!({ "kind": "group", "members": [c.user], "bots": [bot] });
        async move {
            let r = http
                .put(format!("{url}/api/v1/chats/{chat}"))
                .bearer_auth(key)
                .json(&body)
                .send()
                .await;
            match r {
                Ok(r) if r.status().is_success() => Ok(chat),
                Ok(r) => Err(format!(
                    "{} {}",
                    r.status(),
                    r.text().await.unwrap_or_default()
                )),
                Err(e) => Err(e.to_string()),
            }
        }
    });
    let chats: Vec<_> = futures::stream::iter(puts)
        .buffered(32)
        .collect::<Vec<_>>()
        .await;
    let mut senders = Vec::with_capacity(chats.len());
    let mut idle = Vec::new();
    for (c, chat) in clients.into_iter().zip(chats) {
        match chat {
            Ok(chat) => senders.push((c, chat)),
            Err(e) => {
                if report.connect_errors == 0 {
                    eprintln!("PUT chat failed: {e}");
                }
                report.connect_errors += 1;
                idle.push(c);
            }
        }
    }
    let sampler = run
        .admin_key
        .clone()
        .map(|key| sample_queue(http.clone(), url.clone(), key));
    let publish = Publish {
        rate: run.rate,
        duration: run.duration,
        recipients: 1,
        progress: run.progress,
    };
    let mut clients = publish.run(senders, &stats, base, &mut report).await;
    clients.extend(idle);
    if let Some((task, samples)) = sampler {
        task.abort();
        let samples = samples.lock().expect("samples");
        report.queue_max = samples.iter().copied().max().unwrap_or(0);
        report.queue_mean = if samples.is_empty() {
            0.0
        } else {
            samples.iter().sum::<u64>() as f64 / samples.len() as f64
        };
    }
    let rec = close_all(clients).await;
    let mut r = finish("bot", base, &stats, &rec, report);
    r.duration_s = run.duration.as_secs_f64();
    r.backend_received = counters.received.load(Ordering::Relaxed);
    r.bad_signatures = counters.bad_signatures.load(Ordering::Relaxed);
    r.duplicates = counters.duplicates.load(Ordering::Relaxed);
    r.backend_refused = counters.refused.load(Ordering::Relaxed);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked() {
        let secret = "s3cret-0123456789";
        let body = br#"{"a":1}"#;
        let t = 1_700_000_000;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        let good = format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()));
        assert!(signature_ok(secret, Some(&good), body, t + 10));
        assert!(!signature_ok(secret, Some(&good), b"{}", t));
        assert!(!signature_ok("other-secret-0123", Some(&good), body, t));
        assert!(!signature_ok(secret, Some(&good), body, t + 301));
        assert!(!signature_ok(secret, None, body, t));
        assert!(!signature_ok(secret, Some("t=1,v1=zz"), body, 1));
    }
}
