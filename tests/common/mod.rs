//! Shared test helpers: a Socket.IO client (`sio`), nodes (`app`), and
//! ack assertions.
#![allow(dead_code)]

pub mod app;
pub mod automation;
pub mod process;
pub mod sio;

use std::time::Duration;

use serde_json::Value;

use sio::SioClient;

/// How long a test waits for something that must happen.
pub const T: Duration = Duration::from_secs(5);
/// How long a test watches for something that must not happen.
pub const QUIET: Duration = Duration::from_millis(300);

/// Emits with an ack and asserts `{ ok: true }`; returns the ack.
/// The `seq`s of a `{ messages }` answer (history, sync, HTTP), in order.
pub fn seqs(v: &Value) -> Vec<u64> {
    v["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect()
}

pub async fn ok(c: &mut SioClient, event: &str, data: Value) -> Value {
    let ack = c
        .emit_with_ack(event, data.clone())
        .await
        .unwrap_or_else(|e| panic!("{event} {data}: no ack: {e:?}"));
    assert_eq!(ack["ok"], true, "{event} {data} → {ack}");
    ack
}

/// Emits with an ack and asserts `{ ok: false }`; returns the error code.
pub async fn code(c: &mut SioClient, event: &str, data: Value) -> String {
    let ack = c
        .emit_with_ack(event, data.clone())
        .await
        .unwrap_or_else(|e| panic!("{event} {data}: no ack: {e:?}"));
    assert_eq!(ack["ok"], false, "{event} {data} → {ack}");
    assert!(ack["error"]["message"].is_string(), "{ack}");
    ack["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// `creator` creates a group chat with `members`; each of `joined` waits for
/// its `chat:updated`. Returns the chat id.
pub async fn group(
    creator: &mut SioClient,
    members: &[&str],
    joined: &mut [&mut SioClient],
) -> String {
    let r = ok(
        creator,
        "chat:create",
        serde_json::json!({"kind": "group", "members": members}),
    )
    .await;
    let id = r["chat"]["id"].as_str().unwrap().to_string();
    for c in joined.iter_mut() {
        c.wait_for("chat:updated", T).await;
    }
    id
}

/// Two fresh users in a new group chat: alice's client on `a`, bob's on `b`
/// (one node twice, or two nodes). Returns (alice, bob, chat id).
pub async fn pair_across(a: &app::TestNode, b: &app::TestNode) -> (SioClient, SioClient, String) {
    let (ua, ub) = (app::unique("a"), app::unique("b"));
    let mut alice = a.connect(&ua).await;
    let mut bob = b.connect(&ub).await;
    let chat = group(&mut alice, &[&ub], &mut [&mut bob]).await;
    (alice, bob, chat)
}
