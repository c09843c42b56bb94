//! Calls (PROTOCOL §6): signaling across nodes, answered elsewhere, ring
//! timeout with a missed-call notification, group calls, refusals.

use serde_json::{json, Value};

use crate::common::app::{unique, TestApp, TestNode};
use crate::common::{code, group, ok, QUIET, T};

fn offer() -> Value {
    json!({"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"})
}

/// `call:initiate` with `to` (callee or chat, media) and the test offer;
/// returns the call id.
async fn initiate(c: &mut crate::common::sio::SioClient, mut to: Value) -> String {
    to["offer"] = offer();
    let r = ok(c, "call:initiate", to).await;
    r["callId"].as_str().unwrap().to_string()
}

/// alice on `nodes[0]` calls bob, whose two devices sit on `nodes[1]` and
/// `nodes[2]`; one device answers, ICE flows both ways, alice hangs up.
async fn full_call(nodes: &[TestNode]) {
    let n = |i: usize| &nodes[i % nodes.len()];
    let (a, b, c) = (unique("alice"), unique("bob"), unique("carol"));
    let mut alice = n(0).connect(&a).await;
    let mut phone = n(1).connect_device(&b, "phone").await;
    let mut laptop = n(2).connect_device(&b, "laptop").await;
    let mut carol = n(1).connect(&c).await;
    group(&mut alice, &[&b], &mut [&mut phone, &mut laptop]).await;

    let id = initiate(&mut alice, json!({"calleeId": b, "media": "video"})).await;
    for dev in [&mut phone, &mut laptop] {
        let inc = dev.wait_for("call:incoming", T).await;
        assert_eq!(inc["callId"], id.as_str());
        assert_eq!(inc["callerId"], a.as_str());
        assert_eq!(inc["media"], "video");
        assert_eq!(inc["offer"], offer());
    }
    carol.expect_none("call:incoming", QUIET).await;
    // Trickle ICE from the caller while ringing reaches every device.
    alice.emit(
        "call:ice-candidate",
        json!({"callId": id, "candidate": {"candidate": "c0"}}),
    );
    for dev in [&mut phone, &mut laptop] {
        let ice = dev.wait_for("call:ice-candidate", T).await;
        assert_eq!(ice["candidate"]["candidate"], "c0");
    }

    let answer = json!({"type": "answer", "sdp": "v=0\r\n"});
    ok(
        &mut phone,
        "call:answer",
        json!({"callId": id, "answer": answer}),
    )
    .await;
    let got = alice.wait_for("call:answer", T).await;
    assert_eq!(got, json!({"callId": id, "answer": answer, "userId": b}));
    let end = laptop.wait_for("call:end", T).await;
    assert_eq!(end, json!({"callId": id, "reason": "answered-elsewhere"}));
    phone.expect_none("call:end", QUIET).await;
    assert_eq!(
        code(
            &mut laptop,
            "call:answer",
            json!({"callId": id, "answer": answer})
        )
        .await,
        "CONFLICT"
    );

    // ICE both ways, only between the caller and the answering device.
    alice.emit(
        "call:ice-candidate",
        json!({"callId": id, "candidate": {"candidate": "c1"}}),
    );
    let ice = phone.wait_for("call:ice-candidate", T).await;
    assert_eq!(
        ice,
        json!({"callId": id, "candidate": {"candidate": "c1"}, "userId": a})
    );
    phone.emit(
        "call:ice-candidate",
        json!({"callId": id, "candidate": {"candidate": "c2"}}),
    );
    let ice = alice.wait_for("call:ice-candidate", T).await;
    assert_eq!(ice["userId"], b.as_str());
    assert_eq!(ice["candidate"]["candidate"], "c2");
    laptop.expect_none("call:ice-candidate", QUIET).await;

    // Non-participants (another user, the other device) are refused.
    carol.emit(
        "call:ice-candidate",
        json!({"callId": id, "candidate": {"candidate": "x"}}),
    );
    let err = carol.wait_for("error", T).await;
    assert_eq!(err["event"], "call:ice-candidate");
    assert_eq!(err["code"], "FORBIDDEN");
    laptop.emit(
        "call:ice-candidate",
        json!({"callId": id, "candidate": {"candidate": "x"}}),
    );
    assert_eq!(laptop.wait_for("error", T).await["code"], "FORBIDDEN");
    for (event, data) in [
        ("call:end", json!({"callId": id})),
        ("call:reject", json!({"callId": id})),
        ("call:answer", json!({"callId": id, "answer": answer})),
    ] {
        assert_eq!(code(&mut carol, event, data).await, "FORBIDDEN", "{event}");
    }
    alice.expect_none("call:ice-candidate", QUIET).await;

    ok(&mut alice, "call:end", json!({"callId": id})).await;
    let end = phone.wait_for("call:end", T).await;
    assert_eq!(end, json!({"callId": id, "reason": "ended", "userId": a}));
    alice.expect_none("call:end", QUIET).await;

    let h = ok(&mut alice, "call:history", json!({})).await;
    assert_eq!(h["calls"][0]["callId"], id.as_str());
    assert_eq!(h["calls"][0]["outcome"], "outgoing");
    assert_eq!(h["calls"][0]["endReason"], "ended");
    assert!(h["calls"][0]["answeredAt"].is_string());
    let h = ok(&mut laptop, "call:history", json!({"limit": 5})).await;
    assert_eq!(h["calls"][0]["outcome"], "answered");
    assert_eq!(h["calls"][0]["userIds"], json!([a, b]));
}

