//! PROTOCOL §2 and §4 on one node: messages, acks and errors, receipts,
//! typing, history and sync.

use std::time::Duration;

use serde_json::json;

use crate::common::app::{unique, TestApp, TestNode};
use crate::common::sio::SioClient;
use crate::common::{code, ok, QUIET, T};

/// alice and bob in a new group chat: (alice, bob, chat id, alice's id, bob's id).
async fn pair(node: &TestNode) -> (SioClient, SioClient, String, String, String) {
    let (a, b) = (unique("a"), unique("b"));
    let mut alice = node.connect(&a).await;
    let mut bob = node.connect(&b).await;
    let chat = ok(
        &mut alice,
        "chat:create",
        json!({"kind": "group", "members": [b]}),
    )
    .await;
    bob.wait_for("chat:updated", T).await;
    (
        alice,
        bob,
        chat["chat"]["id"].as_str().unwrap().to_string(),
        a,
        b,
    )
}

#[tokio::test]
async fn a_message_is_stored_acked_and_delivered() {
    let node = TestApp::memory().start().await;
    let (mut alice, mut bob, chat, a, _) = pair(&node).await;
    let mut alice2 = node.connect(&a).await;
    let r = ok(
        &mut alice,
        "message:new",
        json!({"chatId": chat, "content": "hello", "senderId": "mallory", "seq": 99,
               "replyTo": "m_x", "forwardedFrom": {"chatId": "other"}, "encrypted": true}),
    )
    .await;
    let m = &r["message"];
    assert_eq!(m["seq"], 1);
    assert_eq!(m["senderId"], a.as_str(), "sender from the token only");
    assert_eq!(m["type"], "text");
    assert_eq!(m["chatId"], chat.as_str());
    assert_eq!(m["replyTo"], "m_x");
    assert_eq!(m["encrypted"], true);
    assert!(m["id"].as_str().unwrap().starts_with("m_"));
    assert!(m["createdAt"].as_str().unwrap().ends_with('Z'));
    let got = bob.wait_for("message:new", T).await;
    assert_eq!(&got["message"], m);
    // The sender's other device gets it; the sending socket does not.
    assert_eq!(&alice2.wait_for("message:new", T).await["message"], m);
    alice.expect_none("message:new", QUIET).await;
    let r = ok(
        &mut bob,
        "message:new",
        json!({"chatId": chat, "content": "hi", "type": "link"}),
    )
    .await;
    assert_eq!(r["message"]["seq"], 2);
    let media = json!({"chatId": chat, "type": "image", "content": "",
        "media": {"url": "https://cdn.example/p.png", "mime": "image/png", "size": 1234, "width": 10, "height": 20}});
    let r = ok(&mut bob, "message:new", media).await;
    assert_eq!(r["message"]["media"]["width"], 10);
}

#[tokio::test]
async fn client_id_makes_sending_idempotent() {
    let node = TestApp::memory().start().await;
    let (mut alice, mut bob, chat, _, _) = pair(&node).await;
    let msg = json!({"chatId": chat, "content": "once", "clientId": "c-1"});
    let first = ok(&mut alice, "message:new", msg.clone()).await;
    let again = ok(&mut alice, "message:new", msg).await;
    assert_eq!(first["message"], again["message"]);
    assert_eq!(
        bob.wait_for("message:new", T).await["message"]["id"],
        first["message"]["id"]
    );
    bob.expect_none("message:new", QUIET).await;
    // The same clientId from another user is another message.
    let r = ok(
        &mut bob,
        "message:new",
        json!({"chatId": chat, "content": "mine", "clientId": "c-1"}),
    )
    .await;
    assert_eq!(r["message"]["seq"], 2);
}

#[tokio::test]
async fn two_hundred_unacked_sends_keep_their_order() {
    let node = TestApp::memory()
        .with(crate::common::app::unlimited)
        .start()
        .await;
    let (alice, mut bob, chat, _, _) = pair(&node).await;
    let sends = (0..200).map(|i| {
        alice.emit_with_ack(
            "message:new",
            json!({"chatId": chat, "content": format!("{i}")}),
        )
    });
    let acks = futures::future::join_all(sends).await;
    for (i, ack) in acks.into_iter().enumerate() {
        let ack = ack.unwrap();
        assert_eq!(ack["ok"], true, "{ack}");
        assert_eq!(ack["message"]["content"], format!("{i}"));
        assert_eq!(ack["message"]["seq"], i as u64 + 1);
    }
    for i in 0..200u64 {
        let m = bob.wait_for("message:new", T).await;
        assert_eq!(m["message"]["seq"], i + 1);
        assert_eq!(m["message"]["content"], format!("{i}"));
    }
}

