//! Presence (PROTOCOL §5): devices on several nodes, the grace period, a
//! node killed without goodbye, visibility rules.

use std::time::Duration;

use serde_json::json;

use crate::common::app::{unique, TestApp, TestNode};
use crate::common::{code, group, ok, QUIET, T};

/// Longer than the test nodes' grace period (1 s) plus a sweep (0.2 s).
const PAST_GRACE: Duration = Duration::from_millis(1700);

/// `watcher` on `nodes[w]`, alice's two devices on `nodes[a1]` and
/// `nodes[a2]`: alice is online until her last device leaves, a reconnect
/// within the grace period announces nothing, and offline comes once.
async fn last_device_decides(nodes: &[TestNode], w: usize, a1: usize, a2: usize) {
    let (alice, watcher) = (unique("alice"), unique("watcher"));
    let mut wc = nodes[w].connect(&watcher).await;
    group(&mut wc, &[&alice], &mut []).await;
    let r = ok(&mut wc, "presence:subscribe", json!({"userIds": [alice]})).await;
    assert_eq!(r["presences"][0]["status"], "offline");
    assert_eq!(r["presences"][0]["lastSeen"], serde_json::Value::Null);

    let mut d1 = nodes[a1].connect_device(&alice, "phone").await;
    let up = wc.wait_for("presence:update", T).await;
    assert_eq!(up["presence"]["userId"], alice.as_str());
    assert_eq!(up["presence"]["status"], "online");
    assert!(up["presence"]["lastSeen"].is_string());
    let mut d2 = nodes[a2].connect_device(&alice, "laptop").await;
    wc.expect_none("presence:update", QUIET).await;

    d1.disconnect().await;
    wc.expect_none("presence:update", PAST_GRACE).await;
    // The last device drops and comes back within the grace period.
    d2.disconnect().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut d3 = nodes[a1].connect_device(&alice, "laptop").await;
    wc.expect_none("presence:update", PAST_GRACE).await;
    let r = ok(&mut wc, "presence:get", json!({"userIds": [alice]})).await;
    assert_eq!(r["presences"][0]["status"], "online");

    d3.disconnect().await;
    let down = wc.wait_for("presence:update", T).await;
    assert_eq!(down["presence"]["status"], "offline");
    assert!(down["presence"]["lastSeen"].is_string());
    wc.expect_none("presence:update", PAST_GRACE).await;
    let r = ok(&mut wc, "presence:get", json!({"userIds": [alice]})).await;
    assert_eq!(r["presences"][0], down["presence"]);
}

#[tokio::test]
async fn two_devices_on_two_nodes_no_flap_and_offline_once() {
    let nodes = TestApp::cluster(3).await;
    last_device_decides(&nodes, 2, 0, 1).await;
}

#[tokio::test]
async fn two_devices_on_the_memory_backend() {
    let node = TestApp::memory().start().await;
    last_device_decides(std::slice::from_ref(&node), 0, 0, 0).await;
}

#[tokio::test]
async fn status_custom_status_and_invisible_across_nodes() {
    let nodes = TestApp::cluster(2).await;
    let (alice, bob) = (unique("alice"), unique("bob"));
    let mut a = nodes[0].connect(&alice).await;
    let mut b = nodes[1].connect(&bob).await;
    group(&mut a, &[&bob], &mut [&mut b]).await;
    ok(&mut b, "presence:subscribe", json!({"userIds": [alice]})).await;

    let r = ok(
        &mut a,
        "presence:update",
        json!({"status": "away", "customStatus": "at lunch"}),
    )
    .await;
    assert_eq!(r["presence"]["status"], "away");
    let up = b.wait_for("presence:update", T).await;
    assert_eq!(up["presence"]["status"], "away");
    assert_eq!(up["presence"]["customStatus"], "at lunch");
    // The same again changes nothing and announces nothing.
    ok(&mut a, "presence:update", json!({"status": "away"})).await;
    b.expect_none("presence:update", QUIET).await;

    ok(&mut a, "presence:update", json!({"status": "invisible"})).await;
    let up = b.wait_for("presence:update", T).await;
    assert_eq!(up["presence"]["status"], "offline");
    assert!(up["presence"].get("customStatus").is_none(), "{up}");
    let r = ok(&mut b, "presence:get", json!({"userIds": [alice]})).await;
    assert_eq!(r["presences"][0]["status"], "offline");
    // An invisible user's new device announces nothing.
    let _second = nodes[1].connect(&alice).await;
    b.expect_none("presence:update", QUIET).await;

    ok(
        &mut a,
        "presence:update",
        json!({"status": "busy", "customStatus": null}),
    )
    .await;
    let up = b.wait_for("presence:update", T).await;
    assert_eq!(up["presence"]["status"], "busy");
    assert!(up["presence"].get("customStatus").is_none(), "{up}");

    for bad in [
        json!({"status": "sleeping"}),
        json!({}),
        json!({"status": "away", "customStatus": "x".repeat(300)}),
        json!({"status": "away", "customStatus": "a\u{0}b"}),
        json!({"status": "away", "extra": 1}),
    ] {
        assert_eq!(
            code(&mut a, "presence:update", bad).await,
            "INVALID_PAYLOAD"
        );
    }
    b.expect_none("presence:update", QUIET).await;
}

