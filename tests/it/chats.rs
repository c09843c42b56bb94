//! PROTOCOL §3 on one node: every chat event, success and error paths.

use serde_json::json;

use crate::common::app::{unique, TestApp};
use crate::common::{code, ok, QUIET, T};

#[tokio::test]
async fn create_add_remove_and_the_events_members_see() {
    let node = TestApp::memory().start().await;
    let (a, b, c) = (unique("a"), unique("b"), unique("c"));
    let mut alice = node.connect(&a).await;
    let mut bob = node.connect(&b).await;
    let mut carol = node.connect(&c).await;

    let r = ok(
        &mut alice,
        "chat:create",
        json!({"kind": "group", "members": [b], "title": "Team"}),
    )
    .await;
    let chat = &r["chat"];
    let id = chat["id"].as_str().unwrap().to_string();
    assert_eq!(chat["kind"], "group");
    assert_eq!(chat["title"], "Team");
    assert_eq!(chat["members"], json!([a, b]));
    assert_eq!(chat["owners"], json!([a]));
    assert_eq!(chat["bots"], json!([]));
    assert!(chat["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        bob.wait_for("chat:updated", T).await["chat"]["id"],
        id.as_str()
    );

    // Same id again: CONFLICT.
    let dup = json!({"kind": "group", "members": [], "chatId": id});
    assert_eq!(code(&mut alice, "chat:create", dup).await, "CONFLICT");

    // Only owners add members.
    let add = json!({"chatId": id, "userIds": [c]});
    assert_eq!(
        code(&mut bob, "chat:add-members", add.clone()).await,
        "FORBIDDEN"
    );
    carol.expect_none("chat:updated", QUIET).await;
    let r = ok(&mut alice, "chat:add-members", add).await;
    assert_eq!(r["chat"]["members"], json!([a, b, c]));
    // Carol's live socket is told and joined at once.
    assert_eq!(
        carol.wait_for("chat:updated", T).await["chat"]["id"],
        id.as_str()
    );
    let joined = bob.wait_for("chat:member-joined", T).await;
    assert_eq!(joined, json!({"chatId": id, "userId": c}));
    ok(
        &mut alice,
        "message:new",
        json!({"chatId": id, "content": "welcome"}),
    )
    .await;
    assert_eq!(
        carol.wait_for("message:new", T).await["message"]["content"],
        "welcome"
    );

    // Bob may remove himself but not carol.
    let rm_c = json!({"chatId": id, "userIds": [c]});
    assert_eq!(
        code(&mut bob, "chat:remove-members", rm_c).await,
        "FORBIDDEN"
    );
    let r = ok(
        &mut bob,
        "chat:remove-members",
        json!({"chatId": id, "userIds": [b]}),
    )
    .await;
    assert_eq!(r["chat"]["members"], json!([a, c]));
    assert_eq!(
        alice.wait_for("chat:member-left", T).await,
        json!({"chatId": id, "userId": b})
    );
    // Bob no longer receives the chat's messages, nor may he send.
    bob.drain_events();
    ok(
        &mut alice,
        "message:new",
        json!({"chatId": id, "content": "after"}),
    )
    .await;
    carol.wait_for("message:new", T).await;
    bob.expect_none("message:new", QUIET).await;
    let send = json!({"chatId": id, "content": "let me in"});
    assert_eq!(code(&mut bob, "message:new", send).await, "FORBIDDEN");
}

#[tokio::test]
async fn direct_chats_are_unique_per_pair() {
    let node = TestApp::memory().start().await;
    let (a, b) = (unique("a"), unique("b"));
    let mut alice = node.connect(&a).await;
    let mut bob = node.connect(&b).await;
    let one = ok(
        &mut alice,
        "chat:create",
        json!({"kind": "direct", "members": [b]}),
    )
    .await;
    let two = ok(
        &mut bob,
        "chat:create",
        json!({"kind": "direct", "members": [a]}),
    )
    .await;
    assert_eq!(one["chat"]["id"], two["chat"]["id"]);
    assert_eq!(one["chat"]["owners"], json!([a, b]));
    let three = json!({"kind": "direct", "members": [b, unique("c")]});
    assert_eq!(
        code(&mut alice, "chat:create", three).await,
        "INVALID_PAYLOAD"
    );
    let add = json!({"chatId": one["chat"]["id"], "userIds": [unique("d")]});
    assert_eq!(
        code(&mut alice, "chat:add-members", add).await,
        "INVALID_PAYLOAD"
    );
}

#[tokio::test]
async fn join_leave_and_join_multiple() {
    let node = TestApp::memory().start().await;
    let (a, b, m) = (unique("a"), unique("b"), unique("mallory"));
    let mut alice = node.connect(&a).await;
    let mut bob = node.connect(&b).await;
    let mut mallory = node.connect(&m).await;
    let chat = ok(
        &mut alice,
        "chat:create",
        json!({"kind": "group", "members": [b]}),
    )
    .await;
    let id = chat["chat"]["id"].as_str().unwrap().to_string();
    bob.wait_for("chat:updated", T).await;

    // Leave stops live events; membership stays; join restarts them.
    ok(&mut bob, "chat:leave", json!({"chatId": id})).await;
    ok(
        &mut alice,
        "message:new",
        json!({"chatId": id, "content": "1"}),
    )
    .await;
    bob.expect_none("message:new", QUIET).await;
    let r = ok(&mut bob, "chat:join", json!({"chatId": id})).await;
    assert_eq!(r["chat"]["id"], id.as_str());
    ok(
        &mut alice,
        "message:new",
        json!({"chatId": id, "content": "2"}),
    )
    .await;
    assert_eq!(
        bob.wait_for("message:new", T).await["message"]["content"],
        "2"
    );

    // Non-members and missing chats.
    assert_eq!(
        code(&mut mallory, "chat:join", json!({"chatId": id})).await,
        "FORBIDDEN"
    );
    let missing = unique("missing");
    assert_eq!(
        code(&mut mallory, "chat:join", json!({"chatId": missing})).await,
        "NOT_FOUND"
    );
    let r = ok(
        &mut bob,
        "chat:join-multiple",
        json!({"chatIds": [id, missing]}),
    )
    .await;
    assert_eq!(r["joined"], json!([id]));
    assert_eq!(
        r["failed"],
        json!([{"chatId": missing, "code": "NOT_FOUND"}])
    );
    let r = ok(&mut mallory, "chat:join-multiple", json!({"chatIds": [id]})).await;
    assert_eq!(r["failed"], json!([{"chatId": id, "code": "FORBIDDEN"}]));
    ok(
        &mut alice,
        "message:new",
        json!({"chatId": id, "content": "3"}),
    )
    .await;
    mallory.expect_none("message:new", QUIET).await;
}

#[tokio::test]
async fn active_members_and_list() {
    let node = TestApp::memory().start().await;
    let (a, b, c, m) = (unique("a"), unique("b"), unique("c"), unique("m"));
    let mut alice = node.connect(&a).await;
    let mut bob = node.connect(&b).await;
    let mut mallory = node.connect(&m).await;
    let chat = ok(
        &mut alice,
        "chat:create",
        json!({"kind": "group", "members": [b, c]}),
    )
    .await;
    let id = chat["chat"]["id"].as_str().unwrap().to_string();
    let r = ok(&mut alice, "chat:get-active-members", json!({"chatId": id})).await;
    let mut online: Vec<String> = r["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["status"], "online");
            m["userId"].as_str().unwrap().to_string()
        })
        .collect();
    online.sort();
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(online, expected, "carol is offline");
    let q = json!({"chatId": id});
    assert_eq!(
        code(&mut mallory, "chat:get-active-members", q).await,
        "FORBIDDEN"
    );

    for i in 0..3 {
        ok(
            &mut alice,
            "message:new",
            json!({"chatId": id, "content": format!("m{i}")}),
        )
        .await;
    }
    let list = ok(&mut bob, "chat:list", json!({})).await;
    let entry = &list["chats"][0];
    assert_eq!(entry["chat"]["id"], id.as_str());
    assert_eq!(entry["lastSeq"], 3);
    assert_eq!(entry["readSeq"], 0);
    assert_eq!(entry["unread"], 3);
    let list = ok(&mut alice, "chat:list", json!({})).await;
    assert_eq!(
        list["chats"][0]["unread"], 0,
        "the sender has read its own messages"
    );
    let list = ok(&mut mallory, "chat:list", json!({})).await;
    assert_eq!(list["chats"], json!([]));
}