#[tokio::test]
async fn receipts_move_forward_only_and_are_broadcast() {
    let node = TestApp::memory().start().await;
    let (mut alice, mut bob, chat, _, b) = pair(&node).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let r = ok(
            &mut alice,
            "message:new",
            json!({"chatId": chat, "content": format!("{i}")}),
        )
        .await;
        ids.push(r["message"]["id"].as_str().unwrap().to_string());
    }
    ok(
        &mut bob,
        "message:delivered",
        json!({"chatId": chat, "messageId": ids[2]}),
    )
    .await;
    let d = alice.wait_for("message:delivered", T).await;
    assert_eq!(d["seq"], 3);
    assert_eq!(d["userId"], b.as_str());
    assert_eq!(d["messageId"], ids[2].as_str());
    ok(
        &mut bob,
        "message:read",
        json!({"chatId": chat, "messageId": ids[1]}),
    )
    .await;
    let r = alice.wait_for("message:read", T).await;
    assert_eq!(
        (r["seq"].as_u64(), r["chatId"].as_str()),
        (Some(2), Some(chat.as_str()))
    );
    assert!(r["at"].as_str().unwrap().ends_with('Z'));
    // Reading an older message does not move the cursor back (no broadcast).
    ok(
        &mut bob,
        "message:read",
        json!({"chatId": chat, "messageId": ids[0]}),
    )
    .await;
    alice.expect_none("message:read", QUIET).await;
    let list = ok(&mut bob, "chat:list", json!({})).await;
    assert_eq!(list["chats"][0]["readSeq"], 2);
    assert_eq!(list["chats"][0]["unread"], 1);
    let unknown = json!({"chatId": chat, "messageId": "m_nope"});
    assert_eq!(code(&mut bob, "message:read", unknown).await, "NOT_FOUND");
}

#[tokio::test]
async fn typing_reaches_others_and_stops_by_itself() {
    let node = TestApp::memory().start().await;
    let (mut alice, mut bob, chat, a, _) = pair(&node).await;
    alice.emit("message:typing", json!({"chatId": chat}));
    assert_eq!(
        bob.wait_for("message:typing", T).await,
        json!({"chatId": chat, "userId": a})
    );
    // No renewal: the server stops it (typing timeout is 800 ms in tests).
    let stop = bob.wait_for("message:stop-typing", T).await;
    assert_eq!(stop, json!({"chatId": chat, "userId": a}));
    alice.expect_none("message:typing", QUIET).await;
    // Explicit stop.
    alice.emit("message:typing", json!({"chatId": chat}));
    bob.wait_for("message:typing", T).await;
    alice.emit("message:stop-typing", json!({"chatId": chat}));
    bob.wait_for("message:stop-typing", T).await;
    // Disconnect while typing: stop.
    alice.emit("message:typing", json!({"chatId": chat}));
    bob.wait_for("message:typing", T).await;
    alice.disconnect().await;
    bob.wait_for("message:stop-typing", Duration::from_millis(600))
        .await;
}

#[tokio::test]
async fn history_pages_in_both_directions() {
    let node = TestApp::memory().start().await;
    let (mut alice, _bob, chat, _, _) = pair(&node).await;
    for i in 1..=7 {
        ok(
            &mut alice,
            "message:new",
            json!({"chatId": chat, "content": format!("{i}")}),
        )
        .await;
    }
    let seqs = crate::common::seqs;
    let r = ok(
        &mut alice,
        "chat:history",
        json!({"chatId": chat, "limit": 3}),
    )
    .await;
    assert_eq!(
        (seqs(&r), r["hasMore"].as_bool()),
        (vec![5, 6, 7], Some(true))
    );
    let r = ok(
        &mut alice,
        "chat:history",
        json!({"chatId": chat, "beforeSeq": 5, "limit": 3}),
    )
    .await;
    assert_eq!(
        (seqs(&r), r["hasMore"].as_bool()),
        (vec![2, 3, 4], Some(true))
    );
    let r = ok(
        &mut alice,
        "chat:history",
        json!({"chatId": chat, "beforeSeq": 2, "limit": 3}),
    )
    .await;
    assert_eq!((seqs(&r), r["hasMore"].as_bool()), (vec![1], Some(false)));
    let r = ok(
        &mut alice,
        "chat:history",
        json!({"chatId": chat, "afterSeq": 5}),
    )
    .await;
    assert_eq!(
        (seqs(&r), r["hasMore"].as_bool()),
        (vec![6, 7], Some(false))
    );
    let both = json!({"chatId": chat, "afterSeq": 1, "beforeSeq": 3});
    assert_eq!(
        code(&mut alice, "chat:history", both).await,
        "INVALID_PAYLOAD"
    );
    let huge = json!({"chatId": chat, "limit": 100000});
    assert_eq!(
        code(&mut alice, "chat:history", huge).await,
        "INVALID_PAYLOAD"
    );
}

