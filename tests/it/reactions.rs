//! PROTOCOL §7: reactions, on one node and across nodes.

use serde_json::json;

use crate::common::app::{unique, TestApp};
use crate::common::{code, group, ok, QUIET, T};

#[tokio::test]
async fn reactions_count_once_and_reach_members_on_other_nodes() {
    let nodes = TestApp::cluster(2).await;
    let (a, b) = (unique("a"), unique("b"));
    let mut alice = nodes[0].connect(&a).await;
    let mut bob = nodes[1].connect(&b).await;
    let chat = group(&mut alice, &[&b], &mut [&mut bob]).await;
    let m = ok(
        &mut alice,
        "message:new",
        json!({"chatId": chat, "content": "vote"}),
    )
    .await;
    let mid = m["message"]["id"].as_str().unwrap().to_string();
    let r = json!({"chatId": chat, "messageId": mid, "emoji": "👍🏽"});
    let first = ok(&mut bob, "reaction:new", r.clone()).await;
    assert_eq!(first["reactions"], json!({"👍🏽": [b]}));
    let ev = alice.wait_for("reaction:new", T).await;
    assert_eq!(
        ev,
        json!({"chatId": chat, "messageId": mid, "emoji": "👍🏽", "userId": b})
    );
    // A duplicate add is counted once and announced once.
    let again = ok(&mut bob, "reaction:new", r.clone()).await;
    assert_eq!(again["reactions"], first["reactions"]);
    alice.expect_none("reaction:new", QUIET).await;
    ok(&mut alice, "reaction:new", r.clone()).await;
    let got = ok(
        &mut bob,
        "reaction:get",
        json!({"chatId": chat, "messageId": mid}),
    )
    .await;
    assert_eq!(got["reactions"], json!({"👍🏽": [b, a]}));
    let gone = ok(&mut bob, "reaction:remove", r.clone()).await;
    assert_eq!(gone["reactions"], json!({"👍🏽": [a]}));
    assert_eq!(
        alice.wait_for("reaction:remove", T).await["userId"],
        b.as_str()
    );
}

#[tokio::test]
async fn invalid_emoji_missing_messages_and_non_members_are_refused() {
    let node = TestApp::memory().start().await;
    let (a, b) = (unique("a"), unique("b"));
    let mut alice = node.connect(&a).await;
    let mut bob = node.connect(&b).await;
    let mut mallory = node.connect(&unique("m")).await;
    let chat = group(&mut alice, &[&b], &mut [&mut bob]).await;
    let m = ok(
        &mut alice,
        "message:new",
        json!({"chatId": chat, "content": "x"}),
    )
    .await;
    let mid = m["message"]["id"].as_str().unwrap().to_string();
    for emoji in [
        json!("nice"),
        json!("👍👍"),
        json!(""),
        json!(5),
        json!("<b>"),
    ] {
        let r = json!({"chatId": chat, "messageId": mid, "emoji": emoji});
        assert_eq!(
            code(&mut bob, "reaction:new", r).await,
            "INVALID_PAYLOAD",
            "{emoji}"
        );
    }
    let missing = json!({"chatId": chat, "messageId": "m_nope", "emoji": "🎉"});
    assert_eq!(code(&mut bob, "reaction:new", missing).await, "NOT_FOUND");
    let r = json!({"chatId": chat, "messageId": mid, "emoji": "🎉"});
    assert_eq!(
        code(&mut mallory, "reaction:new", r.clone()).await,
        "FORBIDDEN"
    );
    let get = json!({"chatId": chat, "messageId": mid});
    assert_eq!(
        code(&mut mallory, "reaction:get", get.clone()).await,
        "FORBIDDEN"
    );
    let got = ok(&mut alice, "reaction:get", get).await;
    assert_eq!(got["reactions"], json!({}), "nothing was stored");
    mallory.expect_none("reaction:new", QUIET).await;
}
