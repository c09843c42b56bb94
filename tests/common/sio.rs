//! A small Engine.IO v4 / Socket.IO v5 client for tests, written from the
//! protocol: WebSocket or HTTP long-polling, auth payload, acks, buffered
//! events, raw frames.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Transport {
    #[default]
    WebSocket,
    Polling,
}

#[derive(Debug, Clone, Default)]
pub struct ConnectOpts {
    pub auth: Option<Value>,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub transport: Transport,
}

#[derive(Debug)]
pub enum ConnectError {
    Refused { message: String, data: Value },
    Io(String),
}

#[derive(Debug)]
pub enum AckError {
    Timeout,
    Closed,
}

/// Signs an HS256 JWT with these claims.
pub fn mint_hs256(secret: &str, claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[derive(Default)]
struct Shared {
    acks: Mutex<HashMap<i64, oneshot::Sender<Value>>>,
    events: Mutex<VecDeque<(String, Value)>>,
    event_arrived: Notify,
    closed: Notify,
    is_closed: std::sync::atomic::AtomicBool,
    server_disconnected: std::sync::atomic::AtomicBool,
}

impl Shared {
    fn close(&self) {
        self.is_closed.store(true, Ordering::SeqCst);
        self.closed.notify_waiters();
        self.event_arrived.notify_waiters();
        self.acks.lock().clear();
    }
}

/// A connected Socket.IO client.
pub struct SioClient {
    out: mpsc::UnboundedSender<String>,
    shared: Arc<Shared>,
    next_ack: AtomicI64,
    pub sid: String,
    pub ack_timeout: Duration,
}

fn query_string(opts: &ConnectOpts, transport: &str) -> String {
    let mut q = format!("EIO=4&transport={transport}");
    for (k, v) in &opts.query {
        q.push_str(&format!("&{k}={v}"));
    }
    q
}

/// Parses one Socket.IO packet (after the Engine.IO `4` prefix).
fn handle_sio(
    shared: &Shared,
    pkt: &str,
    connect: &Mutex<Option<oneshot::Sender<Result<String, ConnectError>>>>,
) {
    let Some(kind) = pkt.chars().next() else {
        return;
    };
    let rest = &pkt[1..];
    // Namespace is always "/" here: no `/nsp,` prefix.
    match kind {
        '0' => {
            let v: Value = serde_json::from_str(rest).unwrap_or(Value::Null);
            let sid = v["sid"].as_str().unwrap_or_default().to_string();
            if let Some(tx) = connect.lock().take() {
                let _ = tx.send(Ok(sid));
            }
        }
        '4' => {
            let v: Value = serde_json::from_str(rest).unwrap_or(Value::Null);
            let message = v["message"].as_str().unwrap_or_default().to_string();
            if let Some(tx) = connect.lock().take() {
                let _ = tx.send(Err(ConnectError::Refused {
                    message,
                    data: v["data"].clone(),
                }));
            }
        }
        '1' => {
            shared.server_disconnected.store(true, Ordering::SeqCst);
            shared.close();
        }
        '2' | '3' => {
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            let body = &rest[digits.len()..];
            let arr: Value = serde_json::from_str(body).unwrap_or(Value::Null);
            if kind == '2' {
                let name = arr[0].as_str().unwrap_or_default().to_string();
                let data = arr.get(1).cloned().unwrap_or(Value::Null);
                shared.events.lock().push_back((name, data));
                shared.event_arrived.notify_waiters();
            } else if let Ok(id) = digits.parse::<i64>() {
                let data = arr.get(0).cloned().unwrap_or(Value::Null);
                if let Some(tx) = shared.acks.lock().remove(&id) {
                    let _ = tx.send(data);
                }
            }
        }
        _ => {}
    }
}

impl SioClient {
    pub async fn connect(base: &str, opts: ConnectOpts) -> Result<SioClient, ConnectError> {
        match opts.transport {
            Transport::WebSocket => Self::connect_ws(base, opts).await,
            Transport::Polling => Self::connect_polling(base, opts).await,
        }
    }

    fn connect_packet(opts: &ConnectOpts) -> String {
        match &opts.auth {
            Some(a) => format!("40{a}"),
            None => "40".to_string(),
        }
    }

    async fn connect_ws(base: &str, opts: ConnectOpts) -> Result<SioClient, ConnectError> {
        let url = format!(
            "{}/socket.io/?{}",
            base.replacen("http", "ws", 1),
            query_string(&opts, "websocket")
        );
        let mut req = url
            .into_client_request()
            .map_err(|e| ConnectError::Io(e.to_string()))?;
        for (k, v) in &opts.headers {
            req.headers_mut().insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .map_err(|e| ConnectError::Io(e.to_string()))?;
        let (mut sink, mut stream) = ws.split();
        let shared = Arc::new(Shared::default());
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
        let (conn_tx, conn_rx) = oneshot::channel();
        let connect = Arc::new(Mutex::new(Some(conn_tx)));
        // Writer.
        tokio::spawn(async move {
            while let Some(frame) = out_rx.recv().await {
                if frame == "\u{0}close" {
                    let _ = sink.send(WsMessage::Close(None)).await;
                    break;
                }
                if sink.send(WsMessage::Text(frame.into())).await.is_err() {
                    break;
                }
            }
        });
        // Reader.
        {
            let shared = shared.clone();
            let out = out_tx.clone();
            let connect = connect.clone();
            let first = Self::connect_packet(&opts);
            tokio::spawn(async move {
                while let Some(msg) = stream.next().await {
                    let text = match msg {
                        Ok(WsMessage::Text(t)) => t.to_string(),
                        Ok(WsMessage::Close(_)) | Err(_) => break,
                        _ => continue,
                    };
                    match text.chars().next() {
                        Some('0') => {
                            let _ = out.send(first.clone());
                        }
                        Some('2') => {
                            let _ = out.send(format!("3{}", &text[1..]));
                        }
                        Some('4') => handle_sio(&shared, &text[1..], &connect),
                        Some('1') => break,
                        _ => {}
                    }
                }
                if let Some(tx) = connect.lock().take() {
                    let _ = tx.send(Err(ConnectError::Io("closed before connect".into())));
                }
                shared.close();
            });
        }
        Self::finish(out_tx, shared, conn_rx).await
    }

    async fn connect_polling(base: &str, opts: ConnectOpts) -> Result<SioClient, ConnectError> {
        let http = reqwest::Client::new();
        let q = query_string(&opts, "polling");
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in &opts.headers {
            headers.insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                reqwest::header::HeaderValue::from_str(v).unwrap(),
            );
        }
        let open = http
            .get(format!("{base}/socket.io/?{q}"))
            .headers(headers.clone())
            .send()
            .await
            .map_err(|e| ConnectError::Io(e.to_string()))?
            .text()
            .await
            .map_err(|e| ConnectError::Io(e.to_string()))?;
        let Some(body) = open.strip_prefix('0') else {
            return Err(ConnectError::Io(format!("unexpected open: {open}")));
        };
        let open: Value =
            serde_json::from_str(body).map_err(|e| ConnectError::Io(e.to_string()))?;
        let eio_sid = open["sid"].as_str().unwrap_or_default().to_string();
        let url = format!("{base}/socket.io/?{q}&sid={eio_sid}");
        let shared = Arc::new(Shared::default());
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
        let (conn_tx, conn_rx) = oneshot::channel();
        let connect = Arc::new(Mutex::new(Some(conn_tx)));
        // Writer: POST queued packets, several per request.
        {
            let http = http.clone();
            let url = url.clone();
            let headers = headers.clone();
            tokio::spawn(async move {
                while let Some(first) = out_rx.recv().await {
                    if first == "\u{0}close" {
                        let _ = http
                            .post(&url)
                            .headers(headers.clone())
                            .body("1")
                            .send()
                            .await;
                        break;
                    }
                    let mut batch = vec![first];
                    while let Ok(more) = out_rx.try_recv() {
                        batch.push(more);
                    }
                    let body = batch.join("\u{1e}");
                    if http
                        .post(&url)
                        .headers(headers.clone())
                        .body(body)
                        .send()
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
        let _ = out_tx.send(Self::connect_packet(&opts));
        // Reader: long-poll GETs.
        {
            let shared = shared.clone();
            let out = out_tx.clone();
            tokio::spawn(async move {
                loop {
                    let r = http.get(&url).headers(headers.clone()).send().await;
                    let Ok(r) = r else { break };
                    if !r.status().is_success() {
                        break;
                    }
                    let Ok(text) = r.text().await else { break };
                    let mut stop = false;
                    for pkt in text.split('\u{1e}') {
                        match pkt.chars().next() {
                            Some('2') => {
                                let _ = out.send(format!("3{}", &pkt[1..]));
                            }
                            Some('4') => handle_sio(&shared, &pkt[1..], &connect),
                            Some('1') => stop = true,
                            _ => {}
                        }
                    }
                    if stop || shared.is_closed.load(Ordering::SeqCst) {
                        break;
                    }
                }
                if let Some(tx) = connect.lock().take() {
                    let _ = tx.send(Err(ConnectError::Io("closed before connect".into())));
                }
                shared.close();
            });
        }
        Self::finish(out_tx, shared, conn_rx).await
    }

    async fn finish(
        out: mpsc::UnboundedSender<String>,
        shared: Arc<Shared>,
        conn_rx: oneshot::Receiver<Result<String, ConnectError>>,
    ) -> Result<SioClient, ConnectError> {
        let sid = tokio::time::timeout(Duration::from_secs(10), conn_rx)
            .await
            .map_err(|_| ConnectError::Io("connect timed out".into()))?
            .map_err(|_| ConnectError::Io("connection dropped".into()))??;
        Ok(SioClient {
            out,
            shared,
            next_ack: AtomicI64::new(1),
            sid,
            ack_timeout: Duration::from_secs(5),
        })
    }

    /// Sends an event without an ack.
    pub fn emit(&self, event: &str, data: Value) {
        let _ = self.out.send(format!("42{}", json!([event, data])));
    }

    /// Sends an arbitrary frame (Engine.IO type included, e.g. `42[...]`).
    pub fn emit_raw(&self, frame: &str) {
        let _ = self.out.send(frame.to_string());
    }

    /// Sends an event and waits for its ack (its first argument).
    pub fn emit_with_ack(
        &self,
        event: &str,
        data: Value,
    ) -> impl std::future::Future<Output = Result<Value, AckError>> + 'static {
        let id = self.next_ack.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = oneshot::channel();
        self.shared.acks.lock().insert(id, tx);
        let _ = self.out.send(format!("42{id}{}", json!([event, data])));
        let timeout = self.ack_timeout;
        async move {
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(_)) => Err(AckError::Closed),
                Err(_) => Err(AckError::Timeout),
            }
        }
    }

    /// The first buffered or arriving event named `event` within `timeout`;
    /// other events stay buffered.
    pub async fn try_wait_for(&mut self, event: &str, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.event_arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut q = self.shared.events.lock();
                if let Some(pos) = q.iter().position(|(n, _)| n == event) {
                    return q.remove(pos).map(|(_, v)| v);
                }
            }
            if self.shared.is_closed.load(Ordering::SeqCst) {
                return None;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// Like `try_wait_for`, but panics when the event does not come.
    pub async fn wait_for(&mut self, event: &str, timeout: Duration) -> Value {
        match self.try_wait_for(event, timeout).await {
            Some(v) => v,
            None => panic!(
                "no {event:?} within {timeout:?}; buffered: {:?}",
                self.shared
                    .events
                    .lock()
                    .iter()
                    .map(|(n, _)| n.clone())
                    .collect::<Vec<_>>()
            ),
        }
    }

    /// Asserts that no `event` arrives within `window`.
    pub async fn expect_none(&mut self, event: &str, window: Duration) {
        if let Some(v) = self.try_wait_for(event, window).await {
            panic!("unexpected {event}: {v}");
        }
    }

    /// Every buffered event, oldest first.
    pub fn drain_events(&mut self) -> Vec<(String, Value)> {
        self.shared.events.lock().drain(..).collect()
    }

    pub fn is_connected(&self) -> bool {
        !self.shared.is_closed.load(Ordering::SeqCst)
    }

    /// True when the server sent a Socket.IO DISCONNECT.
    pub fn server_disconnected(&self) -> bool {
        self.shared.server_disconnected.load(Ordering::SeqCst)
    }

    /// Resolves when the transport is closed.
    pub async fn closed(&self) {
        loop {
            let n = self.shared.closed.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self.shared.is_closed.load(Ordering::SeqCst) {
                return;
            }
            n.await;
        }
    }

    /// Sends a Socket.IO DISCONNECT and closes the transport.
    pub async fn disconnect(&mut self) {
        let _ = self.out.send("41".to_string());
        let _ = self.out.send("\u{0}close".to_string());
        let _ = tokio::time::timeout(Duration::from_secs(2), self.closed()).await;
    }
}

impl Drop for SioClient {
    fn drop(&mut self) {
        let _ = self.out.send("\u{0}close".to_string());
    }
}
