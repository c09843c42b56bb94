//! A simple fan-out benchmark: one chat of M members spread over N nodes
//! (in this process; N > 1 shares a redis-server this program starts), one
//! sender with W acked messages in flight. Reports messages/s, deliveries/s
//! and ack latency percentiles. Clients and servers share this machine's
//! cores: figures are for comparing runs, not absolute capacity (the
//! load-test tool is for that).
//!
//! cargo run --release --example fanout_bench -- [nodes] [members] [messages] [window]

#[path = "../tests/common/sio.rs"]
#[allow(dead_code)]
mod sio;

use std::time::{Duration, Instant};

use serde_json::json;
use sio::{ConnectOpts, SioClient};
use switchboard::config::Config;
use switchboard::testing::RedisServer;

const SECRET: &str = "bench-secret-0123456789abcdef0123456789";

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let (nodes, members, messages, window) = (arg(1, 1), arg(2, 100), arg(3, 2000), arg(4, 32));
    let redis = (nodes > 1).then(RedisServer::start);
    let mut urls = Vec::new();
    for i in 0..nodes {
        let mut c = Config::defaults();
        c.server.host = [127, 0, 0, 1].into();
        c.server.port = 0;
        c.server.node_id = format!("bench-{i}");
        c.auth.secret = Some(SECRET.into());
        c.server.socket_buffer = 100_000;
        c.messages.history_max_messages = 1_000_000;
        if let Some(r) = &redis {
            c.redis.url = Some(r.url());
            c.redis.prefix = "bench:".into();
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let running = switchboard::server::spawn(listener, c);
        running.wait_built().await;
        urls.push(format!("http://{}", running.addr));
        std::mem::forget(running);
    }
    let mut clients = Vec::new();
    for m in 0..members {
        let token = sio::mint_hs256(
            SECRET,
            json!({"sub": format!("user{m}"), "exp": switchboard::time::now_secs() + 3600}),
        );
        let mut c = SioClient::connect(
            &urls[m % nodes],
            ConnectOpts {
                auth: Some(json!({ "token": token })),
                ..Default::default()
            },
        )
        .await
        .expect("connect");
        c.wait_for("connected", Duration::from_secs(10)).await;
        c.ack_timeout = Duration::from_secs(30);
        clients.push(c);
    }
    let others: Vec<String> = (1..members).map(|m| format!("user{m}")).collect();
    let sender = clients.remove(0);
    let chat = sender
        .emit_with_ack("chat:create", json!({"kind": "group", "members": others}))
        .await
        .unwrap();
    let chat_id = chat["chat"]["id"].as_str().unwrap().to_string();
    for c in clients.iter_mut() {
        c.wait_for("chat:updated", Duration::from_secs(10)).await;
    }
    let started = Instant::now();
    let receivers: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                for _ in 0..messages {
                    c.wait_for("message:new", Duration::from_secs(60)).await;
                }
                started.elapsed()
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(messages);
    let mut errors = 0;
    let mut in_flight = futures::stream::FuturesUnordered::new();
    use futures::StreamExt;
    for i in 0..messages {
        if in_flight.len() >= window {
            let (t, ok): (Instant, bool) = in_flight.next().await.unwrap();
            latencies.push(t.elapsed());
            errors += usize::from(!ok);
        }
        let ack = sender.emit_with_ack(
            "message:new",
            json!({"chatId": chat_id, "content": format!("m{i}")}),
        );
        let t = Instant::now();
        in_flight.push(async move { (t, matches!(ack.await, Ok(v) if v["ok"] == true)) });
    }
    while let Some((t, ok)) = in_flight.next().await {
        latencies.push(t.elapsed());
        errors += usize::from(!ok);
    }
    let acked_in = started.elapsed();
    let mut delivered_in = Duration::ZERO;
    for r in receivers {
        delivered_in = delivered_in.max(r.await.unwrap());
    }
    latencies.sort();
    let deliveries = messages * (members - 1);
    println!(
        "nodes={nodes} members={members} messages={messages} window={window} backend={}",
        if nodes > 1 { "redis" } else { "memory" }
    );
    println!(
        "acked {:.0} msg/s | delivered {:.0} deliveries/s | ack latency p50 {:.2} ms p99 {:.2} ms max {:.2} ms | errors {errors}",
        messages as f64 / acked_in.as_secs_f64(),
        deliveries as f64 / delivered_in.as_secs_f64(),
        pct(&latencies, 0.5),
        pct(&latencies, 0.99),
        pct(&latencies, 1.0),
    );
    std::process::exit(i32::from(errors > 0));
}