#[tokio::test]
async fn a_full_call_across_three_nodes() {
    full_call(&TestApp::cluster(3).await).await;
}

#[tokio::test]
async fn a_full_call_on_the_memory_backend() {
    full_call(&[TestApp::memory().start().await]).await;
}

#[tokio::test]
async fn ring_timeout_ends_the_call_and_leaves_a_missed_call_notification() {
    let nodes = TestApp::cluster(2).await;
    let (a, b) = (unique("alice"), unique("bob"));
    let mut alice = nodes[0].connect(&a).await;
    let mut bob = nodes[1].connect(&b).await;
    group(&mut alice, &[&b], &mut [&mut bob]).await;
    bob.disconnect().await;
    // bob is offline: nobody answers (ring time is 2 s in tests).
    let id = initiate(&mut alice, json!({"calleeId": b, "media": "audio"})).await;
    let end = alice.wait_for("call:end", T).await;
    assert_eq!(end, json!({"callId": id, "reason": "timeout"}));
    alice.expect_none("call:end", QUIET).await;
    // bob comes back on the other node and finds the missed call.
    let mut bob = nodes[0].connect(&b).await;
    let r = ok(&mut bob, "notification:get-pending", json!({})).await;
    let n = &r["notifications"][0];
    assert_eq!(n["type"], "call", "{r}");
    assert_eq!(n["data"]["callId"], id.as_str());
    assert_eq!(n["data"]["callerId"], a.as_str());
    let h = ok(&mut bob, "call:history", json!({})).await;
    assert_eq!(h["calls"][0]["outcome"], "missed");
    assert_eq!(h["calls"][0]["endReason"], "timeout");
    assert_eq!(
        code(&mut bob, "call:answer", json!({"callId": id, "answer": {}})).await,
        "CONFLICT"
    );
}

#[tokio::test]
async fn the_ring_timeout_fires_when_the_callers_node_died() {
    let mut nodes = TestApp::cluster_isolated(2).await;
    let (a, b) = (unique("alice"), unique("bob"));
    let mut bob = nodes[0].connect(&b).await;
    let mut alice = nodes[1].connect(&a).await;
    group(&mut alice, &[&b], &mut [&mut bob]).await;
    initiate(&mut alice, json!({"calleeId": b, "media": "audio"})).await;
    bob.wait_for("call:incoming", T).await;
    nodes.pop().unwrap().kill();
    let end = bob.wait_for("call:end", T).await;
    assert_eq!(end["reason"], "timeout");
    missed_call_notification(&mut bob).await;
}

/// Waits for the `notification:new` of a missed call (skipping others,
/// such as being added to the chat).
async fn missed_call_notification(c: &mut crate::common::sio::SioClient) -> Value {
    loop {
        let n = c.wait_for("notification:new", T).await;
        if n["notification"]["type"] == "call" {
            return n;
        }
    }
}

