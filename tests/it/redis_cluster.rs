//! Redis Cluster under change: slots moved with their keys while messages
//! flow (`ASK`, then `MOVED`), and a master killed under traffic (its
//! replica promoted). Clients retry what was refused with the same
//! clientId, as the protocol says; the invariants are checked from their
//! acks and from the stored history.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard::testing::RedisCluster;

use crate::common::app::{unique, TestApp};
use crate::common::sio::SioClient;
use crate::common::{ok, T};

/// `n` group chats of alice and bob (ids spread over the slots).
async fn chats(alice: &mut SioClient, bob: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let r = ok(
            alice,
            "chat:create",
            json!({"kind": "group", "members": [bob]}),
        )
        .await;
        out.push(r["chat"]["id"].as_str().unwrap().to_string());
    }
    out
}

/// Sends one message per chat per round until `done()` and at least
/// `min_rounds`, each retried with its clientId until acked. Returns the
/// acked message id per clientId and the error codes met on the way.
async fn traffic(
    alice: &mut SioClient,
    tag: &str,
    chats: &[String],
    min_rounds: usize,
    done: impl Fn() -> bool,
) -> (HashMap<String, (String, String)>, Vec<String>) {
    let mut acked = HashMap::new();
    let mut errors = Vec::new();
    let mut round = 0;
    while round < min_rounds || !done() {
        for chat in chats {
            let cid = format!("{chat}-{tag}{round}");
            let started = Instant::now();
            loop {
                let r = alice
                    .emit_with_ack(
                        "message:new",
                        json!({"chatId": chat, "content": cid, "clientId": cid}),
                    )
                    .await
                    .expect("an ack");
                if r["ok"] == true {
                    let id = r["message"]["id"].as_str().unwrap().to_string();
                    acked.insert(cid.clone(), (chat.clone(), id));
                    break;
                }
                errors.push(r["error"]["code"].as_str().unwrap_or("?").to_string());
                // Let the fault side move on (it may be what we wait for).
                done();
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "{cid} never acked: {r}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        round += 1;
    }
    (acked, errors)
}

/// Every acked message is stored, once, under its acked id.
async fn assert_all_stored(
    alice: &mut SioClient,
    chats: &[String],
    acked: &HashMap<String, (String, String)>,
) {
    for chat in chats {
        let h = ok(alice, "chat:history", json!({"chatId": chat, "limit": 100})).await;
        let stored: Vec<(String, String)> = h["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["content"].as_str().unwrap().to_string(),
                    m["id"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let contents: BTreeSet<&String> = stored.iter().map(|(c, _)| c).collect();
        assert_eq!(contents.len(), stored.len(), "a message stored twice");
        for (cid, (c, id)) in acked {
            if c == chat {
                assert!(
                    stored.iter().any(|(sc, sid)| sc == cid && sid == id),
                    "acked {cid} ({id}) missing from {chat}"
                );
            }
        }
        let seqs: Vec<u64> = h["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_u64().unwrap())
            .collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "gaps in {chat}: {seqs:?}"
        );
    }
}

/// A third of the slots move from one master to another while messages
/// flow; every append meets its keys on one node or the other, never
/// half-moved, and nothing acked is lost.
#[tokio::test]
async fn resharding_under_traffic_loses_nothing() {
    let cluster = RedisCluster::start();
    let node = TestApp::redis(&cluster.url(), &format!("{}:", unique("rs")))
        .with(crate::common::app::unlimited)
        .start()
        .await;
    let (a, b) = (unique("a"), unique("b"));
    let mut alice = node.connect(&a).await;
    let _bob = node.connect(&b).await;
    let chats = chats(&mut alice, &b, 24).await;
    let masters = cluster.masters();
    assert_eq!(masters.len(), 3, "{masters:?}");
    let (from, to) = (masters[0], masters[1]);
    let cl = std::sync::Arc::new(cluster);
    let mover = {
        let cl = cl.clone();
        std::thread::spawn(move || cl.reshard(from, to, 2000))
    };
    let (acked, errors) = traffic(&mut alice, "r", &chats, 3, || mover.is_finished()).await;
    mover.join().expect("reshard");
    eprintln!(
        "resharding: {} acked, {} refusals {:?}",
        acked.len(),
        errors.len(),
        errors.iter().collect::<BTreeSet<_>>()
    );
    assert!(
        errors.iter().all(|e| e == "UNAVAILABLE"),
        "only retryable refusals: {errors:?}"
    );
    assert_all_stored(&mut alice, &chats, &acked).await;
}

/// A master is killed under traffic; the cluster promotes its replica.
/// With `SB_REDIS_WAIT_REPLICAS=1` no acked message is lost, what was
/// refused meanwhile is stored once on retry, and sending resumes for
/// every chat.
#[tokio::test]
async fn a_killed_master_is_replaced_and_no_acked_message_is_lost() {
    let cluster = RedisCluster::start();
    let node = TestApp::redis(&cluster.url(), &format!("{}:", unique("mk")))
        .with(|c| {
            crate::common::app::unlimited(c);
            c.redis.wait_replicas = 1;
        })
        .start()
        .await;
    let (a, b) = (unique("a"), unique("b"));
    let mut alice = node.connect(&a).await;
    let _bob = node.connect(&b).await;
    let chats = chats(&mut alice, &b, 12).await;
    let (mut acked, _) = traffic(&mut alice, "before", &chats, 2, || true).await;

    let victim = cluster.masters()[0];
    let killed_at = Instant::now();
    cluster.node(victim).stop();
    // Traffic until the cluster has promoted the replica (the victim is no
    // longer listed as a master), then two more rounds for every chat. The
    // promoted replica has no replica of its own until the victim comes
    // back (as its replica), so its slots refuse acks until then.
    let restarted = std::sync::atomic::AtomicBool::new(false);
    let (more, errors) = traffic(&mut alice, "after", &chats, 2, || {
        // Promoted: three healthy masters again, the victim not among
        // them (a merely suspected master does not count: restarted
        // before its replica took over, it would come back as an empty
        // master and its replica would resync from it).
        let masters = cluster.masters();
        let promoted = masters.len() == 3 && !masters.contains(&victim);
        if promoted && !restarted.swap(true, std::sync::atomic::Ordering::SeqCst) {
            cluster.node(victim).start_again();
        }
        promoted
    })
    .await;
    eprintln!(
        "master killed: acks resumed for every chat within {:?}; {} refusals",
        killed_at.elapsed(),
        errors.len()
    );
    assert!(errors.iter().all(|e| e == "UNAVAILABLE"), "{errors:?}");
    acked.extend(more);
    assert_all_stored(&mut alice, &chats, &acked).await;
    let _ = T;
}
