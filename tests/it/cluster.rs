//! Three nodes sharing one Redis: delivery, receipts, typing, membership
//! changes and sync across nodes.

use serde_json::json;

use crate::common::app::{unique, TestApp};
use crate::common::{group, ok, QUIET, T};

#[tokio::test]
async fn members_on_three_nodes_each_receive_every_message_once() {
    let nodes = TestApp::cluster(3).await;
    let users: Vec<String> = (0..6).map(|i| unique(&format!("u{i}"))).collect();
    let mut clients = Vec::new();
    for (i, u) in users.iter().enumerate() {
        clients.push(nodes[i % 3].connect(u).await);
    }
    let others: Vec<&String> = users[1..].iter().collect();
    let chat = ok(
        &mut clients[0],
        "chat:create",
        json!({"kind": "group", "members": others}),
    )
    .await;
    let id = chat["chat"]["id"].as_str().unwrap().to_string();
    for c in clients.iter_mut().skip(1) {
        c.wait_for("chat:updated", T).await;
    }
    // Every member sends two messages from its node.
    let mut sent = Vec::new();
    for (i, client) in clients.iter_mut().enumerate() {
        for k in 0..2 {
            let r = ok(
                client,
                "message:new",
                json!({"chatId": id, "content": format!("{i}-{k}")}),
            )
            .await;
            sent.push((i, r["message"]["id"].as_str().unwrap().to_string()));
        }
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let expected: Vec<&String> = sent
            .iter()
            .filter(|(s, _)| *s != i)
            .map(|(_, id)| id)
            .collect();
        let mut got = Vec::new();
        for _ in 0..expected.len() {
            let m = c.wait_for("message:new", T).await;
            got.push(m["message"]["id"].as_str().unwrap().to_string());
        }
        c.expect_none("message:new", QUIET).await;
        let mut want: Vec<String> = expected.into_iter().cloned().collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "client {i} received each message exactly once");
    }
}

#[tokio::test]
async fn receipts_and_typing_cross_nodes() {
    let nodes = TestApp::cluster(2).await;
    let (a, b) = (unique("a"), unique("b"));
    let mut alice = nodes[0].connect(&a).await;
    let mut bob = nodes[1].connect(&b).await;
    let id = group(&mut alice, &[&b], &mut [&mut bob]).await;
    let m = ok(
        &mut alice,
        "message:new",
        json!({"chatId": id, "content": "x"}),
    )
    .await;
    let mid = m["message"]["id"].as_str().unwrap().to_string();
    bob.wait_for("message:new", T).await;
    ok(
        &mut bob,
        "message:read",
        json!({"chatId": id, "messageId": mid}),
    )
    .await;
    let r = alice.wait_for("message:read", T).await;
    assert_eq!(
        (r["userId"].as_str(), r["seq"].as_u64()),
        (Some(b.as_str()), Some(1))
    );
    bob.emit("message:typing", json!({"chatId": id}));
    assert_eq!(
        alice.wait_for("message:typing", T).await["userId"],
        b.as_str()
    );
    assert_eq!(
        alice.wait_for("message:stop-typing", T).await["userId"],
        b.as_str()
    );
}

#[tokio::test]
async fn a_member_added_on_a_receives_on_c_without_joining() {
    let nodes = TestApp::cluster(3).await;
    let (a, b, c) = (unique("a"), unique("b"), unique("c"));
    let mut alice = nodes[0].connect(&a).await;
    let mut bob = nodes[1].connect(&b).await;
    let mut carol = nodes[2].connect(&c).await;
    let id = group(&mut alice, &[&b], &mut [&mut bob]).await;
    ok(
        &mut alice,
        "chat:add-members",
        json!({"chatId": id, "userIds": [c]}),
    )
    .await;
    carol.wait_for("chat:updated", T).await;
    ok(
        &mut bob,
        "message:new",
        json!({"chatId": id, "content": "hi carol"}),
    )
    .await;
    assert_eq!(
        carol.wait_for("message:new", T).await["message"]["content"],
        "hi carol"
    );
    // Removal on A takes carol's socket on C out of the room.
    ok(
        &mut alice,
        "chat:remove-members",
        json!({"chatId": id, "userIds": [c]}),
    )
    .await;
    carol.wait_for("chat:member-left", T).await;
    ok(
        &mut bob,
        "message:new",
        json!({"chatId": id, "content": "bye"}),
    )
    .await;
    alice.wait_for("message:new", T).await;
    carol.expect_none("message:new", QUIET).await;
}