#[tokio::test]
async fn a_group_call_rings_every_member() {
    let nodes = TestApp::cluster(3).await;
    let (a, b, c) = (unique("alice"), unique("bob"), unique("carol"));
    let mut alice = nodes[0].connect(&a).await;
    let mut bob = nodes[1].connect(&b).await;
    let mut carol = nodes[2].connect(&c).await;
    let chat = group(&mut alice, &[&b, &c], &mut [&mut bob, &mut carol]).await;
    let id = initiate(&mut alice, json!({"chatId": chat, "media": "audio"})).await;
    for m in [&mut bob, &mut carol] {
        assert_eq!(
            m.wait_for("call:incoming", T).await["chatId"],
            chat.as_str()
        );
    }
    ok(
        &mut bob,
        "call:answer",
        json!({"callId": id, "answer": {"sdp": "b"}}),
    )
    .await;
    assert_eq!(alice.wait_for("call:answer", T).await["userId"], b.as_str());
    ok(
        &mut carol,
        "call:reject",
        json!({"callId": id, "reason": "busy"}),
    )
    .await;
    let rej = alice.wait_for("call:reject", T).await;
    assert_eq!(rej, json!({"callId": id, "userId": c, "reason": "busy"}));
    // The caller addresses one member; the others hear nothing.
    alice.emit(
        "call:ice-candidate",
        json!({"callId": id, "candidate": {"c": 1}, "toUserId": b}),
    );
    assert_eq!(
        bob.wait_for("call:ice-candidate", T).await["candidate"]["c"],
        1
    );
    carol.expect_none("call:ice-candidate", QUIET).await;
    // The last member leaving ends the call.
    ok(&mut bob, "call:end", json!({"callId": id})).await;
    let end = alice.wait_for("call:end", T).await;
    assert_eq!(end, json!({"callId": id, "reason": "ended", "userId": b}));
    let h = ok(&mut carol, "call:history", json!({})).await;
    assert_eq!(h["calls"][0]["outcome"], "rejected");
}

#[tokio::test]
async fn bad_call_requests_are_refused() {
    let node = TestApp::memory()
        .with(crate::common::app::unlimited)
        .start()
        .await;
    let (a, b, s) = (unique("alice"), unique("bob"), unique("stranger"));
    let mut alice = node.connect(&a).await;
    let mut bob = node.connect(&b).await;
    let chat = group(&mut alice, &[&b], &mut [&mut bob]).await;
    let big = json!({"sdp": "x".repeat(70_000)});
    for (data, want) in [
        (
            json!({"calleeId": s, "media": "audio", "offer": offer()}),
            "FORBIDDEN",
        ),
        (
            json!({"calleeId": a, "media": "audio", "offer": offer()}),
            "INVALID_PAYLOAD",
        ),
        (
            json!({"calleeId": b, "media": "hologram", "offer": offer()}),
            "INVALID_PAYLOAD",
        ),
        (json!({"calleeId": b, "media": "audio"}), "INVALID_PAYLOAD"),
        (
            json!({"calleeId": b, "chatId": chat, "media": "audio", "offer": offer()}),
            "INVALID_PAYLOAD",
        ),
        (
            json!({"media": "audio", "offer": offer()}),
            "INVALID_PAYLOAD",
        ),
        (
            json!({"calleeId": b, "media": "audio", "offer": big}),
            "PAYLOAD_TOO_LARGE",
        ),
        (
            json!({"chatId": "nope", "media": "audio", "offer": offer()}),
            "NOT_FOUND",
        ),
    ] {
        assert_eq!(
            code(&mut alice, "call:initiate", data.clone()).await,
            want,
            "{data}"
        );
    }
    bob.expect_none("call:incoming", QUIET).await;
    assert_eq!(
        code(&mut alice, "call:end", json!({"callId": "call_unknown"})).await,
        "NOT_FOUND"
    );
    assert_eq!(
        code(&mut alice, "call:history", json!({"limit": 0})).await,
        "INVALID_PAYLOAD"
    );
    // The caller hanging up while it rings: the callee is told, and missed it.
    let id = initiate(&mut alice, json!({"calleeId": b, "media": "audio"})).await;
    bob.wait_for("call:incoming", T).await;
    assert_eq!(
        code(
            &mut alice,
            "call:end",
            json!({"callId": id, "reason": "bad reason!"})
        )
        .await,
        "INVALID_PAYLOAD"
    );
    ok(&mut alice, "call:end", json!({"callId": id})).await;
    let end = bob.wait_for("call:end", T).await;
    assert_eq!(
        end,
        json!({"callId": id, "reason": "cancelled", "userId": a})
    );
    let n = missed_call_notification(&mut bob).await;
    assert_eq!(n["notification"]["data"]["callId"], id.as_str());
    // Ending again is harmless; answering is too late.
    ok(&mut alice, "call:end", json!({"callId": id})).await;
    assert_eq!(
        code(&mut bob, "call:answer", json!({"callId": id, "answer": {}})).await,
        "CONFLICT"
    );
}
