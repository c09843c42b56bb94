//! One load connection: a WebSocket speaking Engine.IO/Socket.IO frames,
//! a writer task and a reader task that answers pings and records acks and
//! deliveries into shared counters and its own histograms.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpSocket;
use tokio::sync::{mpsc, Mutex};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::proto::{self, Frame};
use crate::report::Recorder;

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct Target {
    /// Base URLs of the nodes (`http://127.0.0.1:3000`); clients spread over them.
    pub urls: Vec<String>,
    /// Local source addresses (e.g. 127.0.0.1, 127.0.0.2) to pass the
    /// ephemeral-port limit of one address pair.
    pub sources: Vec<IpAddr>,
    /// HS256 secret for minting tokens.
    pub secret: String,
    /// Prefix of the user ids of this run.
    pub run_id: String,
}

impl Target {
    pub fn user(&self, i: usize) -> String {
        format!("lt-{}-{i}", self.run_id)
    }

    pub fn token(&self, user: &str) -> String {
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() + 86_400)
            .unwrap_or(0);
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &serde_json::json!({ "sub": user, "exp": exp }),
            &jsonwebtoken::EncodingKey::from_secret(self.secret.as_bytes()),
        )
        .expect("HS256 signing")
    }
}

/// Counters shared by every connection of a run.
#[derive(Default)]
pub struct Stats {
    pub acked: AtomicU64,
    pub ack_errors: AtomicU64,
    pub delivered: AtomicU64,
    pub disconnects: AtomicU64,
    pub events: AtomicU64,
}

/// Histograms a reader fills; merged at the end of a run.
#[derive(Default)]
pub struct Recorders {
    pub ack: Recorder,
    pub delivery: Recorder,
}

/// A connected client.
pub struct Client {
    pub user: String,
    out: mpsc::UnboundedSender<Message>,
    pending: Arc<std::sync::Mutex<HashMap<u64, Instant>>>,
    next_ack: u64,
    replies: Arc<Mutex<HashMap<u64, tokio::sync::oneshot::Sender<Value>>>>,
    reader: tokio::task::JoinHandle<Recorders>,
}

/// The content of a timed message: when it was due, in µs since `base`.
pub fn stamp(base: Instant, due: Instant) -> String {
    format!("t:{}", due.saturating_duration_since(base).as_micros())
}

fn unstamp(base: Instant, content: &str) -> Option<Instant> {
    let us: u64 = content.strip_prefix("t:")?.parse().ok()?;
    Some(base + Duration::from_micros(us))
}

fn ws_url(base: &str) -> anyhow::Result<(String, String)> {
    let hostport = base
        .strip_prefix("http://")
        .or_else(|| base.strip_prefix("ws://"))
        .ok_or_else(|| anyhow!("URL must be http:// or ws://: {base}"))?
        .trim_end_matches('/');
    Ok((
        hostport.to_string(),
        format!("ws://{hostport}/socket.io/?EIO=4&transport=websocket"),
    ))
}

