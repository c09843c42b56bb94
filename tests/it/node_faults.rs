//! Faults of the nodes themselves: a node process frozen (SIGSTOP) beyond
//! its TTL and then resumed, a rolling restart of every node under steady
//! load, and a reconnect storm after a node dies.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard::testing::RedisServer;

use crate::common::app::{unique, TestApp, TestNode};
use crate::common::process::Process;
use crate::common::{group, ok, T};

fn node_env<'a>(url: &'a str, prefix: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("SB_REDIS_URL", url),
        ("SB_REDIS_PREFIX", prefix),
        ("SB_NODE_HEARTBEAT_SECS", "1"),
        ("SB_NODE_TTL_SECS", "3"),
        ("SB_PRESENCE_SWEEP_MS", "200"),
        ("SB_DRAIN_DELAY_SECS", "0"),
        ("SB_DRAIN_SPREAD_SECS", "1"),
        ("SB_RATE_CONNECT", "off"),
        ("SB_RATE_MESSAGE", "off"),
    ]
}

/// A node frozen for longer than its TTL is declared dead: its users go
/// offline (announced once). When it resumes, it finds itself reaped,
/// registers its live connections again, and its users are online again;
/// their sockets never dropped, and they can send at once.
#[tokio::test]
async fn a_frozen_node_is_declared_dead_then_repairs_itself_when_resumed() {
    let redis = RedisServer::start();
    let (url, prefix) = (redis.url(), format!("{}:", unique("frz")));
    let env = node_env(&url, &prefix);
    let (a, b) = (Process::start(&env), Process::start(&env));
    for p in [&a, &b] {
        p.wait_for("/ready", 200, Duration::from_secs(20)).await;
    }
    let (na, nb) = (
        TestNode::external(a.url.clone()),
        TestNode::external(b.url.clone()),
    );
    let (alice, watcher) = (unique("alice"), unique("w"));
    let mut al = na.connect(&alice).await;
    let mut w = nb.connect(&watcher).await;
    let chat = group(&mut w, &[&alice], &mut [&mut al]).await;
    ok(&mut w, "presence:subscribe", json!({"userIds": [alice]})).await;

    a.signal("STOP");
    let frozen = Instant::now();
    let down = w.wait_for("presence:update", Duration::from_secs(10)).await;
    assert_eq!(down["presence"]["status"], "offline", "{down}");
    let detected = frozen.elapsed();
    // Held frozen a little longer, then resumed.
    tokio::time::sleep(Duration::from_secs(1)).await;
    a.signal("CONT");
    let resumed = Instant::now();
    let up = w.wait_for("presence:update", Duration::from_secs(10)).await;
    assert_eq!(up["presence"]["status"], "online", "{up}");
    eprintln!(
        "frozen node: declared dead after {detected:?}; its user online again {:?} after SIGCONT",
        resumed.elapsed()
    );
    w.expect_none("presence:update", Duration::from_millis(500))
        .await;
    let r = ok(&mut w, "chat:get-active-members", json!({"chatId": chat})).await;
    let active: Vec<&str> = r["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["userId"].as_str())
        .collect();
    assert!(active.contains(&alice.as_str()), "{r}");
    ok(
        &mut al,
        "message:new",
        json!({"chatId": chat, "content": "back", "clientId": "back"}),
    )
    .await;
    let m = w.wait_for("message:new", T).await;
    assert_eq!(m["message"]["content"], "back");
}

/// Three nodes; each is stopped (SIGTERM, drained) and replaced in turn
/// while a sender and a receiver keep going, reconnecting to a live node
/// when theirs drains. Every acked message reaches the receiver (live or by
/// the sync it does after each reconnect), none twice live, and the chat's
/// `seq` has no gap.
#[tokio::test]
async fn a_rolling_restart_under_steady_load_loses_nothing() {
    let redis = RedisServer::start();
    let (url, prefix) = (redis.url(), format!("{}:", unique("roll")));
    let env = node_env(&url, &prefix);
    let mut procs: Vec<Process> = (0..3).map(|_| Process::start(&env)).collect();
    for p in &procs {
        p.wait_for("/ready", 200, Duration::from_secs(20)).await;
    }
    let (alice, bob) = (unique("alice"), unique("bob"));
    let node = |p: &Process| TestNode::external(p.url.clone());
    let mut sender = node(&procs[0]).connect(&alice).await;
    let mut receiver = node(&procs[1]).connect(&bob).await;
    let chat = group(&mut sender, &[&bob], &mut [&mut receiver]).await;

    let mut acked: Vec<String> = Vec::new();
    let mut live: HashSet<String> = HashSet::new();
    let mut last_seq = 0u64;
    let mut refused = 0;
    let mut i = 0;
    // Restart one node per phase: procs[k] stops, a new one takes its place.
    for k in 0..3 {
        let phase_end = Instant::now() + Duration::from_millis(1500);
        let stopping = procs.remove(k);
        let stopper = std::thread::spawn(move || stopping.stop());
        while Instant::now() < phase_end || !stopper.is_finished() {
            let cid = format!("m{i}");
            let r = sender
                .emit_with_ack(
                    "message:new",
                    json!({"chatId": chat, "content": cid, "clientId": cid}),
                )
                .await;
            match r {
                Ok(v) if v["ok"] == true => {
                    acked.push(v["message"]["id"].as_str().unwrap().to_string());
                    i += 1;
                }
                _ => {
                    // Refused, or the node drained under us: reconnect to
                    // a live node and retry the same clientId.
                    refused += 1;
                    if !sender.is_connected() {
                        sender = node(&procs[0]).connect(&alice).await;
                    }
                }
            }
            for (name, v) in receiver.drain_events() {
                if name == "message:new" {
                    let id = v["message"]["id"].as_str().unwrap().to_string();
                    assert!(live.insert(id.clone()), "{id} delivered live twice");
                    last_seq = last_seq.max(v["message"]["seq"].as_u64().unwrap());
                }
            }
            if !receiver.is_connected() {
                receiver = node(&procs[procs.len() - 1]).connect(&bob).await;
                let r = ok(
                    &mut receiver,
                    "chat:sync",
                    json!({"chats": [{"chatId": chat, "afterSeq": last_seq}]}),
                )
                .await;
                for m in r["chats"][0]["messages"].as_array().unwrap() {
                    live.insert(m["id"].as_str().unwrap().to_string());
                    last_seq = last_seq.max(m["seq"].as_u64().unwrap());
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stopper.join().expect("the node stopped");
        let fresh = Process::start(&env);
        fresh.wait_for("/ready", 200, Duration::from_secs(20)).await;
        procs.insert(k, fresh);
    }
    // Whatever is still in flight arrives; then a final sync.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (name, v) in receiver.drain_events() {
        if name == "message:new" {
            let id = v["message"]["id"].as_str().unwrap().to_string();
            assert!(live.insert(id.clone()), "{id} delivered live twice");
        }
    }
    let r = ok(
        &mut receiver,
        "chat:sync",
        json!({"chats": [{"chatId": chat, "afterSeq": 0}]}),
    )
    .await;
    let all = r["chats"][0]["messages"].as_array().unwrap();
    let seqs: Vec<u64> = all.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "gap in seq: {seqs:?}"
    );
    let stored: HashSet<&str> = all.iter().filter_map(|m| m["id"].as_str()).collect();
    for id in &acked {
        assert!(stored.contains(id.as_str()), "acked {id} not stored");
    }
    eprintln!(
        "rolling restart: {} acked, {} refused or cut and retried, {} seen by the receiver",
        acked.len(),
        refused,
        stored.len()
    );
    assert!(acked.len() >= 30, "the load kept going: {}", acked.len());
}

/// 2,000 clients on one node; the node dies and all of them reconnect to
/// the other node at once. Every reconnection succeeds, the registry ends
/// with exactly the live connections (the dead node's are reaped), and the
/// reconnected clients work.
#[tokio::test]
async fn a_reconnect_storm_is_absorbed_and_the_registry_matches_the_sockets() {
    const N: usize = 2000;
    let mut nodes = TestApp::cluster_with(2, true, crate::common::app::unlimited).await;
    let users: Vec<String> = (0..N).map(|i| unique(&format!("s{i}"))).collect();
    let first = futures::future::join_all(users.iter().map(|u| nodes[0].connect(u))).await;
    let stats = |v: &serde_json::Value| v["connections"]["cluster"].as_u64().unwrap_or(0);
    // Each node reports its count with its heartbeat: wait for the one
    // after the last connection.
    let end = Instant::now() + T;
    loop {
        let (_, s) = nodes[1].admin("GET", "/admin/stats", None).await;
        if stats(&s) == N as u64 {
            break;
        }
        assert!(Instant::now() < end, "{s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    nodes.remove(0).kill();
    for c in &first {
        c.closed().await;
    }
    drop(first);
    let started = Instant::now();
    let second = futures::future::join_all(users.iter().map(|u| nodes[0].connect(u))).await;
    let reconnected = started.elapsed();
    // The dead node's registrations are reaped: N live, not 2N.
    let mut last = serde_json::Value::Null;
    while started.elapsed() < Duration::from_secs(15) {
        last = nodes[0].admin("GET", "/admin/stats", None).await.1;
        if stats(&last) == N as u64 && last["connections"]["node"] == N as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(stats(&last), N as u64, "{last}");
    eprintln!(
        "reconnect storm: {N} clients reconnected in {reconnected:?}; registry exact after {:?}",
        started.elapsed()
    );
    let mut sample = second.into_iter().step_by(400).collect::<Vec<_>>();
    for c in &mut sample {
        ok(c, "chat:list", json!({})).await;
    }
}
