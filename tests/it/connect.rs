//! PROTOCOL §1: credentials, refusals, the `connected` event, transports.

use serde_json::{json, Value};

use crate::common::app::{token, token_with, unique, TestApp};
use crate::common::sio::{ConnectError, ConnectOpts, SioClient, Transport};
use crate::common::T;

fn refused(r: Result<SioClient, ConnectError>) -> String {
    match r {
        Err(ConnectError::Refused { message, .. }) => message,
        Err(e) => panic!("expected connect_error, got {e:?}"),
        Ok(_) => panic!("expected connect_error, got a connection"),
    }
}

#[tokio::test]
async fn connected_payload_and_user_room() {
    let node = TestApp::memory().start().await;
    let user = unique("u");
    let mut c = SioClient::connect(
        &node.url,
        ConnectOpts {
            auth: Some(json!({ "token": token_with(json!({"sub": user, "device": "phone-1"})) })),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let ev = c.wait_for("connected", T).await;
    assert_eq!(ev["userId"], user.as_str());
    assert_eq!(ev["deviceId"], "phone-1");
    assert_eq!(ev["nodeId"], node.app().node_id.as_str());
    assert!(ev["socketId"].as_str().is_some_and(|s| !s.is_empty()));
    let t = ev["serverTime"].as_str().unwrap();
    assert!(t.ends_with('Z') && t.contains('T'), "RFC 3339 UTC: {t}");
    // Without a device claim, each connection gets its own device id.
    let mut ids = Vec::new();
    for _ in 0..2 {
        let mut c = SioClient::connect(
            &node.url,
            ConnectOpts {
                auth: Some(json!({ "token": token(&user) })),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        ids.push(c.wait_for("connected", T).await["deviceId"].clone());
    }
    assert!(ids[0].as_str().is_some_and(|d| !d.is_empty()));
    assert_ne!(ids[0], ids[1]);
}

#[tokio::test]
async fn credentials_from_auth_query_and_header() {
    let node = TestApp::memory().start().await;
    let user = unique("u");
    let via_query = node
        .connect_with(ConnectOpts {
            query: vec![("token".into(), token(&user))],
            ..Default::default()
        })
        .await;
    assert!(via_query.is_ok());
    let via_header = node
        .connect_with(ConnectOpts {
            headers: vec![("Authorization".into(), format!("Bearer {}", token(&user)))],
            ..Default::default()
        })
        .await;
    assert!(via_header.is_ok());
    // auth.token wins over a bad query token.
    let first_wins = node
        .connect_with(ConnectOpts {
            auth: Some(json!({ "token": token(&user) })),
            query: vec![("token".into(), "garbage".into())],
            ..Default::default()
        })
        .await;
    assert!(first_wins.is_ok());
}

#[tokio::test]
async fn refused_tokens_get_their_code() {
    let node = TestApp::memory().start().await;
    let opts = |t: Option<String>| ConnectOpts {
        auth: t.map(|t| json!({ "token": t })),
        ..Default::default()
    };
    assert_eq!(
        refused(SioClient::connect(&node.url, opts(None)).await),
        "AUTH_MISSING"
    );
    let bad_sig = switchboard::auth::mint_hs256(
        "another-secret",
        &switchboard::auth::MintClaims {
            sub: "x",
            exp: switchboard::time::now_secs() + 60,
            device: None,
            name: None,
            role: None,
            aud: None,
            iss: None,
        },
    );
    assert_eq!(
        refused(SioClient::connect(&node.url, opts(Some(bad_sig))).await),
        "AUTH_INVALID"
    );
    let expired = token_with(json!({"sub": "x", "exp": switchboard::time::now_secs() - 3600}));
    assert_eq!(
        refused(SioClient::connect(&node.url, opts(Some(expired))).await),
        "AUTH_EXPIRED"
    );
    let no_sub = token_with(json!({"name": "nobody"}));
    assert_eq!(
        refused(SioClient::connect(&node.url, opts(Some(no_sub))).await),
        "AUTH_INVALID"
    );
    use base64::Engine;
    let b64 = |v: Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap())
    };
    let none = format!(
        "{}.{}.",
        b64(json!({"alg": "none"})),
        b64(json!({"sub": "x", "exp": switchboard::time::now_secs() + 60}))
    );
    assert_eq!(
        refused(SioClient::connect(&node.url, opts(Some(none))).await),
        "AUTH_INVALID"
    );
    // The connection that follows a refusal is unaffected.
    let ok = node.connect(&unique("u")).await;
    drop(ok);
}

#[tokio::test]
async fn rs256_node_refuses_hs256_signed_with_its_public_key() {
    let public = include_str!("../fixtures/rsa_public.pem");
    let node = TestApp::memory()
        .with(|c| {
            c.auth.secret = None;
            c.auth.public_key_pem = Some(public.into());
        })
        .start()
        .await;
    let forged = switchboard::auth::mint_hs256(
        public,
        &switchboard::auth::MintClaims {
            sub: "mallory",
            exp: switchboard::time::now_secs() + 60,
            device: None,
            name: None,
            role: None,
            aud: None,
            iss: None,
        },
    );
    let r = SioClient::connect(
        &node.url,
        ConnectOpts {
            auth: Some(json!({ "token": forged })),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(refused(r), "AUTH_INVALID");
    let good = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &json!({"sub": "alice", "exp": switchboard::time::now_secs() + 60}),
        &jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!("../fixtures/rsa_private.pem"))
            .unwrap(),
    )
    .unwrap();
    let r = node
        .connect_with(ConnectOpts {
            auth: Some(json!({ "token": good })),
            ..Default::default()
        })
        .await;
    assert!(r.is_ok());
}

#[tokio::test]
async fn audience_and_issuer_when_configured() {
    let node = TestApp::memory()
        .with(|c| {
            c.auth.audience = vec!["authenticated".into()];
            c.auth.issuer = Some("https://id.example".into());
        })
        .start()
        .await;
    let connect = |claims: Value| {
        let url = node.url.clone();
        async move {
            SioClient::connect(
                &url,
                ConnectOpts {
                    auth: Some(json!({ "token": token_with(claims) })),
                    ..Default::default()
                },
            )
            .await
        }
    };
    let wrong_aud = connect(json!({"sub": "a", "aud": "x", "iss": "https://id.example"})).await;
    assert_eq!(refused(wrong_aud), "AUTH_INVALID");
    let wrong_iss = connect(json!({"sub": "a", "aud": "authenticated", "iss": "https://x"})).await;
    assert_eq!(refused(wrong_iss), "AUTH_INVALID");
    let ok =
        connect(json!({"sub": "a", "aud": "authenticated", "iss": "https://id.example"})).await;
    assert!(ok.is_ok());
}

#[tokio::test]
async fn long_polling_works_end_to_end() {
    let node = TestApp::memory().start().await;
    let (a, b) = (unique("a"), unique("b"));
    let mut alice = node
        .connect_with(ConnectOpts {
            auth: Some(json!({ "token": token(&a) })),
            transport: Transport::Polling,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut bob = node.connect(&b).await;
    let chat = alice
        .emit_with_ack("chat:create", json!({"kind": "group", "members": [b]}))
        .await
        .unwrap();
    assert_eq!(chat["ok"], true, "{chat}");
    let chat_id = chat["chat"]["id"].as_str().unwrap().to_string();
    bob.wait_for("chat:updated", T).await;
    let sent = bob
        .emit_with_ack(
            "message:new",
            json!({"chatId": chat_id, "content": "hi over ws"}),
        )
        .await
        .unwrap();
    assert_eq!(sent["ok"], true);
    let got = alice.wait_for("message:new", T).await;
    assert_eq!(got["message"]["content"], "hi over ws");
}

#[tokio::test]
async fn health_ready_metrics_and_dev_tokens() {
    let node = TestApp::memory().start().await;
    assert_eq!(node.get("/health").await.0, 200);
    assert_eq!(node.get("/ready").await.0, 200);
    let _c = node.connect(&unique("u")).await;
    let (status, body) = node.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(body.contains("switchboard_connections"), "{body}");
    // A node with a configured secret has no /dev/token.
    assert_eq!(node.get("/dev/token?sub=x").await.0, 404);

    // Development mode: no key configured → a generated secret and /dev/token.
    let dev = TestApp::memory()
        .with(|c| c.auth.secret = None)
        .start()
        .await;
    let (status, body) = dev.get("/dev/token?sub=carol").await;
    assert_eq!(status, 200, "{body}");
    let t: Value = serde_json::from_str(&body).unwrap();
    let r = dev
        .connect_with(ConnectOpts {
            auth: Some(json!({ "token": t["token"] })),
            ..Default::default()
        })
        .await;
    assert!(r.is_ok());
    // ...and its tokens are not valid on a node with another secret.
    let r = SioClient::connect(
        &node.url,
        ConnectOpts {
            auth: Some(json!({ "token": t["token"] })),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(refused(r), "AUTH_INVALID");
}

/// PROTOCOL §10: a connection that sends no event for the idle timeout
/// gets `session:idle`, then is disconnected, although its pings go on; a
/// connection that keeps sending stays.
async fn idle_connections_are_closed(node: &crate::common::app::TestNode) {
    // Before the connect: the server's clock for `quiet` starts later.
    let started = std::time::Instant::now();
    let mut quiet = node.connect(&unique("quiet")).await;
    let mut busy = node.connect(&unique("busy")).await;
    let keep_busy = tokio::spawn(async move {
        for _ in 0..12 {
            crate::common::ok(&mut busy, "chat:list", json!({})).await;
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        busy
    });
    let idle = quiet
        .wait_for("session:idle", std::time::Duration::from_secs(5))
        .await;
    assert_eq!(idle, json!({ "idleSecs": 1 }));
    // Not before the timeout (a lower bound: it cannot fail by slowness).
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    tokio::time::timeout(T, quiet.closed())
        .await
        .expect("disconnected after session:idle");
    assert!(quiet.server_disconnected(), "the server closed it");
    let mut busy = keep_busy.await.unwrap();
    busy.expect_none("session:idle", crate::common::QUIET).await;
    crate::common::ok(&mut busy, "chat:list", json!({})).await;
}

fn idle_after_a_second(c: &mut switchboard::config::Config) {
    c.server.idle_timeout = std::time::Duration::from_secs(1);
    // Pings every 200 ms: they must not count as activity.
    c.server.ping_interval = std::time::Duration::from_millis(200);
}

#[tokio::test]
async fn idle_connections_are_closed_on_the_memory_backend() {
    let node = TestApp::memory().with(idle_after_a_second).start().await;
    idle_connections_are_closed(&node).await;
}

#[tokio::test]
async fn idle_connections_are_closed_on_redis() {
    let nodes = TestApp::cluster_with(2, false, idle_after_a_second).await;
    idle_connections_are_closed(&nodes[1]).await;
}