#[tokio::test]
async fn bad_chat_payloads_are_invalid_and_change_nothing() {
    let node = TestApp::memory().start().await;
    let mut alice = node.connect(&unique("a")).await;
    for (event, payload) in [
        ("chat:create", json!({"kind": "room"})),
        ("chat:create", json!({"kind": "group", "members": "bob"})),
        (
            "chat:create",
            json!({"kind": "group", "chatId": "has space"}),
        ),
        ("chat:create", json!({"kind": "group", "chatId": "x{y}"})),
        ("chat:create", json!("just a string")),
        ("chat:create", json!([1, 2])),
        ("chat:add-members", json!({"chatId": 5, "userIds": []})),
        ("chat:join", json!({})),
        ("chat:join-multiple", json!({"chatIds": [1]})),
    ] {
        let got = code(&mut alice, event, payload.clone()).await;
        assert_eq!(got, "INVALID_PAYLOAD", "{event} {payload}");
    }
    let list = ok(&mut alice, "chat:list", json!({})).await;
    assert_eq!(list["chats"], json!([]), "nothing was created");
    let many: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
    let r = code(
        &mut alice,
        "chat:create",
        json!({"kind": "group", "members": many}),
    )
    .await;
    assert_eq!(r, "PAYLOAD_TOO_LARGE");
}
