//! PROTOCOL §9: topic channels and their permission rules, across nodes.

use serde_json::json;

use crate::common::app::{token_with, unique, TestApp};
use crate::common::sio::ConnectOpts;
use crate::common::{code, ok, QUIET, T};

#[tokio::test]
async fn channel_rules_allow_refuse_and_keep_server_only_publishing() {
    let nodes = TestApp::cluster(2).await;
    let mut bob = nodes[1].connect(&unique("bob")).await;
    let admin_opts = ConnectOpts {
        auth: Some(json!({ "token": token_with(json!({"sub": unique("root"), "role": "admin"})) })),
        ..Default::default()
    };
    let mut admin = nodes[0].connect_with(admin_opts).await.unwrap();

    // public:* — anyone subscribes, only the server publishes.
    ok(
        &mut bob,
        "channel:subscribe",
        json!({"channel": "public:news"}),
    )
    .await;
    let p = json!({"channel": "public:news", "data": {"x": 1}});
    assert_eq!(
        code(&mut bob, "channel:publish", p.clone()).await,
        "FORBIDDEN"
    );
    assert_eq!(code(&mut admin, "channel:publish", p).await, "FORBIDDEN");
    bob.expect_none("channel:message", QUIET).await;
    switchboard::channels::service::publish(
        nodes[0].app(),
        "public:news",
        &json!({"headline": "hi"}),
    )
    .await
    .unwrap();
    let m = bob.wait_for("channel:message", T).await;
    assert_eq!(
        (m["channel"].as_str(), &m["data"]),
        (Some("public:news"), &json!({"headline": "hi"}))
    );
    assert!(m["publishedAt"].as_str().unwrap().ends_with('Z'));

    // role:admin:* — the JWT role decides.
    let ops = json!({"channel": "role:admin:ops"});
    assert_eq!(
        code(&mut bob, "channel:subscribe", ops.clone()).await,
        "FORBIDDEN"
    );
    ok(&mut admin, "channel:subscribe", ops).await;
    let mut admin2 = nodes[1]
        .connect_with(ConnectOpts {
            auth: Some(
                json!({ "token": token_with(json!({"sub": unique("root2"), "role": "admin"})) }),
            ),
            ..Default::default()
        })
        .await
        .unwrap();
    ok(
        &mut admin2,
        "channel:publish",
        json!({"channel": "role:admin:ops", "data": "deploy"}),
    )
    .await;
    assert_eq!(admin.wait_for("channel:message", T).await["data"], "deploy");
    bob.expect_none("channel:message", QUIET).await;

    // No rule: refused. Bad names: invalid. Unsubscribe stops deliveries.
    assert_eq!(
        code(
            &mut bob,
            "channel:subscribe",
            json!({"channel": "private:x"})
        )
        .await,
        "FORBIDDEN"
    );
    assert_eq!(
        code(&mut bob, "channel:subscribe", json!({"channel": "a b"})).await,
        "INVALID_PAYLOAD"
    );
    ok(
        &mut bob,
        "channel:unsubscribe",
        json!({"channel": "public:news"}),
    )
    .await;
    switchboard::channels::service::publish(nodes[1].app(), "public:news", &json!(2))
        .await
        .unwrap();
    bob.expect_none("channel:message", QUIET).await;
}
