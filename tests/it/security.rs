//! The security suite (issue 6): limits across nodes, the handshake flood
//! and the trusted-proxy rule, oversized and malformed packets, slow
//! readers, origins, token lifetime, canaries across three nodes, and key
//! names that cannot escape their prefix.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as Ws;

use crate::common::app::{set_limit, token, token_with, unique, TestApp, TestNode};
use crate::common::sio::{ConnectError, ConnectOpts, SioClient};
use crate::common::{code, group, ok, QUIET, T};
use switchboard::rate_limit::Action;

fn rss_mb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

fn with_headers(user: &str, headers: &[(&str, &str)]) -> ConnectOpts {
    ConnectOpts {
        auth: Some(json!({ "token": token(user) })),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

fn refused(r: Result<SioClient, ConnectError>) -> String {
    match r {
        Err(ConnectError::Refused { message, .. }) => message,
        Err(e) => format!("{e:?}"),
        Ok(_) => "connected".into(),
    }
}

#[tokio::test]
async fn one_users_budget_holds_across_two_nodes() {
    let nodes = TestApp::cluster_with(2, false, |c| set_limit(c, Action::Message, "10/60")).await;
    let (a, b) = (unique("a"), unique("b"));
    let mut a0 = nodes[0].connect(&a).await;
    let a1 = nodes[1].connect(&a).await;
    let mut bob = nodes[1].connect(&b).await;
    let chat = group(&mut a0, &[&b], &mut [&mut bob]).await;
    let sends = (0..12).flat_map(|i| {
        [&a0, &a1].map(|c| {
            c.emit_with_ack(
                "message:new",
                json!({"chatId": chat, "content": format!("m{i}")}),
            )
        })
    });
    let acks = futures::future::join_all(sends).await;
    let mut accepted = 0;
    for ack in acks {
        let ack = ack.unwrap();
        if ack["ok"] == true {
            accepted += 1;
        } else {
            assert_eq!(ack["error"]["code"], "RATE_LIMITED", "{ack}");
            assert!(ack["error"]["retryAfterMs"].as_u64().unwrap() > 0);
        }
    }
    assert_eq!(
        accepted, 10,
        "accepted = the budget, for both nodes together"
    );
    // Refused messages were neither stored nor delivered.
    for _ in 0..accepted {
        bob.wait_for("message:new", T).await;
    }
    bob.expect_none("message:new", QUIET).await;
    let h = ok(
        &mut bob,
        "chat:history",
        json!({"chatId": chat, "limit": 100}),
    )
    .await;
    assert_eq!(h["messages"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn a_handshake_flood_from_one_ip_is_limited_and_others_are_not() {
    let node = TestApp::memory()
        .with(|c| {
            set_limit(c, Action::Connect, "5/60");
            c.security.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        })
        .start()
        .await;
    let flood = [("x-forwarded-for", "198.51.100.7")];
    let mut kept = Vec::new();
    let mut limited = 0;
    for i in 0..12 {
        match node
            .connect_with(with_headers(&unique(&format!("f{i}")), &flood))
            .await
        {
            Ok(c) => kept.push(c),
            Err(ConnectError::Refused { message, .. }) => {
                assert_eq!(message, "RATE_LIMITED");
                limited += 1;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!((kept.len(), limited), (5, 7));
    // Another client IP behind the same proxy is not affected.
    let other = [("x-forwarded-for", "203.0.113.5")];
    let mut c = node
        .connect_with(with_headers(&unique("ok"), &other))
        .await
        .unwrap();
    ok(&mut c, "chat:list", json!({})).await;
}

/// An IPv6 host holds a whole /64: rotating addresses inside it does not
/// escape the connection budget, while another /64 has its own.
#[tokio::test]
async fn ipv6_clients_are_limited_by_their_64() {
    let node = TestApp::memory()
        .with(|c| {
            set_limit(c, Action::Connect, "3/60");
            c.security.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        })
        .start()
        .await;
    let mut outcomes = Vec::new();
    for i in 1..=5 {
        let from = format!("2001:db8:1:2::{i:x}");
        let headers = [("x-forwarded-for", from.as_str())];
        let r = node
            .connect_with(with_headers(&unique(&format!("v6-{i}")), &headers))
            .await;
        outcomes.push(match r {
            Ok(c) => {
                drop(c);
                "ok"
            }
            Err(ConnectError::Refused { message, .. }) => {
                assert_eq!(message, "RATE_LIMITED");
                "limited"
            }
            Err(e) => panic!("{e:?}"),
        });
    }
    assert_eq!(outcomes, ["ok", "ok", "ok", "limited", "limited"]);
    let other = [("x-forwarded-for", "2001:db8:1:3::1")];
    node.connect_with(with_headers(&unique("v6-other"), &other))
        .await
        .expect("another /64 has its own budget");
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let node = TestApp::memory()
        .with(|c| set_limit(c, Action::Connect, "3/60"))
        .start()
        .await;
    // Each attempt claims another IP; the peer (127.0.0.1) is what counts.
    let mut results = Vec::new();
    for i in 0..5 {
        let xff = format!("192.0.2.{i}");
        results.push(refused(
            node.connect_with(with_headers(
                &unique("s"),
                &[("x-forwarded-for", xff.as_str())],
            ))
            .await,
        ));
    }
    assert_eq!(
        results,
        [
            "connected",
            "connected",
            "connected",
            "RATE_LIMITED",
            "RATE_LIMITED"
        ]
    );
}

#[tokio::test]
async fn connections_per_user_are_bounded() {
    let node = TestApp::memory()
        .with(|c| c.security.max_connections_per_user = 2)
        .start()
        .await;
    let u = unique("u");
    let _a = node.connect(&u).await;
    let _b = node.connect(&u).await;
    assert_eq!(
        refused(node.connect_with(with_headers(&u, &[])).await),
        "RATE_LIMITED"
    );
    node.connect(&unique("other")).await;
}

#[tokio::test]
async fn when_redis_is_down_limits_fail_open_or_closed_as_configured() {
    let redis = switchboard::testing::RedisServer::start();
    let prefix = format!("{}:", unique("rl"));
    let node = TestApp::redis(&redis.url(), &prefix)
        .with(|c| {
            set_limit(c, Action::Other, "100/60 open");
            set_limit(c, Action::Publish, "100/60 closed");
            c.redis.command_timeout = Duration::from_millis(300);
        })
        .start()
        .await;
    let mut c = node.connect(&unique("u")).await;
    ok(&mut c, "channel:subscribe", json!({"channel": "public:x"})).await;
    redis.stop();
    // `closed` (publish): refused while the limiter cannot be asked.
    let r = c
        .emit_with_ack("channel:publish", json!({"channel": "public:x", "data": 1}))
        .await
        .unwrap();
    assert_eq!(r["error"]["code"], "UNAVAILABLE", "closed: refused: {r}");
    // `open` (other): let through; unsubscribing needs no Redis itself.
    let r = c
        .emit_with_ack("channel:unsubscribe", json!({"channel": "public:x"}))
        .await
        .unwrap();
    assert_eq!(r["ok"], true, "open: let through: {r}");
    let metrics = node.get("/metrics").await.1;
    assert!(metrics.contains("result=\"fail_closed\""), "{metrics}");
    assert!(metrics.contains("result=\"fail_open\""), "{metrics}");
}

/// A raw Engine.IO WebSocket, connected to `/` as `user`.
async fn raw_ws(
    node: &TestNode,
    user: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = format!(
        "{}/socket.io/?EIO=4&transport=websocket",
        node.url.replacen("http", "ws", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url.into_client_request().unwrap())
        .await
        .unwrap();
    let open = ws.next().await.unwrap().unwrap();
    assert!(open.to_text().unwrap().starts_with('0'));
    ws.send(Ws::Text(
        format!("40{}", json!({"token": token(user)})).into(),
    ))
    .await
    .unwrap();
    loop {
        let m = ws.next().await.unwrap().unwrap();
        if m.to_text().unwrap_or("").contains("\"connected\"") {
            return ws;
        }
    }
}

async fn closed_by_server(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> bool {
    let end = Instant::now() + T;
    while Instant::now() < end {
        match tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Ws::Close(_)))) => return true,
            Ok(Some(Ok(_))) | Err(_) => {}
        }
    }
    false
}

#[tokio::test]
async fn oversized_packets_are_refused_on_both_transports_with_memory_bounded() {
    let node = TestApp::memory()
        .with(|c| {
            c.server.max_payload = 64 * 1024;
            c.messages.max_content_bytes = 16 * 1024;
        })
        .start()
        .await;
    let mut witness = node.connect(&unique("w")).await;
    let before = rss_mb();
    let big = format!(
        "42[\"message:new\",{{\"content\":\"{}\"}}]",
        "x".repeat(1024 * 1024)
    );
    for _ in 0..20 {
        let mut ws = raw_ws(&node, &unique("big")).await;
        let _ = ws.send(Ws::Text(big.clone().into())).await;
        assert!(
            closed_by_server(&mut ws).await,
            "an oversized WebSocket frame closes it"
        );
    }
    // Polling: a POST larger than the limit is refused.
    let client = reqwest::Client::new();
    let url = format!("{}/socket.io/?EIO=4&transport=polling", node.url);
    let open = client.get(&url).send().await.unwrap().text().await.unwrap();
    let sid = serde_json::from_str::<Value>(&open[1..]).unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_string();
    let r = client
        .post(format!("{url}&sid={sid}"))
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let grew = rss_mb().saturating_sub(before);
    assert!(grew < 64, "RSS grew {grew} MB for 21 MB of refused packets");
    ok(&mut witness, "chat:list", json!({})).await;
}

#[tokio::test]
async fn malformed_packets_close_at_most_their_connection() {
    let node = TestApp::memory().start().await;
    let (a, b) = (unique("a"), unique("b"));
    let mut alice = node.connect(&a).await;
    let mut bob = node.connect(&b).await;
    let chat = group(&mut alice, &[&b], &mut [&mut bob]).await;
    let deep = format!(
        "42[\"message:new\",{}{}]",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let frames: Vec<Ws> = vec![
        Ws::Text("7".into()),                      // bad Engine.IO type
        Ws::Text("48[\"x\"]".into()),              // bad Socket.IO type
        Ws::Text("42/admin,[\"x\",{}]".into()),    // a namespace never opened
        Ws::Text("42[42,{}]".into()),              // non-string event name
        Ws::Text("42[{\"a\":1},{}]".into()),       // object as event name
        Ws::Text(deep.into()),                     // deep nesting
        Ws::Binary(vec![0xff, 0xfe, 0xfd].into()), // invalid UTF-8 / stray binary
        Ws::Text("4599999-[\"message:new\",{\"_placeholder\":true,\"num\":0}]".into()), // many attachments
        Ws::Text("451-[\"message:new\",{\"_placeholder\":true,\"num\":5}]".into()), // attachment out of range
    ];
    for f in frames {
        let mut ws = raw_ws(&node, &unique("m")).await;
        let _ = ws.send(f).await;
        for _ in 0..50 {
            let _ = ws.send(Ws::Binary(vec![1, 2, 3].into())).await;
        }
        // The node still serves everyone else.
        let r = ok(
            &mut alice,
            "message:new",
            json!({"chatId": chat, "content": "still here"}),
        )
        .await;
        assert!(r["message"]["seq"].is_u64());
        assert_eq!(
            bob.wait_for("message:new", T).await["message"]["content"],
            "still here"
        );
    }
}

#[tokio::test]
async fn a_reader_that_never_reads_is_cut_off_with_memory_bounded() {
    let node = TestApp::memory()
        .with(|c| {
            c.server.ping_interval = Duration::from_millis(300);
            c.server.ping_timeout = Duration::from_millis(300);
            c.server.socket_buffer = 16;
        })
        .start()
        .await;
    let sloth = unique("sloth");
    let _ws = raw_ws(&node, &sloth).await; // never read again
    let before = rss_mb();
    let app = node.app().clone();
    let blob = json!({ "blob": "y".repeat(100 * 1024) });
    let started = Instant::now();
    for _ in 0..300 {
        app.fanout()
            .emit(
                vec![switchboard::rooms::user(&sloth)],
                vec![],
                "flood",
                &blob,
            )
            .await;
    }
    // The heartbeat gets no answer: the server closes the connection.
    loop {
        let gone = app
            .stores
            .cluster
            .sessions_of(&sloth)
            .await
            .unwrap()
            .is_empty();
        if gone {
            break;
        }
        assert!(started.elapsed() < T, "the slow reader is still connected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let grew = rss_mb().saturating_sub(before);
    assert!(
        grew < 64,
        "RSS grew {grew} MB for 30 MB sent to a reader that never reads"
    );
}

#[tokio::test]
async fn foreign_origins_are_refused_and_cors_names_only_allowed_ones() {
    let node = TestApp::memory()
        .with(|c| c.security.allowed_origins = vec!["https://app.example.com".into()])
        .start()
        .await;
    let evil = [("origin", "https://evil.example")];
    let good = [("origin", "https://app.example.com")];
    assert!(node
        .connect_with(with_headers(&unique("e"), &evil))
        .await
        .is_err());
    let mut ok_client = node
        .connect_with(with_headers(&unique("g"), &good))
        .await
        .unwrap();
    ok(&mut ok_client, "chat:list", json!({})).await;
    // No Origin at all (a server or mobile app): allowed.
    node.connect(&unique("n")).await;
    // Polling and the API.
    let client = reqwest::Client::new();
    let poll = format!("{}/socket.io/?EIO=4&transport=polling", node.url);
    let r = client
        .get(&poll)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client
        .get(&poll)
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let pre = |origin: &'static str| {
        client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/api/v1/messages", node.url),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let r = pre("https://app.example.com").await.unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let r = pre("https://evil.example").await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // Without a list in development mode, any origin, without credentials
    // (`*`, never a reflected origin): a browser app on a dev server works
    // at once, for the API and for Socket.IO's polling preflight alike.
    let open = TestApp::memory().start().await;
    assert_eq!(
        open.app().config.server.mode,
        switchboard::config::Mode::Development
    );
    for path in ["/api/v1/messages", "/socket.io/?EIO=4&transport=polling"] {
        let r = client
            .request(reqwest::Method::OPTIONS, format!("{}{path}", open.url))
            .header("origin", "http://localhost:5173")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        assert_eq!(r.headers()["access-control-allow-origin"], "*", "{path}");
        assert!(r
            .headers()
            .get("access-control-allow-credentials")
            .is_none());
    }
    let r = client
        .get(format!("{}/socket.io/?EIO=4&transport=polling", open.url))
        .header("origin", "http://localhost:5173")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    // In production without a list: no CORS headers at all.
    let prod = TestApp::memory()
        .with(|c| c.server.mode = switchboard::config::Mode::Production)
        .start()
        .await;
    let r = client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/v1/messages", prod.url),
        )
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn token_refresh_extends_a_session_and_expiry_disconnects() {
    let node = TestApp::memory()
        .with(|c| c.security.token_warning = Duration::from_secs(2))
        .start()
        .await;
    let now = switchboard::time::now_secs();
    let u = unique("u");
    let mut c = node
        .connect_with(ConnectOpts {
            auth: Some(json!({ "token": token_with(json!({"sub": u, "exp": now + 3})) })),
            ..Default::default()
        })
        .await
        .unwrap();
    let warn = c.wait_for("auth:expiring", T).await;
    assert!(warn["expiresAt"].is_string());
    // Another user's token is refused and changes nothing.
    let other = token_with(json!({"sub": "someone-else", "exp": now + 600}));
    assert_eq!(
        code(&mut c, "auth:refresh", json!({"token": other})).await,
        "FORBIDDEN"
    );
    assert_eq!(
        code(&mut c, "auth:refresh", json!({"token": "nonsense"})).await,
        "UNAUTHORIZED"
    );
    let fresh = token_with(json!({"sub": u, "exp": now + 600}));
    let r = ok(&mut c, "auth:refresh", json!({"token": fresh})).await;
    assert!(r["expiresAt"].is_string());
    tokio::time::sleep(Duration::from_secs(3)).await;
    ok(&mut c, "chat:list", json!({})).await;
    assert!(
        c.is_connected(),
        "refreshed: still connected after the old exp"
    );

    // Not refreshed: told, then disconnected at exp.
    let v = unique("v");
    let c2 = node
        .connect_with(ConnectOpts {
            auth: Some(json!({ "token": token_with(json!({"sub": v, "exp": now + 2})) })),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut c2 = c2;
    let expired = c2.wait_for("auth:expired", T).await;
    assert_eq!(expired["code"], "AUTH_EXPIRED");
    c2.closed().await;
}

#[tokio::test]
async fn canaries_never_reach_an_outsider_on_any_path_across_three_nodes() {
    let nodes = TestApp::cluster(3).await;
    let (x, a, z) = (unique("x"), unique("a"), unique("z"));
    let canary = unique("CANARY");
    let mut xc = nodes[0].connect(&x).await;
    let mut ac = nodes[1].connect(&a).await;
    let mut zc = nodes[2].connect(&z).await;
    let chat = group(&mut xc, &[&a], &mut [&mut ac]).await;
    let m = ok(
        &mut xc,
        "message:new",
        json!({"chatId": chat, "content": format!("{canary} @{a}")}),
    )
    .await;
    let mid = m["message"]["id"].as_str().unwrap().to_string();
    ac.wait_for("message:new", T).await;
    let n = ac.wait_for("notification:new", T).await;
    let nid = n["notification"]["id"].as_str().unwrap().to_string();

    // Every read path, tried by the outsider.
    for (event, data, want) in [
        ("chat:join", json!({"chatId": chat}), "FORBIDDEN"),
        ("chat:history", json!({"chatId": chat}), "FORBIDDEN"),
        (
            "chat:sync",
            json!({"chats": [{"chatId": chat, "lastSeq": 0}]}),
            "",
        ),
        (
            "chat:get-active-members",
            json!({"chatId": chat}),
            "FORBIDDEN",
        ),
        (
            "reaction:get",
            json!({"chatId": chat, "messageId": mid}),
            "FORBIDDEN",
        ),
        (
            "reaction:new",
            json!({"chatId": chat, "messageId": mid, "emoji": "👍"}),
            "FORBIDDEN",
        ),
        (
            "message:new",
            json!({"chatId": chat, "content": "hi"}),
            "FORBIDDEN",
        ),
        (
            "message:read",
            json!({"chatId": chat, "messageId": mid}),
            "FORBIDDEN",
        ),
        ("notification:read", json!({"id": nid}), "NOT_FOUND"),
        ("notification:clear", json!({"id": nid}), "NOT_FOUND"),
        (
            "call:initiate",
            json!({"chatId": chat, "media": "audio", "offer": {}}),
            "FORBIDDEN",
        ),
        (
            "call:initiate",
            json!({"calleeId": x, "media": "audio", "offer": {}}),
            "FORBIDDEN",
        ),
        (
            "channel:subscribe",
            json!({"channel": "role:admin:ops"}),
            "FORBIDDEN",
        ),
    ] {
        let r = zc.emit_with_ack(event, data.clone()).await.unwrap();
        if want.is_empty() {
            // chat:sync answers per chat: the chat is refused, not served.
            assert!(!r.to_string().contains(&canary), "{event}: {r}");
        } else {
            assert_eq!(r["error"]["code"], want, "{event} {data} → {r}");
        }
    }
    let r = ok(&mut zc, "presence:subscribe", json!({"userIds": [x, a]})).await;
    assert_eq!(r["presences"], json!([]));
    let r = ok(&mut zc, "presence:get", json!({"userIds": [x]})).await;
    assert_eq!(r["presences"], json!([]));
    let r = ok(&mut zc, "notification:get-pending", json!({})).await;
    assert!(!r.to_string().contains(&canary));
    // A user token does not open the HTTP API.
    let (s, _) = nodes[2]
        .http(
            "GET",
            &format!("/api/v1/presence?userIds={x}"),
            Some(&token(&z)),
            None,
        )
        .await;
    assert_eq!(s, 401);

    // The members keep talking, reacting, typing and calling.
    ok(
        &mut xc,
        "message:new",
        json!({"chatId": chat, "content": format!("{canary} 2")}),
    )
    .await;
    ok(
        &mut ac,
        "reaction:new",
        json!({"chatId": chat, "messageId": mid, "emoji": "🎉"}),
    )
    .await;
    ok(&mut ac, "message:typing", json!({"chatId": chat})).await;
    ok(
        &mut xc,
        "presence:update",
        json!({"status": "busy", "customStatus": canary}),
    )
    .await;
    let call = ok(
        &mut xc,
        "call:initiate",
        json!({"calleeId": a, "media": "audio", "offer": {"sdp": canary}}),
    )
    .await;
    ok(&mut xc, "call:end", json!({"callId": call["callId"]})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (name, data) in zc.drain_events() {
        let text = data.to_string();
        assert!(
            !text.contains(&canary) && !text.contains(&chat) && !text.contains(&mid),
            "the outsider received {name}: {text}"
        );
    }
}

#[tokio::test]
async fn hostile_ids_stay_inside_the_key_prefix_and_never_collide() {
    let redis = switchboard::testing::RedisServer::start();
    let prefix = "iso:";
    let node = TestApp::redis(&redis.url(), prefix).start().await;
    // Users as tokens may name them (1-256 characters, no controls).
    let hostile = [
        "{a}".to_string(),
        "a}".to_string(),
        "{a".to_string(),
        "*".to_string(),
        "a:b".to_string(),
        "7e".to_string(),
        "~7e".to_string(),
        "y".repeat(256),
    ];
    let mut clients = Vec::new();
    for u in &hostile {
        let mut c = node.connect(u).await;
        ok(&mut c, "presence:update", json!({"status": "away"})).await;
        node.api(
            "POST",
            &format!("/api/v1/users/{}/events", urlencode(u)),
            Some(json!({"event": "e", "persist": true})),
        )
        .await;
        clients.push(c);
    }
    // Below validation, straight into the stores: newlines and 10 KB ids.
    let stores = &node.app().stores;
    for id in ["a\nb", "a\r\nb", &"x".repeat(10 * 1024), "} {", "\u{0}"] {
        stores
            .presence
            .set_status(id, switchboard::presence::Status::Busy, None)
            .await
            .unwrap();
        let item = switchboard::inbox::Queued {
            event: "e".into(),
            data: json!(1),
        };
        stores.inbox.push_inbox(id, &item, 10, 60).await.unwrap();
        assert_eq!(stores.inbox.take_inbox(id).await.unwrap(), vec![item]);
        stores
            .rate_limits
            .hit(id, 1, Duration::from_secs(60))
            .await
            .unwrap();
    }
    // Each user sees exactly its own presence and sessions.
    let (_, r) = node
        .admin(
            "GET",
            &format!("/admin/sessions?userId={}", urlencode(&hostile[0])),
            None,
        )
        .await;
    assert_eq!(r["sessions"].as_array().unwrap().len(), 1, "{r}");
    let keys = scan_keys(redis.port());
    assert!(!keys.is_empty());
    for k in &keys {
        assert!(k.starts_with(prefix), "key outside the prefix: {k:?}");
        assert!(!k.contains('\n'), "raw newline in a key: {k:?}");
        assert!(k.len() < 22_000, "key too long: {}", k.len());
    }
    // Distinct users → distinct presence keys.
    let presence: Vec<&String> = keys.iter().filter(|k| k.ends_with(":presence")).collect();
    assert_eq!(presence.len(), hostile.len() + 5, "{presence:?}");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every key in the (test-owned) Redis. A key holding a raw newline would
/// come out as two lines, and fail the prefix check.
fn scan_keys(port: u16) -> Vec<String> {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &port.to_string(), "--scan"])
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The refusal's `data` (`err.data` in socket.io-client): the code, a
/// message for humans, and when to retry for the refusals that pass.
fn refusal(r: Result<SioClient, ConnectError>) -> (String, Value) {
    match r {
        Err(ConnectError::Refused { message, data }) => (message, data),
        Err(e) => panic!("{e:?}"),
        Ok(_) => panic!("connected"),
    }
}

#[tokio::test]
async fn a_refusal_says_why_and_when_to_retry() {
    let node = TestApp::memory()
        .with(|c| {
            set_limit(c, Action::Connect, "2/60");
            c.security.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
            c.security.max_connections_per_user = 1;
        })
        .start()
        .await;
    // Over the address's budget: retry when the next token comes (the
    // budget refills one connection every 30 s).
    let ip = [("x-forwarded-for", "198.51.100.9")];
    let _a = node
        .connect_with(with_headers(&unique("a"), &ip))
        .await
        .unwrap();
    let _b = node
        .connect_with(with_headers(&unique("b"), &ip))
        .await
        .unwrap();
    let (message, data) = refusal(node.connect_with(with_headers(&unique("c"), &ip)).await);
    assert_eq!(message, "RATE_LIMITED");
    assert_eq!(data["code"], "RATE_LIMITED");
    assert!(
        data["message"]
            .as_str()
            .unwrap()
            .contains("SB_RATE_CONNECT"),
        "{data}"
    );
    let wait = data["retryAfterMs"].as_u64().unwrap();
    assert!((25_000..=30_000).contains(&wait), "{data}");

    // The per-user cap has no clock: a fixed hint.
    let u = unique("u");
    let other = [("x-forwarded-for", "198.51.100.10")];
    let _u = node.connect_with(with_headers(&u, &other)).await.unwrap();
    let (message, data) = refusal(node.connect_with(with_headers(&u, &other)).await);
    assert_eq!(message, "RATE_LIMITED");
    assert_eq!(data["retryAfterMs"], 5000, "{data}");
    assert!(data["message"]
        .as_str()
        .unwrap()
        .contains("SB_MAX_CONNECTIONS_PER_USER"));

    // Authentication refusals have nothing to wait for.
    let headers = |ip: &str| vec![("x-forwarded-for".to_string(), ip.to_string())];
    let opts = ConnectOpts {
        auth: Some(json!({ "token": "garbage" })),
        headers: headers("198.51.100.11"),
        ..Default::default()
    };
    let (message, data) = refusal(node.connect_with(opts).await);
    assert_eq!(message, "AUTH_INVALID");
    assert_eq!(data["code"], "AUTH_INVALID");
    assert!(data["message"].is_string());
    assert!(data.get("retryAfterMs").is_none(), "{data}");
    let opts = ConnectOpts {
        headers: headers("198.51.100.12"),
        ..Default::default()
    };
    let (message, data) = refusal(node.connect_with(opts).await);
    assert_eq!(
        (message.as_str(), &data["code"]),
        ("AUTH_MISSING", &json!("AUTH_MISSING"))
    );
}