/// An answer cut at `SB_SYNC_MAX_MESSAGES` is not complete: the client
/// asks again from the last `seq` until it is (both backends).
async fn sync_in_pages(node: &TestNode) {
    let (mut alice, bob, chat, _, b) = pair(node).await;
    drop(bob);
    for i in 1..=7 {
        let m = json!({"chatId": chat, "content": format!("{i}")});
        ok(&mut alice, "message:new", m).await;
    }
    let mut bob = node.connect(&b).await;
    let (mut after, mut pages, mut got) = (0, 0, Vec::<u64>::new());
    loop {
        let q = json!({"chats": [{"chatId": chat, "afterSeq": after}]});
        let r = ok(&mut bob, "chat:sync", q).await;
        let entry = &r["chats"][0];
        pages += 1;
        let seqs = crate::common::seqs(entry);
        assert_eq!(entry["trimmed"], false, "{entry}");
        assert_eq!(entry["hasMore"], entry["complete"] == false, "{entry}");
        got.extend(&seqs);
        if entry["complete"] == true {
            break;
        }
        assert_eq!(seqs.len(), 3, "a cut answer is full: {entry}");
        after = *seqs.last().unwrap();
    }
    assert_eq!(got, (1..=7).collect::<Vec<u64>>());
    assert_eq!(pages, 3);
}

#[tokio::test]
async fn sync_cut_at_the_limit_is_not_complete() {
    let node = TestApp::memory()
        .with(|c| c.messages.sync_max_messages = 3)
        .start()
        .await;
    sync_in_pages(&node).await;
    let nodes = TestApp::cluster_with(2, false, |c| c.messages.sync_max_messages = 3).await;
    sync_in_pages(&nodes[1]).await;
}