#[tokio::test]
async fn only_users_sharing_a_chat_may_watch_unless_open() {
    let nodes = TestApp::cluster(2).await;
    let (alice, stranger, friend) = (unique("alice"), unique("stranger"), unique("friend"));
    let mut a = nodes[0].connect(&alice).await;
    let mut s = nodes[1].connect(&stranger).await;
    let mut f = nodes[1].connect(&friend).await;
    group(&mut a, &[&friend], &mut [&mut f]).await;
    let r = ok(&mut f, "presence:subscribe", json!({"userIds": [alice]})).await;
    assert_eq!(r["presences"][0]["status"], "online");
    assert_eq!(r["failed"], json!([]));
    for event in ["presence:subscribe", "presence:get"] {
        let r = ok(&mut s, event, json!({"userIds": [alice, alice]})).await;
        assert_eq!(r["presences"], json!([]), "{event}");
        assert_eq!(
            r["failed"],
            json!([{"userId": alice, "code": "FORBIDDEN"}]),
            "{event}"
        );
        // One's own presence is always visible.
        let r = ok(&mut s, event, json!({"userIds": [stranger]})).await;
        assert_eq!(r["presences"][0]["status"], "online", "{event}");
    }
    ok(&mut a, "presence:update", json!({"status": "busy"})).await;
    s.expect_none("presence:update", QUIET).await;
    let up = f.wait_for("presence:update", T).await;
    assert_eq!(up["presence"]["status"], "busy");
    let too_many: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
    assert_eq!(
        code(&mut s, "presence:subscribe", json!({"userIds": too_many})).await,
        "PAYLOAD_TOO_LARGE"
    );
    assert_eq!(
        code(&mut s, "presence:get", json!({"userIds": "x"})).await,
        "INVALID_PAYLOAD"
    );

    // Unsubscribing stops the updates.
    ok(&mut f, "presence:unsubscribe", json!({"userIds": [alice]})).await;
    ok(&mut a, "presence:update", json!({"status": "online"})).await;
    f.expect_none("presence:update", QUIET).await;

    let open = TestApp::memory()
        .with(|c| c.presence.open = true)
        .start()
        .await;
    let mut x = open.connect(&unique("x")).await;
    let y = unique("y");
    let _y = open.connect(&y).await;
    let r = ok(&mut x, "presence:subscribe", json!({"userIds": [y]})).await;
    assert_eq!(r["presences"][0]["status"], "online");
    assert_eq!(r["failed"], json!([]));
}

#[tokio::test]
async fn subscriptions_per_connection_are_bounded() {
    let node = TestApp::memory()
        .with(|c| {
            c.presence.open = true;
            c.presence.max_subscriptions = 3;
        })
        .start()
        .await;
    let mut x = node.connect(&unique("x")).await;
    ok(&mut x, "presence:subscribe", json!({"userIds": ["a", "b"]})).await;
    ok(&mut x, "presence:subscribe", json!({"userIds": ["a", "c"]})).await;
    assert_eq!(
        code(&mut x, "presence:subscribe", json!({"userIds": ["d"]})).await,
        "CONFLICT"
    );
    ok(&mut x, "presence:unsubscribe", json!({"userIds": ["a"]})).await;
    ok(&mut x, "presence:subscribe", json!({"userIds": ["d"]})).await;
}