impl Client {
    /// Connects client `i` (node `i % urls`, source `i % sources`) and waits
    /// for the `connected` event. Returns the client and the handshake time.
    pub async fn connect(
        target: &Target,
        i: usize,
        stats: Arc<Stats>,
        base: Instant,
    ) -> anyhow::Result<(Client, Duration)> {
        let started = Instant::now();
        let (hostport, url) = ws_url(&target.urls[i % target.urls.len()])?;
        let addr: SocketAddr = tokio::net::lookup_host(&hostport)
            .await?
            .next()
            .ok_or_else(|| anyhow!("cannot resolve {hostport}"))?;
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(src) = target.sources.get(i % target.sources.len().max(1)) {
            socket
                .bind(SocketAddr::new(*src, 0))
                .context("bind source address")?;
        }
        let tcp = socket.connect(addr).await.context("tcp connect")?;
        tcp.set_nodelay(true)?;
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0)
            .max_write_buffer_size(1 << 20);
        let (ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(config))
            .await
            .context("websocket handshake")?;
        let (mut sink, mut stream) = ws.split();
        let user = target.user(i);
        // Handshake: open, CONNECT, CONNECT ack, then the `connected` event.
        loop {
            let Some(msg) = stream.next().await else {
                bail!("closed during handshake")
            };
            let Message::Text(text) = msg? else { continue };
            match proto::decode(&text) {
                Frame::Open => {
                    sink.send(Message::text(proto::connect(&target.token(&user))))
                        .await?
                }
                Frame::Ping => sink.send(Message::text(proto::pong())).await?,
                Frame::ConnectError(code) => bail!("refused: {code}"),
                Frame::Event(name, _) if name == "connected" => break,
                Frame::Disconnect => bail!("disconnected during handshake"),
                _ => {}
            }
        }
        let handshake = started.elapsed();
        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                let close = matches!(m, Message::Close(_));
                if sink.send(m).await.is_err() || close {
                    break;
                }
            }
        });
        let pending = Arc::new(std::sync::Mutex::new(HashMap::<u64, Instant>::new()));
        let replies = Arc::new(Mutex::new(HashMap::<
            u64,
            tokio::sync::oneshot::Sender<Value>,
        >::new()));
        let reader = {
            let out = out.clone();
            let pending = pending.clone();
            let replies = replies.clone();
            tokio::spawn(async move {
                let mut rec = Recorders::default();
                while let Some(Ok(msg)) = stream.next().await {
                    let Message::Text(text) = msg else { continue };
                    // Fast path: a delivery needs only its stamp, not a JSON tree.
                    if let Some(stamp) = proto::delivery_stamp(&text) {
                        stats.events.fetch_add(1, Ordering::Relaxed);
                        stats.delivered.fetch_add(1, Ordering::Relaxed);
                        if let Some(due) = unstamp(base, stamp) {
                            rec.delivery.record(due.elapsed());
                        }
                        continue;
                    }
                    match proto::decode(&text) {
                        Frame::Ping => {
                            let _ = out.send(Message::text(proto::pong()));
                        }
                        Frame::Event(name, data) => {
                            stats.events.fetch_add(1, Ordering::Relaxed);
                            if name == "message:new" {
                                let content = data["message"]["content"].as_str().unwrap_or("");
                                if let Some(due) = unstamp(base, content) {
                                    rec.delivery.record(due.elapsed());
                                }
                                stats.delivered.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Frame::Ack(id, v) => {
                            let due = pending.lock().expect("pending").remove(&id);
                            if let Some(due) = due {
                                rec.ack.record(due.elapsed());
                                if v["ok"] == true {
                                    stats.acked.fetch_add(1, Ordering::Relaxed);
                                } else {
                                    stats.ack_errors.fetch_add(1, Ordering::Relaxed);
                                }
                            } else if let Some(tx) = replies.lock().await.remove(&id) {
                                let _ = tx.send(v);
                            }
                        }
                        Frame::Disconnect => break,
                        _ => {}
                    }
                }
                stats.disconnects.fetch_add(1, Ordering::Relaxed);
                rec
            })
        };
        Ok((
            Client {
                user,
                out,
                pending,
                next_ack: 1 << 32,
                replies,
                reader,
            },
            handshake,
        ))
    }

    /// Sends a timed, acked event; the ack latency counts from `due`.
    pub fn send_timed(&mut self, event: &str, data: &Value, due: Instant) {
        self.next_ack += 1;
        self.pending
            .lock()
            .expect("pending")
            .insert(self.next_ack, due);
        let _ = self.out.send(Message::text(proto::event(
            event,
            data,
            Some(self.next_ack),
        )));
    }

    /// Sends an event and waits for its ack (setup steps).
    pub async fn request(&mut self, event: &str, data: &Value) -> anyhow::Result<Value> {
        self.next_ack += 1;
        let id = self.next_ack;
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.replies.lock().await.insert(id, tx);
        self.out
            .send(Message::text(proto::event(event, data, Some(id))))
            .map_err(|_| anyhow!("connection closed"))?;
        let v = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .map_err(|_| anyhow!("{event}: no ack in 30 s"))??;
        if v["ok"] != true {
            bail!("{event} failed: {v}");
        }
        Ok(v)
    }

    /// Closes the connection and returns what its reader recorded.
    pub async fn close(self) -> Recorders {
        let _ = self.out.send(Message::text("41"));
        let _ = self.out.send(Message::Close(None));
        match tokio::time::timeout(Duration::from_secs(5), self.reader).await {
            Ok(Ok(r)) => r,
            _ => Recorders::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip() {
        let base = Instant::now();
        let due = base + Duration::from_millis(1234);
        assert_eq!(unstamp(base, &stamp(base, due)), Some(due));
        assert_eq!(unstamp(base, "hello"), None);
    }

    #[test]
    fn urls_map_to_the_socket_io_endpoint() {
        let (hp, url) = ws_url("http://127.0.0.1:3000/").unwrap();
        assert_eq!(hp, "127.0.0.1:3000");
        assert_eq!(
            url,
            "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket"
        );
        assert!(ws_url("ftp://x").is_err());
    }
}