#[tokio::test]
async fn sync_returns_what_was_missed_and_says_when_trimmed() {
    let node = TestApp::memory()
        .with(|c| c.messages.history_max_messages = 5)
        .start()
        .await;
    let (mut alice, bob, chat, _, b) = pair(&node).await;
    drop(bob);
    for i in 1..=3 {
        ok(
            &mut alice,
            "message:new",
            json!({"chatId": chat, "content": format!("{i}")}),
        )
        .await;
    }
    let mut bob = node.connect(&b).await;
    let r = ok(
        &mut bob,
        "chat:sync",
        json!({"chats": [{"chatId": chat, "afterSeq": 0}]}),
    )
    .await;
    let entry = &r["chats"][0];
    assert_eq!(entry["chatId"], chat.as_str());
    assert_eq!(entry["complete"], true);
    assert_eq!(entry["trimmed"], false);
    assert_eq!(entry["messages"].as_array().unwrap().len(), 3);
    for i in 4..=9 {
        ok(
            &mut alice,
            "message:new",
            json!({"chatId": chat, "content": format!("{i}")}),
        )
        .await;
    }
    let r = ok(
        &mut bob,
        "chat:sync",
        json!({"chats": [{"chatId": chat, "afterSeq": 3}]}),
    )
    .await;
    let entry = &r["chats"][0];
    assert_eq!(entry["complete"], false, "seq 4 was trimmed: {entry}");
    assert_eq!(entry["trimmed"], true);
    assert_eq!(entry["hasMore"], false);
    let first = entry["messages"][0]["seq"].as_u64().unwrap();
    assert_eq!(first, 5);
    assert_eq!(entry["messages"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn non_members_get_nothing() {
    let node = TestApp::memory().start().await;
    let (mut alice, _bob, chat, _, _) = pair(&node).await;
    let mut mallory = node.connect(&unique("m")).await;
    let c = json!({"chatId": chat});
    assert_eq!(
        code(&mut mallory, "chat:history", c.clone()).await,
        "FORBIDDEN"
    );
    assert_eq!(
        code(&mut mallory, "chat:get-active-members", c.clone()).await,
        "FORBIDDEN"
    );
    let send = json!({"chatId": chat, "content": "x"});
    assert_eq!(code(&mut mallory, "message:new", send).await, "FORBIDDEN");
    assert_eq!(code(&mut mallory, "message:typing", c).await, "FORBIDDEN");
    let r = ok(
        &mut mallory,
        "chat:sync",
        json!({"chats": [{"chatId": chat, "afterSeq": 0}]}),
    )
    .await;
    assert_eq!(r["chats"][0]["error"]["code"], "FORBIDDEN");
    assert_eq!(r["chats"][0]["messages"], json!([]));
    ok(
        &mut alice,
        "message:new",
        json!({"chatId": chat, "content": "secret"}),
    )
    .await;
    mallory.expect_none("message:new", QUIET).await;
    let hist = ok(&mut alice, "chat:history", json!({"chatId": chat})).await;
    assert_eq!(
        hist["messages"].as_array().unwrap().len(),
        1,
        "mallory stored nothing"
    );
}

#[tokio::test]
async fn malformed_payloads_get_an_answer_and_the_connection_lives() {
    let node = TestApp::memory()
        .with(|c| c.messages.max_content_bytes = 1000)
        .start()
        .await;
    let (mut alice, _bob, chat, _, _) = pair(&node).await;
    for payload in [
        json!({"chatId": chat}),
        json!({"chatId": chat, "content": 5}),
        json!({"content": "no chat"}),
        json!({"chatId": [chat], "content": "x"}),
        json!({"chatId": chat, "content": "x", "type": "hologram"}),
        json!({"chatId": chat, "content": "x", "media": {"url": "http://x/y", "mime": "a/b"}}),
        json!(null),
        json!(42),
        json!("text"),
        json!({"chatId": chat, "content": "x", "clientId": {"a": 1}}),
    ] {
        let got = code(&mut alice, "message:new", payload.clone()).await;
        assert_eq!(got, "INVALID_PAYLOAD", "{payload}");
    }
    let big = json!({"chatId": chat, "content": "x".repeat(1001)});
    assert_eq!(
        code(&mut alice, "message:new", big).await,
        "PAYLOAD_TOO_LARGE"
    );
    // Unknown events: with an ack, INVALID_PAYLOAD; without, an `error` event.
    assert_eq!(
        code(&mut alice, "chat:explode", json!({})).await,
        "INVALID_PAYLOAD"
    );
    alice.emit("chat:explode", json!({}));
    let e = alice.wait_for("error", T).await;
    assert_eq!(e["event"], "chat:explode");
    assert_eq!(e["code"], "INVALID_PAYLOAD");
    alice.emit("message:new", json!({"chatId": chat}));
    let e = alice.wait_for("error", T).await;
    assert_eq!(
        (e["event"].as_str(), e["code"].as_str()),
        (Some("message:new"), Some("INVALID_PAYLOAD"))
    );
    // Still connected and served, and nothing was stored.
    let r = ok(
        &mut alice,
        "message:new",
        json!({"chatId": chat, "content": "still here"}),
    )
    .await;
    assert_eq!(r["message"]["seq"], 1);
}

#[tokio::test]
async fn broken_frames_close_at_most_their_connection() {
    let node = TestApp::memory().start().await;
    let (mut alice, mut bob, chat, _, _) = pair(&node).await;
    for raw in [
        "42[",
        "42{\"a\":1}",
        "42[1,2]",
        "4",
        "49",
        "42[\"message:new\",{\"chatId\":\"x\"",
        "4/nope,[\"x\"]",
        "9",
    ] {
        let mallory = node.connect(&unique("m")).await;
        mallory.emit_raw(raw);
        // Whatever happens to mallory's connection, the node serves others.
        let r = ok(
            &mut alice,
            "message:new",
            json!({"chatId": chat, "content": raw}),
        )
        .await;
        assert!(r["message"]["seq"].as_u64().is_some());
        assert_eq!(
            bob.wait_for("message:new", T).await["message"]["content"],
            raw
        );
    }
}
