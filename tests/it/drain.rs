//! The drain a load balancer can see: three nodes on one Redis, 1,000
//! clients on the draining node. `/ready` is 503 for at least the delay,
//! the survivors see reconnects at the spread rate (not a stampede), no
//! acked message is lost, and the node exits before its deadline.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{json, Value};
use switchboard::rate_limit::Action;

use crate::common::app::{set_limit, unique, TestApp};
use crate::common::{ok, T};

const CLIENTS: usize = 1000;
const DELAY: Duration = Duration::from_secs(2);
const SPREAD: Duration = Duration::from_secs(4);

#[tokio::test]
async fn a_drain_spreads_reconnects_and_loses_no_acked_message() {
    let nodes = TestApp::cluster_with(3, false, |c| {
        c.server.drain_delay = DELAY;
        c.server.drain_spread = SPREAD;
        c.server.shutdown_timeout = Duration::from_secs(5);
        set_limit(c, Action::Connect, "off");
        set_limit(c, Action::Message, "off");
    })
    .await;
    let mut nodes = nodes.into_iter();
    let (a, b, c) = (
        nodes.next().unwrap(),
        nodes.next().unwrap(),
        nodes.next().unwrap(),
    );
    let survivors = [b.url.clone(), c.url.clone()];

    // 1,000 clients on A; ten of them and a sender on B share a chat.
    let users: Vec<String> = (0..CLIENTS).map(|i| unique(&format!("d{i}"))).collect();
    let mut on_a = Vec::new();
    for chunk in users.chunks(100) {
        let batch = futures::future::join_all(chunk.iter().map(|u| a.connect(u))).await;
        on_a.extend(batch);
    }
    let sender_id = unique("sender");
    let mut sender = b.connect(&sender_id).await;
    let members: Vec<&str> = users[..10].iter().map(String::as_str).collect();
    let chat = ok(
        &mut sender,
        "chat:create",
        json!({"kind": "group", "members": members}),
    )
    .await["chat"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(a.get("/ready").await.0, 200);

    // Every client of A: wait for its transport to close, then reconnect
    // to a survivor (the balancer's job), and record when.
    let reconnects: Arc<Mutex<Vec<Instant>>> = Default::default();
    let server_disconnects = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut watchers = Vec::new();
    let mut talkers = Vec::new();
    for (i, client) in on_a.into_iter().enumerate() {
        if i < 10 {
            talkers.push(client);
            continue;
        }
        let (user, url) = (users[i].clone(), survivors[i % 2].clone());
        let (reconnects, server_disconnects) = (reconnects.clone(), server_disconnects.clone());
        watchers.push(tokio::spawn(async move {
            client.closed().await;
            if client.server_disconnected() {
                server_disconnects.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            let node = crate::common::app::TestNode::external(url);
            let _c = node.connect(&user).await;
            reconnects.lock().push(Instant::now());
            _c
        }));
    }

    // SIGTERM on A.
    let a_ready = format!("{}/ready", a.url);
    let a_url = a.url.clone();
    let started = Instant::now();
    let stop = tokio::spawn(a.shutdown());

    // While A still serves: its clients and the sender keep talking; every
    // acked message must survive.
    let mut acked: HashSet<String> = HashSet::new();
    let mut ready_503_until = None;
    let mut round = 0;
    while started.elapsed() < DELAY + SPREAD / 2 {
        round += 1;
        if round == 2 {
            // A new client is refused, and told when to come back.
            let late = crate::common::app::TestNode::external(a_url.clone());
            match late.connect_with(Default::default()).await {
                Err(crate::common::sio::ConnectError::Refused { message, data }) => {
                    assert_eq!(message, "SERVER_DRAINING");
                    assert_eq!(data["code"], "SERVER_DRAINING");
                    assert_eq!(data["retryAfterMs"], 1000, "{data}");
                }
                other => panic!("a draining node must refuse: {:?}", other.map(|_| ())),
            }
        }
        let r = reqwest::get(&a_ready).await.map(|r| r.status().as_u16());
        if let Ok(status) = r {
            assert_eq!(status, 503, "A must answer /ready 503 while draining");
            ready_503_until = Some(started.elapsed());
        }
        for t in talkers.iter_mut().take(3) {
            let ack = t
                .emit_with_ack(
                    "message:new",
                    json!({"chatId": chat, "content": format!("a{round}"), "clientId": unique("c")}),
                )
                .await;
            if let Ok(ack) = ack {
                if ack["ok"] == true {
                    acked.insert(ack["message"]["id"].as_str().unwrap().to_string());
                }
            }
        }
        let ack = ok(
            &mut sender,
            "message:new",
            json!({"chatId": chat, "content": format!("s{round}"), "clientId": unique("c")}),
        )
        .await;
        acked.insert(ack["message"]["id"].as_str().unwrap().to_string());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        acked.len() <= 100,
        "the history page below must hold them all"
    );
    let ready_503_for = ready_503_until.expect("A answered /ready while draining");
    assert!(
        ready_503_for >= DELAY - Duration::from_millis(300),
        "/ready was 503 for {ready_503_for:?}, less than the delay"
    );

    // The node exits before its deadline (delay + spread + timeout).
    let deadline = DELAY + SPREAD + Duration::from_secs(5) + Duration::from_secs(2);
    tokio::time::timeout(deadline, stop)
        .await
        .expect("A exited before its deadline")
        .unwrap();
    let took = started.elapsed();
    let mut clients = Vec::new();
    for w in watchers {
        clients.push(
            tokio::time::timeout(T, w)
                .await
                .expect("reconnected")
                .unwrap(),
        );
    }
    assert_eq!(
        server_disconnects.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "clients must see a transport close (they reconnect), not a server disconnect"
    );

    // Reconnects per second at the survivors, from the first one.
    let times = reconnects.lock().clone();
    let first = *times.iter().min().unwrap();
    let secs = (SPREAD.as_secs() + 3) as usize;
    let mut per_second = vec![0usize; secs];
    for t in &times {
        let i = (t.duration_since(first).as_secs() as usize).min(secs - 1);
        per_second[i] += 1;
    }
    let moved = times.len();
    let even = moved as f64 / SPREAD.as_secs_f64();
    let peak = *per_second.iter().max().unwrap();
    println!(
        "drain: {moved} clients moved; reconnects per second {per_second:?} \
         (even spread {even:.0}/s, peak {peak}/s); /ready 503 seen until {ready_503_for:?}; \
         node exited after {took:?}"
    );
    assert_eq!(moved, CLIENTS - 10);
    assert!(
        (peak as f64) <= even * 1.5,
        "reconnects bunched: peak {peak}/s against an even {even:.0}/s ({per_second:?})"
    );

    // No acked message is lost: the history on B holds every one.
    let history = ok(
        &mut sender,
        "chat:history",
        json!({"chatId": chat, "limit": 100}),
    )
    .await;
    let stored: HashSet<String> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m: &Value| m["id"].as_str().unwrap().to_string())
        .collect();
    let lost: Vec<_> = acked.difference(&stored).collect();
    assert!(lost.is_empty(), "acked but lost: {lost:?}");
    assert!(acked.len() >= 5, "{acked:?}");
    drop(clients);
}
