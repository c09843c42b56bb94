//! A real HTTP server standing in for the automation backend (n8n): it
//! records every request and answers as told (reply, fail, stall, 202,
//! answer late).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde_json::{json, Value};

/// How to answer one request.
#[derive(Clone, Debug)]
pub enum Mode {
    /// 200 `{ replies }`.
    Reply(Vec<Value>),
    /// This status, empty body.
    Status(u16),
    /// 200 with this body as it is (e.g. `{ replies, complete }`).
    Json(Value),
    /// Never answer.
    Stall,
    /// Wait, then 200 `{ replies }`.
    Late(Duration, Vec<Value>),
    /// Wait until [`Automation::open_gate`], then 200 `{ replies }`.
    Gate(Vec<Value>),
}

/// One request the automation received.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub raw: Vec<u8>,
    pub body: Value,
    pub at: Instant,
}

struct Inner {
    next: VecDeque<Mode>,
    default: Option<Mode>,
    received: Vec<Received>,
    /// Requests being answered now, and the most at once.
    open: usize,
    most_open: usize,
    gate: tokio::sync::watch::Sender<bool>,
}

#[derive(Clone)]
pub struct Automation {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

/// Counts a request as open until dropped (also when the node gives up on it).
struct Open(Arc<Mutex<Inner>>);

impl Open {
    fn new(inner: &Arc<Mutex<Inner>>) -> Self {
        let mut i = inner.lock();
        i.open += 1;
        i.most_open = i.most_open.max(i.open);
        Self(inner.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.lock().open -= 1;
    }
}

async fn hook(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap, raw: Bytes) -> Response {
    let _open = Open::new(&inner);
    let mode = {
        let mut i = inner.lock();
        i.received.push(Received {
            headers,
            body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
            raw: raw.to_vec(),
            at: Instant::now(),
        });
        i.next
            .pop_front()
            .or_else(|| i.default.clone())
            .unwrap_or(Mode::Status(202))
    };
    match mode {
        Mode::Reply(r) => axum::Json(json!({ "replies": r })).into_response(),
        Mode::Status(s) => StatusCode::from_u16(s).unwrap().into_response(),
        Mode::Json(body) => axum::Json(body).into_response(),
        Mode::Stall => std::future::pending().await,
        Mode::Late(d, r) => {
            tokio::time::sleep(d).await;
            axum::Json(json!({ "replies": r })).into_response()
        }
        Mode::Gate(r) => {
            let mut gate = inner.lock().gate.subscribe();
            let _ = gate.wait_for(|open| *open).await;
            axum::Json(json!({ "replies": r })).into_response()
        }
    }
}

impl Automation {
    /// Listens on 127.0.0.1:0; requests get `default` unless told otherwise.
    pub async fn start(default: Mode) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            next: VecDeque::new(),
            default: Some(default),
            received: Vec::new(),
            open: 0,
            most_open: 0,
            gate: tokio::sync::watch::channel(false).0,
        }));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, inner }
    }

    /// The next request gets `mode` (queued in order).
    pub fn then(&self, mode: Mode) {
        self.inner.lock().next.push_back(mode);
    }

    pub fn set_default(&self, mode: Mode) {
        self.inner.lock().default = Some(mode);
    }

    /// Lets every request held by [`Mode::Gate`] (and later ones) through.
    pub fn open_gate(&self) {
        self.inner.lock().gate.send_replace(true);
    }

    /// The most requests that were being answered at once.
    pub fn most_at_once(&self) -> usize {
        self.inner.lock().most_open
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.inner.lock().received.len()
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().received.clone()
    }

    /// Waits until at least `n` requests arrived.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let end = Instant::now() + timeout;
        loop {
            let r = self.received();
            if r.len() >= n {
                return r;
            }
            assert!(
                Instant::now() < end,
                "automation got {} of {n} requests",
                r.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