#[tokio::test]
async fn an_offline_member_syncs_on_another_node() {
    let nodes = TestApp::cluster(3).await;
    let (a, b) = (unique("a"), unique("b"));
    let mut alice = nodes[0].connect(&a).await;
    let mut bob = nodes[1].connect(&b).await;
    let id = group(&mut alice, &[&b], &mut [&mut bob]).await;
    ok(
        &mut alice,
        "message:new",
        json!({"chatId": id, "content": "0"}),
    )
    .await;
    let seen = bob.wait_for("message:new", T).await["message"]["seq"]
        .as_u64()
        .unwrap();
    bob.disconnect().await;
    for i in 1..=20 {
        ok(
            &mut alice,
            "message:new",
            json!({"chatId": id, "content": format!("{i}")}),
        )
        .await;
    }
    let mut bob = nodes[2].connect(&b).await;
    let r = ok(
        &mut bob,
        "chat:sync",
        json!({"chats": [{"chatId": id, "afterSeq": seen}]}),
    )
    .await;
    let entry = &r["chats"][0];
    assert_eq!(entry["complete"], true);
    assert_eq!(crate::common::seqs(entry), (2..=21).collect::<Vec<u64>>());
    // The reconnected socket was joined to the chat on connect.
    ok(
        &mut alice,
        "message:new",
        json!({"chatId": id, "content": "live"}),
    )
    .await;
    assert_eq!(
        bob.wait_for("message:new", T).await["message"]["content"],
        "live"
    );
}

#[tokio::test]
async fn active_members_and_devices_are_cluster_wide() {
    let nodes = TestApp::cluster(2).await;
    let (a, b) = (unique("a"), unique("b"));
    let mut alice = nodes[0].connect(&a).await;
    let mut bob_phone = nodes[1].connect_device(&b, "phone").await;
    let mut bob_laptop = nodes[0].connect_device(&b, "laptop").await;
    let id = group(&mut alice, &[&b], &mut [&mut bob_phone]).await;
    bob_laptop.wait_for("chat:updated", T).await;
    let r = ok(&mut alice, "chat:get-active-members", json!({"chatId": id})).await;
    assert_eq!(r["members"].as_array().unwrap().len(), 2, "{r}");
    ok(
        &mut alice,
        "message:new",
        json!({"chatId": id, "content": "both"}),
    )
    .await;
    bob_phone.wait_for("message:new", T).await;
    bob_laptop.wait_for("message:new", T).await;
    bob_phone.disconnect().await;
    bob_laptop.disconnect().await;
    let mut online = 2;
    for _ in 0..50 {
        let r = ok(&mut alice, "chat:get-active-members", json!({"chatId": id})).await;
        online = r["members"].as_array().unwrap().len();
        if online == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(online, 1, "bob is gone once both devices left");
}

/// The same cluster behaviour on a real Redis Cluster (3 masters, 3
/// replicas): keys spread over the masters, sharded pub/sub between nodes.
#[tokio::test]
async fn nodes_on_a_redis_cluster_deliver_across_nodes() {
    let redis = switchboard::testing::RedisCluster::start();
    let prefix = format!("{}:", unique("rc"));
    let a = TestApp::redis(&redis.url(), &prefix).start().await;
    let b = TestApp::redis(&redis.url(), &prefix).start().await;
    let (alice, bob) = (unique("alice"), unique("bob"));
    let mut ca = a.connect(&alice).await;
    let mut cb = b.connect(&bob).await;
    let chat = group(&mut ca, &[&bob], &mut [&mut cb]).await;
    let sent = ok(
        &mut ca,
        "message:new",
        json!({"chatId": chat, "content": "over the cluster", "clientId": unique("c")}),
    )
    .await;
    let got = cb.wait_for("message:new", T).await;
    assert_eq!(got["message"]["id"], sent["message"]["id"]);
    // Typing crosses nodes too, and presence and the registry answer from
    // keys on different masters.
    ok(&mut cb, "message:typing", json!({"chatId": chat})).await;
    ca.wait_for("message:typing", T).await;
    let p = ok(&mut ca, "presence:get", json!({"userIds": [bob]})).await;
    assert_eq!(p["presences"][0]["status"], "online", "{p}");
    let (_, s) = b
        .admin("GET", &format!("/admin/sessions?userId={alice}"), None)
        .await;
    assert_eq!(s["sessions"].as_array().unwrap().len(), 1, "{s}");
    let h = ok(&mut cb, "chat:history", json!({"chatId": chat})).await;
    assert_eq!(h["messages"].as_array().unwrap().len(), 1);
    cb.expect_none("message:new", QUIET).await;
}
