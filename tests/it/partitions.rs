//! Faults between a node and Redis: the pub/sub connection killed or
//! evicted (the node re-subscribes and tells its clients to sync), and a
//! half-open partition through a TCP proxy (every Redis await is bounded,
//! `/ready` flips and recovers, and nothing acked is lost).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchboard::testing::{redis_cli, ProxyMode, RedisServer, TcpProxy};

use crate::common::app::{unique, TestApp, TestNode};
use crate::common::sio::SioClient;
use crate::common::{ok, pair_across, T};

async fn node(url: &str, prefix: &str) -> TestNode {
    TestApp::redis(url, prefix)
        .with(|c| {
            crate::common::app::unlimited(c);
            c.messages.max_content_bytes = 100_000;
        })
        .start()
        .await
}

async fn send(c: &mut SioClient, chat: &str, content: &str) -> Value {
    let r = ok(
        c,
        "message:new",
        json!({"chatId": chat, "content": content, "clientId": content}),
    )
    .await;
    r["message"].clone()
}

/// What bob has: the live `message:new` ids so far (asserting no id twice).
fn live_ids(bob: &mut SioClient, seen: &mut HashSet<String>) {
    for (name, v) in bob.drain_events() {
        if name == "message:new" {
            let id = v["message"]["id"].as_str().unwrap().to_string();
            assert!(seen.insert(id.clone()), "{id} delivered live twice");
        }
    }
}

/// `chat:sync` from `after`: the ids returned.
async fn sync_ids(bob: &mut SioClient, chat: &str, after: u64) -> Vec<String> {
    let r = ok(
        bob,
        "chat:sync",
        json!({"chats": [{"chatId": chat, "afterSeq": after}]}),
    )
    .await;
    r["chats"][0]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

/// `CLIENT KILL TYPE pubsub` drops every node's subscriber connection. The
/// nodes re-subscribe by themselves and send `sync:needed`; a client that
/// syncs then has every acked message, and live delivery resumes.
#[tokio::test]
async fn a_killed_pubsub_connection_is_restored_and_clients_are_told_to_sync() {
    let redis = RedisServer::start();
    let prefix = format!("{}:", unique("pskill"));
    let (a, b) = (
        node(&redis.url(), &prefix).await,
        node(&redis.url(), &prefix).await,
    );
    let (mut alice, mut bob, chat) = pair_across(&a, &b).await;
    let first = send(&mut alice, &chat, "before").await;
    bob.wait_for("message:new", T).await;
    let last_seq = first["seq"].as_u64().unwrap();

    let killed = redis_cli(redis.port(), &["CLIENT", "KILL", "TYPE", "pubsub"]);
    assert!(killed.trim().parse::<u32>().unwrap_or(0) >= 2, "{killed}");
    let during = send(&mut alice, &chat, "during").await;
    let started = Instant::now();
    let needed = bob.wait_for("sync:needed", Duration::from_secs(10)).await;
    eprintln!("sync:needed after {:?}", started.elapsed());
    assert_eq!(needed["reason"], "pubsub_reconnected");
    let synced = sync_ids(&mut bob, &chat, last_seq).await;
    assert!(
        synced.contains(&during["id"].as_str().unwrap().to_string()),
        "{synced:?}"
    );

    // Live delivery works again, across nodes ("during" may have come
    // live too, if the subscription was back before it was published).
    let after = send(&mut alice, &chat, "after").await;
    loop {
        let got = bob.wait_for("message:new", T).await;
        if got["message"]["id"] == after["id"] {
            break;
        }
        assert_eq!(got["message"]["id"], during["id"], "{got}");
    }
}

/// A subscriber that falls behind is disconnected by Redis
/// (`client-output-buffer-limit pubsub`). Here the limit is tiny and one
/// large message overflows it: the receiving node loses that message live,
/// re-subscribes, and its client is told to sync and gets it.
#[tokio::test]
async fn an_evicted_slow_subscriber_resubscribes_and_clients_resync() {
    let redis = RedisServer::start();
    let prefix = format!("{}:", unique("evict"));
    let (a, b) = (
        node(&redis.url(), &prefix).await,
        node(&redis.url(), &prefix).await,
    );
    let (mut alice, mut bob, chat) = pair_across(&a, &b).await;
    let first = send(&mut alice, &chat, "small").await;
    bob.wait_for("message:new", T).await;

    redis_cli(
        redis.port(),
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 1kb 0 0",
        ],
    );
    let big = "x".repeat(60_000);
    let r = ok(
        &mut alice,
        "message:new",
        json!({"chatId": chat, "content": big, "clientId": "big"}),
    )
    .await;
    let big_id = r["message"]["id"].as_str().unwrap().to_string();
    redis_cli(
        redis.port(),
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 32mb 8mb 60",
        ],
    );
    let needed = bob.wait_for("sync:needed", Duration::from_secs(10)).await;
    assert_eq!(needed["reason"], "pubsub_reconnected");
    let mut seen = HashSet::new();
    live_ids(&mut bob, &mut seen);
    let synced = sync_ids(&mut bob, &chat, first["seq"].as_u64().unwrap()).await;
    assert!(
        seen.contains(&big_id) || synced.contains(&big_id),
        "the big message reached bob neither live nor by sync"
    );
    assert!(synced.contains(&big_id));
    let m = metric(&b, "switchboard_pubsub_resubscribed_total").await;
    assert!(m >= 1.0, "resubscriptions counted: {m}");
}

