//! Failure behaviour: Redis down at start-up, Redis stopped and restarted
//! under traffic, graceful shutdown.

use std::time::Duration;

use serde_json::json;
use switchboard::testing::RedisServer;

use crate::common::app::{unique, TestApp};
use crate::common::{group, ok, pair_across, T};

#[tokio::test]
async fn unreachable_redis_at_start_up_then_ready_when_it_comes() {
    let redis = RedisServer::start_persistent();
    let url = redis.url();
    redis.stop();
    let node = TestApp::redis(&url, &format!("{}:", unique("boot")))
        .spawn()
        .await;
    // The process serves: health is fine, readiness is not, sockets wait.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(node.get("/health").await.0, 200);
    assert_eq!(node.get("/ready").await.0, 503);
    redis.start_again();
    let mut ready = 503;
    for _ in 0..100 {
        ready = node.get("/ready").await.0;
        if ready == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready, 200, "the node became ready by itself");
    let mut c = node.connect(&unique("u")).await;
    ok(&mut c, "chat:list", json!({})).await;
}

#[tokio::test]
async fn redis_outage_under_traffic_loses_no_acked_message() {
    let redis = RedisServer::start_persistent();
    let prefix = format!("{}:", unique("outage"));
    let node_a = TestApp::redis(&redis.url(), &prefix)
        .with(crate::common::app::unlimited)
        .start()
        .await;
    let node_b = TestApp::redis(&redis.url(), &prefix)
        .with(crate::common::app::unlimited)
        .start()
        .await;
    let (a, b) = (unique("a"), unique("b"));
    let mut alice = node_a.connect(&a).await;
    let mut bob = node_b.connect(&b).await;
    let id = group(&mut alice, &[&b], &mut [&mut bob]).await;

    let mut acked_ok = Vec::new();
    let mut refused = 0;
    for i in 0..60 {
        if i == 20 {
            redis.stop();
        }
        if i == 40 {
            redis.start_again();
        }
        let r = alice
            .emit_with_ack(
                "message:new",
                json!({"chatId": id, "content": format!("{i}"), "clientId": format!("c{i}")}),
            )
            .await;
        match r {
            Ok(v) if v["ok"] == true => acked_ok.push(format!("c{i}")),
            Ok(v) => {
                assert_eq!(v["error"]["code"], "UNAVAILABLE", "{v}");
                refused += 1;
            }
            Err(_) => refused += 1, // no ack in time: the client will retry
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused > 0, "the outage was noticed");
    // Service resumes by itself: sends succeed and reach the other node.
    let mut resumed = false;
    for _ in 0..100 {
        let r = alice
            .emit_with_ack(
                "message:new",
                json!({"chatId": id, "content": "after", "clientId": "after"}),
            )
            .await;
        if matches!(&r, Ok(v) if v["ok"] == true) {
            resumed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(resumed, "sending works again without a restart");
    acked_ok.push("after".into());
    let mut live = false;
    for _ in 0..50 {
        ok(
            &mut alice,
            "message:new",
            json!({"chatId": id, "content": "ping"}),
        )
        .await;
        if let Some(m) = bob
            .try_wait_for("message:new", Duration::from_millis(200))
            .await
        {
            if m["message"]["content"] == "ping" {
                live = true;
                break;
            }
        }
    }
    assert!(live, "cross-node delivery resumed (re-subscribed)");
    // bob's node lost its pub/sub connection: it told bob to sync.
    let needed = bob.wait_for("sync:needed", T).await;
    assert_eq!(needed["reason"], "pubsub_reconnected");
    eprintln!(
        "redis kill/restart (AOF): {} acked ok, {refused} refused during the outage",
        acked_ok.len()
    );
    // Every message acked ok is stored.
    let hist = ok(
        &mut bob,
        "chat:history",
        json!({"chatId": id, "limit": 100}),
    )
    .await;
    let stored: Vec<String> = hist["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["clientId"].as_str().map(str::to_string))
        .collect();
    for c in &acked_ok {
        assert!(
            stored.contains(c),
            "acked message {c} is missing from history"
        );
    }
    let seqs: Vec<u64> = hist["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    let mut sorted = seqs.clone();
    sorted.dedup();
    assert_eq!(sorted, seqs, "seq stays increasing without duplicates");
}

#[tokio::test]
async fn graceful_shutdown_drains() {
    let node = TestApp::memory().start().await;
    let c = node.connect(&unique("u")).await;
    let url = node.url.clone();
    let app = node.app().clone();
    let stop = tokio::spawn(node.shutdown());
    // Clients are disconnected so that they reconnect elsewhere.
    tokio::time::timeout(T, c.closed())
        .await
        .expect("client disconnected");
    assert!(app.is_draining());
    tokio::time::timeout(Duration::from_secs(10), stop)
        .await
        .unwrap()
        .unwrap();
    assert!(
        reqwest::get(format!("{url}/health")).await.is_err(),
        "the node exited"
    );
}

/// PROTOCOL §2: `UNAVAILABLE` means nothing was done. A store call that
/// timed out while Redis was paused must not be executed later, when Redis
/// resumes and runs the queued script (it would store a message whose
/// sender was told it failed, and that nobody received live).
#[tokio::test]
async fn an_unavailable_ack_stores_nothing_even_when_redis_runs_it_late() {
    late_append(&["DEBUG", "SLEEP", "1.5"]).await;
}

/// The same with `CLIENT PAUSE` (clients' commands held, the server itself
/// running) instead of a sleeping server.
#[tokio::test]
async fn an_unavailable_ack_stores_nothing_after_a_client_pause() {
    late_append(&["CLIENT", "PAUSE", "1500", "ALL"]).await;
}

/// Redis stalls for 1.5 s through `stall` while an append is sent.
async fn late_append(stall_cmd: &'static [&'static str]) {
    let redis = RedisServer::start();
    let node = TestApp::redis(&redis.url(), &format!("{}:", unique("late")))
        .with(|c| {
            crate::common::app::unlimited(c);
            c.redis.command_timeout = Duration::from_millis(400);
        })
        .start()
        .await;
    let (mut alice, mut bob, chat) = pair_across(&node, &node).await;
    // One message first (the append script is then loaded in Redis), and
    // a heartbeat to measure the clocks.
    ok(
        &mut alice,
        "message:new",
        json!({"chatId": chat, "content": "warm", "clientId": "warm-1"}),
    )
    .await;
    bob.wait_for("message:new", T).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;

    // Redis stalls for 1.5 s (DEBUG SLEEP): what is sent meanwhile waits
    // in its socket buffers and runs when it wakes, even from a
    // connection the client closed on its timeout.
    let port = redis.port().to_string();
    let stalled_at = std::time::Instant::now();
    let stall = std::thread::spawn(move || {
        std::process::Command::new("redis-cli")
            .args(["-p", &port])
            .args(stall_cmd)
            .output()
            .expect("redis-cli")
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = alice
        .emit_with_ack(
            "message:new",
            json!({"chatId": chat, "content": "late", "clientId": "late-1"}),
        )
        .await
        .unwrap();
    assert_eq!(r["error"]["code"], "UNAVAILABLE", "{r}");

    // Redis resumes and runs the queued append: it must do nothing.
    let out = tokio::task::spawn_blocking(move || stall.join().unwrap())
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("OK"),
        "{stall_cmd:?} ran: {out:?}"
    );
    // The stall is over (CLIENT PAUSE returns at once) and the queued
    // append has run.
    let over = stalled_at + Duration::from_millis(1500 + 1000);
    tokio::time::sleep_until(over.into()).await;
    let count = |h: &serde_json::Value| {
        h["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["content"] == "late")
            .count()
    };
    let h = ok(&mut alice, "chat:history", json!({"chatId": chat})).await;
    assert_eq!(count(&h), 0, "stored after an UNAVAILABLE ack: {h}");
    bob.expect_none("message:new", Duration::from_millis(200))
        .await;

    // The client's retry with the same clientId stores it, once.
    ok(
        &mut alice,
        "message:new",
        json!({"chatId": chat, "content": "late", "clientId": "late-1"}),
    )
    .await;
    ok(
        &mut alice,
        "message:new",
        json!({"chatId": chat, "content": "late", "clientId": "late-1"}),
    )
    .await;
    let h = ok(&mut alice, "chat:history", json!({"chatId": chat})).await;
    assert_eq!(count(&h), 1, "{h}");
}

/// During an outage the registry cannot be written: a connection that
/// closes stays listed, one that opens is not. When Redis is back, the node
/// repairs both at once, and presence follows (offline once, online).
#[tokio::test]
async fn the_registry_and_presence_are_repaired_after_an_outage() {
    let redis = RedisServer::start_persistent();
    let node = TestApp::redis(&redis.url(), &format!("{}:", unique("repair")))
        .with(|c| {
            c.redis.command_timeout = Duration::from_millis(400);
            // Long enough that the outage alone does not get it reaped.
            c.redis.node_ttl = Duration::from_secs(60);
            c.presence.grace = Duration::from_millis(300);
        })
        .start()
        .await;
    let (left, joined) = (unique("left"), unique("joined"));
    let mut l = node.connect(&left).await;
    let sessions = |user: String| {
        let node = &node;
        async move {
            let (s, r) = node
                .admin("GET", &format!("/admin/sessions?userId={user}"), None)
                .await;
            assert_eq!(s, 200, "{r}");
            r["sessions"].as_array().unwrap().len()
        }
    };
    assert_eq!(sessions(left.clone()).await, 1);

    redis.stop();
    l.disconnect().await; // its removal fails: Redis is down
    let _j = node.connect(&joined).await; // its registration fails
    tokio::time::sleep(Duration::from_millis(800)).await;
    redis.start_again();

    let presence = |user: String| {
        let node = &node;
        async move {
            let (_, r) = node
                .api("GET", &format!("/api/v1/presence?userIds={user}"), None)
                .await;
            r["presences"][0]["status"]
                .as_str()
                .unwrap_or("")
                .to_string()
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ok = matches!(node.get("/ready").await.0, 200)
            && sessions(left.clone()).await == 0
            && sessions(joined.clone()).await == 1
            && presence(left.clone()).await == "offline"
            && presence(joined.clone()).await == "online";
        if ok {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not repaired: {} / {} sessions, presence {} / {}",
            sessions(left.clone()).await,
            sessions(joined.clone()).await,
            presence(left.clone()).await,
            presence(joined.clone()).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A Redis outage longer than the node TTL must not get live nodes
/// declared dead: once Redis is back every node's heartbeat looks expired,
/// and the first sweeper used to reap them all (their users flapped
/// offline, then online). A node now reaps only after reaching Redis
/// itself for a full TTL, by which time every live node has renewed.
#[tokio::test]
async fn an_outage_longer_than_the_node_ttl_declares_no_live_node_dead() {
    let redis = RedisServer::start_persistent();
    let prefix = format!("{}:", unique("live"));
    // Beats every 2 s against sweeps every 0.2 s: after the outage a
    // sweeper runs long before the other node's next beat.
    let slow_beat = |c: &mut switchboard::config::Config| {
        c.redis.heartbeat_interval = Duration::from_secs(2);
        c.redis.node_ttl = Duration::from_secs(4);
    };
    let a = TestApp::redis(&redis.url(), &prefix)
        .with(slow_beat)
        .start()
        .await;
    let b = TestApp::redis(&redis.url(), &prefix)
        .with(slow_beat)
        .start()
        .await;
    let (alice, watcher) = (unique("alice"), unique("w"));
    let mut w = a.connect(&watcher).await;
    let mut al = b.connect(&alice).await;
    group(&mut w, &[&alice], &mut [&mut al]).await;
    ok(&mut w, "presence:subscribe", json!({"userIds": [alice]})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    w.drain_events();

    // Redis is away longer than the node TTL (4 s).
    redis.stop();
    tokio::time::sleep(Duration::from_secs(6)).await;
    redis.start_again();
    w.expect_none("presence:update", Duration::from_secs(9))
        .await;
    let (_, s) = a
        .admin("GET", &format!("/admin/sessions?userId={alice}"), None)
        .await;
    assert_eq!(s["sessions"].as_array().unwrap().len(), 1, "{s}");
    let p = ok(&mut w, "presence:get", json!({"userIds": [alice]})).await;
    assert_eq!(p["presences"][0]["status"], "online", "{p}");
}

/// Sentinel: the node follows a failover. The master is killed under
/// traffic; the sentinels promote the replica, the node reconnects to it
/// by itself, sending resumes, and what is acked afterwards is stored.
/// (Messages acked just before the failover may be lost with asynchronous
/// replication: that is what `SB_REDIS_WAIT_REPLICAS` will address.)
#[tokio::test]
async fn a_sentinel_failover_is_followed_without_a_restart() {
    let sentinel = switchboard::testing::RedisSentinel::start();
    let old_master = sentinel.master_port().expect("a master");
    let node = TestApp::redis(&sentinel.url(), &format!("{}:", unique("sen")))
        .with(crate::common::app::unlimited)
        .start()
        .await;
    let (mut alice, _bob, chat) = pair_across(&node, &node).await;
    ok(
        &mut alice,
        "message:new",
        json!({"chatId": chat, "content": "before", "clientId": "before"}),
    )
    .await;

    sentinel.wait_in_sync();
    sentinel.master.stop();
    let started = std::time::Instant::now();
    let mut after = Vec::new();
    let mut i = 0;
    while after.len() < 5 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "sending did not resume after the failover"
        );
        i += 1;
        let r = alice
            .emit_with_ack(
                "message:new",
                json!({"chatId": chat, "content": format!("after {i}"), "clientId": format!("after-{i}")}),
            )
            .await;
        match r {
            Ok(v) if v["ok"] == true => {
                after.push(v["message"]["id"].as_str().unwrap().to_string());
            }
            other => eprintln!("{:?}: {other:?}", started.elapsed()),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "sending resumed {:?} after the master was killed",
        started.elapsed()
    );
    assert_ne!(sentinel.master_port(), Some(old_master), "a new master");
    let h = ok(
        &mut alice,
        "chat:history",
        json!({"chatId": chat, "limit": 100}),
    )
    .await;
    let stored: Vec<&str> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    for id in &after {
        assert!(
            stored.contains(&id.as_str()),
            "{id} acked after the failover but missing"
        );
    }
}
