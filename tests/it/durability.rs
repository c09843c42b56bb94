//! `SB_REDIS_WAIT_REPLICAS`: acks that survive a failover. On a local
//! Sentinel setup whose replication link runs through a fault-injecting
//! proxy, so a test can partition the replica from the master.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchboard::testing::{redis_cli, ProxyMode, RedisSentinel};

use crate::common::app::{unique, TestApp, TestNode};
use crate::common::sio::SioClient;
use crate::common::{group, ok, pair_across, T};

async fn node(sentinel: &RedisSentinel, prefix: &str, wait: u32) -> TestNode {
    TestApp::redis(&sentinel.url(), prefix)
        .with(move |c| {
            crate::common::app::unlimited(c);
            c.redis.wait_replicas = wait;
        })
        .start()
        .await
}

async fn send(c: &mut SioClient, chat: &str, text: &str) -> Value {
    c.emit_with_ack(
        "message:new",
        json!({"chatId": chat, "content": text, "clientId": text}),
    )
    .await
    .unwrap_or_else(|e| json!({"error": {"code": format!("{e:?}")}}))
}

/// Ids and contents in a chat's history.
async fn history(c: &mut SioClient, chat: &str) -> Vec<(String, String)> {
    let h = ok(c, "chat:history", json!({"chatId": chat, "limit": 100})).await;
    h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_string(),
                m["content"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// While the replica cannot confirm, a message is refused (UNAVAILABLE)
/// and nobody receives it; the retry with the same clientId, once the
/// replica has it, is acknowledged with one id and delivered exactly once.
#[tokio::test]
async fn an_unconfirmed_message_is_refused_then_delivered_once_on_retry() {
    let sentinel = RedisSentinel::start();
    let node = node(&sentinel, &format!("{}:", unique("wait")), 1).await;
    let (mut alice, mut bob, chat) = pair_across(&node, &node).await;
    let r = send(&mut alice, &chat, "first").await;
    assert_eq!(r["ok"], true, "{r}");
    bob.wait_for("message:new", T).await;

    sentinel.link.set(ProxyMode::BlackHole);
    let r = send(&mut alice, &chat, "held").await;
    assert_eq!(r["error"]["code"], "UNAVAILABLE", "{r}");
    bob.expect_none("message:new", Duration::from_millis(300))
        .await;

    // The partition heals: the replica receives what was held.
    sentinel.link.set(ProxyMode::Pass);
    sentinel.wait_in_sync();
    let r = send(&mut alice, &chat, "held").await;
    assert_eq!(r["ok"], true, "the retry is acknowledged: {r}");
    let id = r["message"]["id"].as_str().unwrap().to_string();
    let got = bob.wait_for("message:new", T).await;
    assert_eq!(got["message"]["id"], id.as_str());
    assert_eq!(got["message"]["content"], "held");

    // A second retry (say the ack was lost) changes nothing.
    let again = send(&mut alice, &chat, "held").await;
    assert_eq!(again["message"]["id"], id.as_str(), "{again}");
    bob.expect_none("message:new", Duration::from_millis(300))
        .await;
    let held: Vec<_> = history(&mut alice, &chat)
        .await
        .into_iter()
        .filter(|(_, c)| c == "held")
        .collect();
    assert_eq!(held.len(), 1, "{held:?}");
}

/// The replica is partitioned from the master, the master dies, Sentinel
/// promotes the replica. A node without WAIT acknowledged messages the
/// new master never had: they are lost (this proves the fault was real).
/// A node with `SB_REDIS_WAIT_REPLICAS=1` refused them instead; every
/// message it acknowledged is on the new master, and its client's retries
/// store the refused ones once each.
#[tokio::test]
async fn with_wait_no_acknowledged_message_is_lost_across_a_failover() {
    let sentinel = RedisSentinel::start();
    let old_master = sentinel.master_port().expect("a master");
    let prefix = format!("{}:", unique("fo"));
    let plain = node(&sentinel, &prefix, 0).await;
    let durable = node(&sentinel, &prefix, 1).await;
    let (mut p_alice, _p_bob, p_chat) = pair_across(&plain, &plain).await;
    let (mut d_alice, _d_bob, d_chat) = pair_across(&durable, &durable).await;
    for (c, chat) in [(&mut p_alice, &p_chat), (&mut d_alice, &d_chat)] {
        let r = send(c, chat, "before").await;
        assert_eq!(r["ok"], true, "{r}");
    }
    sentinel.wait_in_sync();

    // Partition: the master keeps taking writes the replica never sees.
    sentinel.link.set(ProxyMode::BlackHole);
    let mut acked: Vec<(bool, String)> = Vec::new();
    let mut refused = Vec::new();
    for i in 0..5 {
        for (durable, c, chat) in [
            (false, &mut p_alice, &p_chat),
            (true, &mut d_alice, &d_chat),
        ] {
            let text = format!("during-{durable}-{i}");
            let r = send(c, chat, &text).await;
            if r["ok"] == true {
                acked.push((durable, r["message"]["id"].as_str().unwrap().to_string()));
            } else {
                assert_eq!(r["error"]["code"], "UNAVAILABLE", "{r}");
                refused.push((durable, text));
            }
        }
    }
    assert!(
        refused.iter().all(|(d, _)| *d),
        "only the WAIT node refuses: {refused:?}"
    );
    assert_eq!(refused.len(), 5, "every WAIT ack was refused");

    // The master dies with what only it had; Sentinel promotes the replica.
    sentinel.master.stop();
    sentinel.link.reset();
    let started = Instant::now();
    // Until every sentinel names the new master: one that still named the
    // old one could send a node to it once it is back.
    while !sentinel.all_agree_on_a_master_other_than(old_master) {
        assert!(started.elapsed() < Duration::from_secs(30), "no failover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The old master comes back empty and becomes the new replica, so
    // WAIT can be satisfied again.
    sentinel.master.start_again();

    // The WAIT node's client retries what was refused until it is acked.
    let mut retried = Vec::new();
    for (_, text) in &refused {
        let started = Instant::now();
        loop {
            let r = send(&mut d_alice, &d_chat, text).await;
            if r["ok"] == true {
                retried.push(r["message"]["id"].as_str().unwrap().to_string());
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(40),
                "the retry of {text} never succeeded: {r}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    eprintln!("WAIT acks resumed {:?} after the kill", started.elapsed());

    let p_hist = history(&mut p_alice, &p_chat).await;
    let d_hist = history(&mut d_alice, &d_chat).await;
    let on_master = |durable: bool, id: &str| {
        let h = if durable { &d_hist } else { &p_hist };
        h.iter().any(|(i, _)| i == id)
    };
    let lost_plain = acked
        .iter()
        .filter(|(d, id)| !d && !on_master(false, id))
        .count();
    let lost_durable = acked
        .iter()
        .filter(|(d, id)| *d && !on_master(true, id))
        .count();
    eprintln!("acked then lost: without WAIT {lost_plain}/5, with WAIT {lost_durable}");
    assert!(
        lost_plain > 0,
        "the partition lost nothing: the test proves nothing"
    );
    assert_eq!(lost_durable, 0);
    for id in &retried {
        assert!(on_master(true, id), "retried {id} missing");
    }
    for (_, text) in &refused {
        let n = d_hist.iter().filter(|(_, c)| c == text).count();
        assert_eq!(n, 1, "{text} stored {n} times");
    }
}

/// Many appends at once through the HTTP API: with group commit one `WAIT`
/// may confirm several of them, but each is acknowledged only when a `WAIT`
/// sent after it returned confirms it. With the replica partitioned, every
/// one of them is refused and nobody receives any.
#[tokio::test]
async fn concurrent_appends_are_confirmed_and_refused_as_a_group() {
    const N: usize = 200;
    let sentinel = RedisSentinel::start();
    let node = node(&sentinel, &format!("{}:", unique("grp")), 1).await;
    let (alice_id, b) = (unique("a"), unique("b"));
    let mut alice = node.connect(&alice_id).await;
    let mut bob = node.connect(&b).await;
    let chat = group(&mut alice, &[&b], &mut [&mut bob]).await;
    let post = |i: String| {
        let node = &node;
        let (chat, sender) = (chat.clone(), alice_id.clone());
        async move {
            node.api(
                "POST",
                "/api/v1/messages",
                Some(json!({"chatId": chat, "senderId": sender, "content": i, "clientId": i})),
            )
            .await
        }
    };
    let waits = |port: u16| {
        redis_cli(port, &["INFO", "commandstats"])
            .lines()
            .find_map(|l| l.strip_prefix("cmdstat_wait:calls="))
            .and_then(|v| v.split(',').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let master = sentinel.master_port().unwrap();
    let before = waits(master);
    let replies = futures::future::join_all((0..N).map(|i| post(format!("ok-{i}")))).await;
    assert!(replies.iter().all(|(s, _)| *s == 201), "{replies:?}");
    eprintln!(
        "group commit: {N} concurrent appends confirmed by {} WAIT commands",
        waits(master) - before
    );
    for _ in 0..N {
        bob.wait_for("message:new", T).await;
    }

    sentinel.link.set(ProxyMode::BlackHole);
    let replies = futures::future::join_all((0..50).map(|i| post(format!("no-{i}")))).await;
    for (status, body) in &replies {
        assert_eq!(*status, 503, "{body}");
        assert_eq!(body["error"]["code"], "UNAVAILABLE", "{body}");
    }
    bob.expect_none("message:new", Duration::from_millis(300))
        .await;
    sentinel.link.set(ProxyMode::Pass);
}
