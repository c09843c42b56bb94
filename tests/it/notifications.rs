//! PROTOCOL §8: notifications across nodes.

use serde_json::json;

use crate::common::app::{unique, TestApp};
use crate::common::{code, group, ok, T};

#[tokio::test]
async fn mention_and_reply_reach_an_offline_user_on_another_node() {
    let nodes = TestApp::cluster(2).await;
    let (a, b) = (unique("a"), unique("b"));
    let mut alice = nodes[0].connect(&a).await;
    let mut bob = nodes[1].connect(&b).await;
    let chat = group(&mut alice, &[&b], &mut [&mut bob]).await;
    // Being added to a chat is a notification, pushed live.
    let added = bob.wait_for("notification:new", T).await;
    assert_eq!(added["notification"]["type"], "chat");
    let mine = ok(
        &mut bob,
        "message:new",
        json!({"chatId": chat, "content": "question?"}),
    )
    .await;
    let mid = mine["message"]["id"].as_str().unwrap().to_string();
    ok(&mut bob, "notification:clear-all", json!({})).await;
    bob.disconnect().await;

    ok(
        &mut alice,
        "message:new",
        json!({"chatId": chat, "content": format!("hey @{b}, look")}),
    )
    .await;
    ok(
        &mut alice,
        "message:new",
        json!({"chatId": chat, "content": "answer", "replyTo": mid}),
    )
    .await;
    ok(
        &mut alice,
        "message:new",
        json!({"chatId": chat, "content": "@nobody @"}),
    )
    .await;

    let mut bob = nodes[0].connect(&b).await;
    let mut pending = serde_json::Value::Null;
    for _ in 0..50 {
        pending = ok(&mut bob, "notification:get-pending", json!({})).await;
        if pending["notifications"].as_array().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let list = pending["notifications"].as_array().unwrap();
    let kinds: Vec<&str> = list.iter().map(|n| n["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["reply", "mention"], "newest first: {pending}");
    assert_eq!(list[1]["data"]["chatId"], chat.as_str());
    assert_eq!(list[1]["read"], false);
    assert_eq!(list[1]["priority"], "normal");
    let id = list[1]["id"].as_str().unwrap().to_string();
    ok(&mut bob, "notification:read", json!({"id": id})).await;
    let again = ok(&mut bob, "notification:get-pending", json!({"limit": 10})).await;
    assert_eq!(again["notifications"][1]["read"], true);

    // Another user's ids are refused and change nothing.
    assert_eq!(
        code(&mut alice, "notification:read", json!({"id": id})).await,
        "NOT_FOUND"
    );
    assert_eq!(
        code(&mut alice, "notification:clear", json!({"id": id})).await,
        "NOT_FOUND"
    );
    assert_eq!(
        code(&mut alice, "notification:get-pending", json!({"limit": 0})).await,
        "INVALID_PAYLOAD"
    );
    let cleared = ok(&mut bob, "notification:clear-all", json!({})).await;
    assert_eq!(cleared["cleared"], 2);
    let unknown = json!({"id": "n_unknown"});
    assert_eq!(
        code(&mut bob, "notification:clear", unknown).await,
        "NOT_FOUND"
    );
}