#[tokio::test]
async fn a_killed_nodes_users_go_offline_within_the_bound_exactly_once() {
    let mut nodes = TestApp::cluster_isolated(3).await;
    let (alice, w0, w1) = (unique("alice"), unique("w0"), unique("w1"));
    let mut c0 = nodes[0].connect(&w0).await;
    let mut c1 = nodes[1].connect(&w1).await;
    group(&mut c0, &[&alice, &w1], &mut [&mut c1]).await;
    ok(&mut c0, "presence:subscribe", json!({"userIds": [alice]})).await;
    ok(&mut c1, "presence:subscribe", json!({"userIds": [alice]})).await;
    let a = nodes[2].connect(&alice).await;
    c0.wait_for("presence:update", T).await;
    c1.wait_for("presence:update", T).await;

    let started = std::time::Instant::now();
    nodes.pop().unwrap().kill();
    a.closed().await;
    // Bound: node TTL (3 s) + heartbeat (1 s) + sweep (0.2 s) in tests.
    let bound = Duration::from_secs(6);
    for c in [&mut c0, &mut c1] {
        let down = c.wait_for("presence:update", bound + T).await;
        assert_eq!(down["presence"]["userId"], alice.as_str());
        assert_eq!(down["presence"]["status"], "offline");
    }
    let took = started.elapsed();
    eprintln!("offline announced {took:?} after the kill");
    assert!(took < bound + Duration::from_secs(2), "took {took:?}");
    // Exactly once, although two survivors sweep.
    c0.expect_none("presence:update", PAST_GRACE).await;
    c1.expect_none("presence:update", Duration::from_millis(100))
        .await;
    let r = ok(&mut c0, "presence:get", json!({"userIds": [alice]})).await;
    assert_eq!(r["presences"][0]["status"], "offline");
    let r = ok(&mut c0, "chat:list", json!({})).await;
    assert!(r["chats"].is_array());
}

/// `chat:get-active-members` lists connected members with the status
/// others see (`away`, `busy`), and leaves invisible members out: the list
/// must not reveal what `presence:get` hides. `nodes[0]` asks; the others
/// are spread over the nodes.
async fn active_members_show_statuses(nodes: &[TestNode]) {
    let on = |i: usize| &nodes[i % nodes.len()];
    let (a, b, c, d) = (unique("a"), unique("b"), unique("c"), unique("d"));
    let mut alice = on(0).connect(&a).await;
    let mut bob = on(1).connect(&b).await;
    let mut carol = on(2).connect(&c).await;
    let mut dave = on(1).connect(&d).await;
    let id = group(
        &mut alice,
        &[&b, &c, &d],
        &mut [&mut bob, &mut carol, &mut dave],
    )
    .await;
    ok(&mut bob, "presence:update", json!({"status": "away"})).await;
    ok(&mut carol, "presence:update", json!({"status": "busy"})).await;
    ok(&mut dave, "presence:update", json!({"status": "invisible"})).await;
    let r = ok(&mut alice, "chat:get-active-members", json!({"chatId": id})).await;
    let mut got: Vec<(String, String)> = r["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let s = |k: &str| m[k].as_str().unwrap().to_string();
            (s("userId"), s("status"))
        })
        .collect();
    got.sort();
    let mut want = vec![
        (a.clone(), "online".to_string()),
        (b.clone(), "away".to_string()),
        (c.clone(), "busy".to_string()),
    ];
    want.sort();
    assert_eq!(got, want, "dave is invisible: {r}");
    // Invisible to the others, but the same rule for dave asking.
    let r = ok(&mut dave, "chat:get-active-members", json!({"chatId": id})).await;
    assert_eq!(r["members"].as_array().unwrap().len(), 3, "{r}");
}

#[tokio::test]
async fn active_members_show_statuses_on_the_memory_backend() {
    let node = TestApp::memory().start().await;
    active_members_show_statuses(std::slice::from_ref(&node)).await;
}

#[tokio::test]
async fn active_members_show_statuses_across_nodes() {
    let nodes = TestApp::cluster(3).await;
    active_members_show_statuses(&nodes).await;
}