async fn metric(node: &TestNode, name: &str) -> f64 {
    let (_, body) = node.get("/metrics").await;
    body.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Node B reaches Redis through a proxy that black-holes its traffic (the
/// sockets stay open, nothing moves: a half-open partition). B's acks fail
/// with UNAVAILABLE within a bounded time, its `/ready` turns 503, node A
/// is unaffected. When the partition heals, B recovers by itself, and
/// every message acked anywhere reaches bob, live or through the sync he
/// is told to do, without a duplicate live delivery.
#[tokio::test]
async fn a_half_open_partition_between_a_node_and_redis_is_bounded_and_heals() {
    let redis = RedisServer::start();
    let proxy = TcpProxy::start(redis.port());
    let prefix = format!("{}:", unique("part"));
    let a = node(&redis.url(), &prefix).await;
    let b = node(&format!("redis://127.0.0.1:{}", proxy.port()), &prefix).await;
    let (mut alice, mut bob, chat) = pair_across(&a, &b).await;
    let first = send(&mut alice, &chat, "before").await;
    bob.wait_for("message:new", T).await;
    assert_eq!(b.get("/ready").await.0, 200);

    proxy.set(ProxyMode::BlackHole);
    // B: a bounded failure. The client's ack timeout bounds the wait (no
    // ack at all fails the test); the Redis timeout here is 1 s.
    let started = Instant::now();
    let r = bob
        .emit_with_ack(
            "message:new",
            json!({"chatId": chat, "content": "from-b", "clientId": "from-b"}),
        )
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(r["error"]["code"], "UNAVAILABLE", "{r}");
    eprintln!("partitioned node: UNAVAILABLE after {took:?}");
    assert_eq!(b.get("/ready").await.0, 503);
    // A keeps working; what it stores during the partition is acked.
    let mut acked = vec![first["id"].as_str().unwrap().to_string()];
    for i in 0..3 {
        let m = send(&mut alice, &chat, &format!("during-{i}")).await;
        acked.push(m["id"].as_str().unwrap().to_string());
    }
    assert_eq!(a.get("/ready").await.0, 200);

    proxy.set(ProxyMode::Pass);
    let started = Instant::now();
    while b.get("/ready").await.0 != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "B did not recover"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("B ready again {:?} after the heal", started.elapsed());
    // B's retry with the same clientId is stored once.
    let r = ok(
        &mut bob,
        "message:new",
        json!({"chatId": chat, "content": "from-b", "clientId": "from-b"}),
    )
    .await;
    acked.push(r["message"]["id"].as_str().unwrap().to_string());
    let after = send(&mut alice, &chat, "after").await;
    acked.push(after["id"].as_str().unwrap().to_string());
    // Give live delivery (and a sync:needed, if B's subscriber reconnected)
    // a moment, then take what bob has live and through sync.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut seen = HashSet::new();
    live_ids(&mut bob, &mut seen);
    for id in sync_ids(&mut bob, &chat, 0).await {
        seen.insert(id);
    }
    for id in &acked {
        assert!(seen.contains(id), "acked {id} never reached bob");
    }
    let history = ok(&mut alice, "chat:history", json!({"chatId": chat})).await;
    let from_b = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["content"] == "from-b")
        .count();
    assert_eq!(from_b, 1);
}
