//! Bot sessions (PROTOCOL §13) and guests (§14): start, resume across
//! devices and nodes, completion by the automation's reply, chat metadata,
//! guest tokens and what a guest may do.

use std::time::Duration;

use serde_json::{json, Value};
use switchboard::config::Config;

use crate::common::app::{unique, TestApp, TestNode, SECRET};
use crate::common::automation::{Automation, Mode};
use crate::common::sio::{ConnectError, ConnectOpts, SioClient};
use crate::common::{code, ok, QUIET, T};

const HOOK_SECRET: &str = "webhook-secret-0123456789";
const GUEST_SECRET: &str = "guest-secret-0123456789abcdef-0123456789";
const BOT: &str = "doc-bot";

fn bots(c: &mut Config) {
    c.bots.bots = vec![BOT.into(), "helper".into()];
    c.bots.topics = [(BOT.to_string(), vec!["nda".into(), "lease".into()])].into();
}

fn webhooks(c: &mut Config, url: &str) {
    c.webhooks.url = Some(url.to_string());
    c.webhooks.secret = Some(HOOK_SECRET.into());
    c.webhooks.timeout = Duration::from_millis(1000);
    c.webhooks.backoff = Duration::from_millis(100);
    c.webhooks.max_attempts = 2;
}

fn guests(c: &mut Config) {
    c.guests.enabled = true;
    c.guests.secret = Some(GUEST_SECRET.into());
    c.guests.bots = vec!["helper".into()];
}

async fn connect_token(node: &TestNode, token: &str) -> Result<SioClient, ConnectError> {
    node.connect_with(ConnectOpts {
        auth: Some(json!({ "token": token })),
        ..Default::default()
    })
    .await
}

/// The `connect_error` message of a refused token.
async fn refused(node: &TestNode, token: &str) -> String {
    match connect_token(node, token).await {
        Err(ConnectError::Refused { message, .. }) => message,
        Err(e) => panic!("no refusal: {e:?}"),
        Ok(_) => panic!("the token connected"),
    }
}

async fn start(c: &mut SioClient, topic: Option<&str>) -> (String, bool) {
    let mut req = json!({ "botId": BOT });
    if let Some(t) = topic {
        req["topic"] = json!(t);
    }
    let r = ok(c, "bot:start", req).await;
    let chat = &r["chat"];
    assert_eq!(chat["kind"], "bot", "{r}");
    assert_eq!(chat["bots"], json!([BOT]), "{r}");
    (
        chat["id"].as_str().unwrap().to_string(),
        r["resumed"].as_bool().unwrap(),
    )
}

/// The whole guided flow: a session started on one device is resumed on
/// another (another node), a reply with `complete` completes it after its
/// replies are posted, it then refuses messages, a second completion
/// changes nothing, and the next `bot:start` opens a new session (seen on a
/// third node).
async fn session_lifecycle(nodes: &[TestNode], hook: &Automation) {
    let (a, b, third) = (&nodes[0], &nodes[1 % nodes.len()], &nodes[2 % nodes.len()]);
    let user = unique("u");
    let mut phone = a.connect_device(&user, "phone").await;
    let mut laptop = b.connect_device(&user, "laptop").await;
    let (chat, resumed) = start(&mut phone, Some("nda")).await;
    assert!(!resumed);
    assert!(chat.starts_with("bot_"));
    let (again, resumed) = start(&mut laptop, Some("nda")).await;
    assert_eq!((again.as_str(), resumed), (chat.as_str(), true));
    // Another topic is another session.
    let (lease, _) = start(&mut laptop, Some("lease")).await;
    assert_ne!(lease, chat);

    hook.then(Mode::Json(json!({
        "replies": [{ "content": "Here is your NDA." }],
        "complete": { "result": { "document": "https://files.example/nda.pdf" } },
    })));
    ok(
        &mut phone,
        "message:new",
        json!({ "chatId": chat, "content": "Acme, 2 years" }),
    )
    .await;
    // The reply first, then chat:completed, on the other node too.
    let mine = laptop.wait_for("message:new", T).await;
    assert_eq!(mine["message"]["senderId"], user.as_str());
    let reply = laptop.wait_for("message:new", T).await;
    assert_eq!(reply["message"]["senderId"], BOT);
    let done = laptop.wait_for("chat:completed", T).await;
    assert_eq!(done["chatId"], chat.as_str());
    assert_eq!(done["result"]["document"], "https://files.example/nda.pdf");
    phone.wait_for("chat:completed", T).await;
    // The automation heard the topic and the session id.
    let got = hook.received();
    let sent = got
        .iter()
        .find(|r| r.body["chatId"] == chat.as_str())
        .unwrap();
    assert_eq!(sent.body["sessionId"], chat.as_str());
    assert_eq!(sent.body["session"]["topic"], "nda");

    assert_eq!(
        code(
            &mut phone,
            "message:new",
            json!({ "chatId": chat, "content": "more" })
        )
        .await,
        "CONFLICT"
    );
    // The completed chat keeps its result, and history stays readable.
    let list = ok(&mut laptop, "chat:list", json!({})).await;
    let entry = list["chats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["chat"]["id"] == chat.as_str())
        .expect("the session is listed")
        .clone();
    assert!(entry["chat"]["completedAt"].is_string(), "{entry}");
    assert_eq!(
        entry["chat"]["result"]["document"],
        "https://files.example/nda.pdf"
    );
    let h = ok(&mut phone, "chat:history", json!({ "chatId": chat })).await;
    assert_eq!(h["messages"].as_array().unwrap().len(), 2, "{h}");
    // A later inbound reply that completes again changes nothing: no
    // message is posted into the completed session, no second event.
    let corr = sent.body["correlationId"].as_str().unwrap();
    let (s, r) = inbound(
        third,
        &json!({ "correlationId": corr, "replies": [{ "content": "late" }], "complete": {} }),
    )
    .await;
    assert_eq!(s, 409, "already answered: {r}");
    laptop.expect_none("chat:completed", QUIET).await;
    let h = ok(&mut phone, "chat:history", json!({ "chatId": chat })).await;
    assert_eq!(h["messages"].as_array().unwrap().len(), 2, "{h}");

    let mut tablet = third.connect_device(&user, "tablet").await;
    let (next, resumed) = start(&mut tablet, Some("nda")).await;
    assert!(!resumed);
    assert_ne!(next, chat);
    let (same, resumed) = start(&mut phone, Some("nda")).await;
    assert_eq!((same.as_str(), resumed), (next.as_str(), true));
}

/// A signed `POST /api/v1/webhooks/inbound`.
async fn inbound(node: &TestNode, body: &Value) -> (u16, Value) {
    let t = switchboard::time::now_secs();
    let sig = switchboard::webhooks::sign::sign(HOOK_SECRET, t, body.to_string().as_bytes());
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/webhooks/inbound", node.url))
        .header("content-type", "application/json")
        .header("x-switchboard-signature", sig)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_session_resumes_completes_and_starts_anew_on_memory() {
    let hook = Automation::start(Mode::Status(202)).await;
    let node = TestApp::memory()
        .with(|c| {
            bots(c);
            webhooks(c, &hook.url);
        })
        .start()
        .await;
    session_lifecycle(&[node], &hook).await;
}

#[tokio::test]
async fn a_session_resumes_completes_and_starts_anew_across_nodes() {
    let hook = Automation::start(Mode::Status(202)).await;
    let url = hook.url.clone();
    let nodes = TestApp::cluster_with(3, false, move |c| {
        bots(c);
        webhooks(c, &url);
    })
    .await;
    session_lifecycle(&nodes, &hook).await;
}

#[tokio::test]
async fn an_inbound_reply_can_complete_a_session() {
    let hook = Automation::start(Mode::Status(202)).await;
    let node = TestApp::memory()
        .with(|c| {
            bots(c);
            webhooks(c, &hook.url);
        })
        .start()
        .await;
    let mut c = node.connect(&unique("u")).await;
    let (chat, _) = start(&mut c, Some("lease")).await;
    ok(
        &mut c,
        "message:new",
        json!({ "chatId": chat, "content": "hi" }),
    )
    .await;
    let sent = hook.wait_for(1, T).await;
    let corr = sent[0].body["correlationId"].as_str().unwrap().to_string();
    let unknown = json!({ "correlationId": "corr_unknown", "replies": [], "complete": {} });
    assert_eq!(inbound(&node, &unknown).await.0, 404);
    let body = json!({ "correlationId": corr, "replies": [], "complete": {} });
    assert_eq!(inbound(&node, &body).await.0, 200);
    let done = c.wait_for("chat:completed", T).await;
    assert_eq!(done["chatId"], chat.as_str());
    assert!(done["result"].is_null(), "{done}");
}

#[tokio::test]
async fn unknown_bots_and_topics_are_not_found_and_change_nothing() {
    let node = TestApp::memory().with(bots).start().await;
    let user = unique("u");
    let mut c = node.connect(&user).await;
    for bad in [
        json!({ "botId": "nobody" }),
        json!({ "botId": BOT, "topic": "will" }),
        // doc-bot has topics: one must be named.
        json!({ "botId": BOT }),
    ] {
        assert_eq!(code(&mut c, "bot:start", bad).await, "NOT_FOUND");
    }
    for bad in [
        json!({}),
        json!({ "botId": 7 }),
        json!({ "botId": "helper", "topic": "x".repeat(65) }),
    ] {
        assert_eq!(code(&mut c, "bot:start", bad).await, "INVALID_PAYLOAD");
    }
    let list = ok(&mut c, "chat:list", json!({})).await;
    assert_eq!(list["chats"], json!([]));
    // A bot without configured topics takes any topic, or none.
    let r = ok(
        &mut c,
        "bot:start",
        json!({ "botId": "helper", "topic": "billing" }),
    )
    .await;
    assert_eq!(r["chat"]["topic"], "billing");
    let r = ok(&mut c, "bot:start", json!({ "botId": "helper" })).await;
    // Its members are the server's to change.
    let other = unique("u");
    let add = json!({ "chatId": r["chat"]["id"], "userIds": [other] });
    assert_eq!(
        code(&mut c, "chat:add-members", add).await,
        "INVALID_PAYLOAD"
    );
    // Users cannot plant a chat where sessions are looked for.
    let planted = json!({ "kind": "group", "members": [], "chatId": "bot_0123" });
    assert_eq!(
        code(&mut c, "chat:create", planted).await,
        "INVALID_PAYLOAD"
    );
    let kind = json!({ "kind": "bot", "members": [] });
    assert_eq!(code(&mut c, "chat:create", kind).await, "INVALID_PAYLOAD");
}

#[tokio::test]
async fn without_a_backend_a_bot_session_says_bot_error() {
    let node = TestApp::memory()
        .with(|c| {
            bots(c);
            c.webhooks.fallback_text = Some("We will get back to you.".into());
        })
        .start()
        .await;
    let mut c = node.connect(&unique("u")).await;
    let r = ok(&mut c, "bot:start", json!({ "botId": "helper" })).await;
    let chat = r["chat"]["id"].as_str().unwrap().to_string();
    ok(
        &mut c,
        "message:new",
        json!({ "chatId": chat, "content": "hello?" }),
    )
    .await;
    let e = c.wait_for("bot:error", T).await;
    assert_eq!(e["code"], "BOT_UNAVAILABLE");
    assert_eq!(e["retryable"], false);
    let m = c.wait_for("message:new", T).await;
    assert_eq!(m["message"]["content"], "We will get back to you.");
    assert_eq!(m["message"]["senderId"], "helper");
}

/// Any chat with bot members, not only a session: without a backend a
/// user's message there is answered with `bot:error` (the append says
/// which bots the chat has); a chat without bots hears nothing. On Redis,
/// across two nodes.
#[tokio::test]
async fn without_a_backend_a_chat_put_with_bots_says_bot_error_across_nodes() {
    let nodes = TestApp::cluster(2).await;
    let (alice, bot) = (unique("alice"), unique("bot"));
    let (with_bot, plain) = (unique("chat"), unique("chat"));
    for (chat, bots) in [(&with_bot, json!([bot])), (&plain, json!([]))] {
        let body = json!({"kind": "group", "members": [alice], "bots": bots});
        let (status, r) = nodes[1]
            .api("PUT", &format!("/api/v1/chats/{chat}"), Some(body))
            .await;
        assert_eq!(status, 200, "{r}");
    }
    let mut a = nodes[0].connect(&alice).await;
    let sent = json!({ "chatId": plain, "content": "hi", "clientId": "p1" });
    ok(&mut a, "message:new", sent).await;
    a.expect_none("bot:error", QUIET).await;
    let sent = json!({ "chatId": with_bot, "content": "hi", "clientId": "b1" });
    ok(&mut a, "message:new", sent).await;
    let e = a.wait_for("bot:error", T).await;
    assert_eq!(
        (
            e["chatId"].as_str(),
            e["code"].as_str(),
            e["retryable"].as_bool()
        ),
        (
            Some(with_bot.as_str()),
            Some("BOT_UNAVAILABLE"),
            Some(false)
        )
    );
}

#[tokio::test]
async fn chat_metadata_is_kept_bounded_and_returned() {
    let node = TestApp::memory().start().await;
    let mut c = node.connect(&unique("u")).await;
    let meta = json!({ "source": "web", "page": "/pricing" });
    let r = ok(
        &mut c,
        "chat:create",
        json!({ "kind": "group", "members": [], "metadata": meta }),
    )
    .await;
    assert_eq!(r["chat"]["metadata"], meta);
    let big = json!({ "k": "x".repeat(4100) });
    let too_big = json!({ "kind": "group", "members": [], "metadata": big });
    assert_eq!(
        code(&mut c, "chat:create", too_big).await,
        "PAYLOAD_TOO_LARGE"
    );
    let not_object = json!({ "kind": "group", "members": [], "metadata": [1] });
    assert_eq!(
        code(&mut c, "chat:create", not_object).await,
        "INVALID_PAYLOAD"
    );
    let id = unique("chat");
    let (s, r) = node
        .api(
            "PUT",
            &format!("/api/v1/chats/{id}"),
            Some(json!({ "kind": "group", "members": ["x"], "metadata": meta })),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["chat"]["metadata"], meta);
}

async fn mint(node: &TestNode, body: Value) -> (u16, Value) {
    node.http("POST", "/api/v1/guest-sessions", None, Some(body))
        .await
}

#[tokio::test]
async fn guests_are_refused_while_disabled() {
    let node = TestApp::memory().with(bots).start().await;
    let (s, r) = mint(&node, json!({})).await;
    assert_eq!(
        (s, r["error"]["code"].as_str()),
        (404, Some("NOT_FOUND")),
        "{r}"
    );
    // A token shaped like a guest's, signed with the user secret, is no
    // guest and no user.
    let enabled = TestApp::memory()
        .with(|c| {
            bots(c);
            guests(c);
        })
        .start()
        .await;
    let (_, g) = mint(&enabled, json!({})).await;
    assert_eq!(
        refused(&node, g["token"].as_str().unwrap()).await,
        "AUTH_INVALID"
    );
}

#[tokio::test]
async fn a_guest_talks_to_its_bot_and_nothing_else_on_memory() {
    let hook = Automation::start(Mode::Reply(vec![json!({ "content": "Hi, guest!" })])).await;
    let node = TestApp::memory()
        .with(|c| {
            bots(c);
            guests(c);
            webhooks(c, &hook.url);
        })
        .start()
        .await;
    guest_journey(&[node]).await;
}

#[tokio::test]
async fn a_guest_talks_to_its_bot_and_nothing_else_across_nodes() {
    let hook = Automation::start(Mode::Reply(vec![json!({ "content": "Hi, guest!" })])).await;
    let url = hook.url.clone();
    let nodes = TestApp::cluster_with(3, false, move |c| {
        bots(c);
        guests(c);
        webhooks(c, &url);
    })
    .await;
    guest_journey(&nodes).await;
}

/// A guest's whole journey: a token and a session over HTTP (node 0),
/// history with that token (node 1), the socket (node 2), a real
/// automation's reply, and `FORBIDDEN` for everything else; its token opens
/// no keyed route, and an expired one no socket.
async fn guest_journey(nodes: &[TestNode]) {
    let at = |i: usize| &nodes[i % nodes.len()];
    let (s, g) = mint(
        at(0),
        json!({ "botId": "helper", "name": "Visitor", "metadata": { "page": "/" } }),
    )
    .await;
    assert_eq!(s, 201, "{g}");
    let user = g["userId"].as_str().unwrap().to_string();
    assert!(user.starts_with("guest_"));
    assert!(g["expiresAt"].as_str().unwrap().ends_with('Z'));
    let chat = g["chat"]["id"].as_str().unwrap().to_string();
    assert_eq!(g["chat"]["metadata"]["page"], "/");
    let token = g["token"].as_str().unwrap();

    // History over HTTP with the guest's own token, before the socket.
    let (s, h) = at(1)
        .http(
            "GET",
            &format!("/api/v1/chats/{chat}/messages"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{h}");
    let mut c = connect_token(at(2), token).await.unwrap();
    let r = ok(&mut c, "bot:start", json!({ "botId": "helper" })).await;
    assert_eq!(
        (r["chat"]["id"].as_str(), r["resumed"].as_bool()),
        (Some(chat.as_str()), Some(true))
    );
    ok(
        &mut c,
        "message:new",
        json!({ "chatId": chat, "content": "hello" }),
    )
    .await;
    let m = c.wait_for("message:new", T).await;
    assert_eq!(m["message"]["content"], "Hi, guest!");
    ok(
        &mut c,
        "chat:sync",
        json!({ "chats": [{ "chatId": chat, "afterSeq": 0 }] }),
    )
    .await;

    let other = unique("u");
    for (event, data) in [
        (
            "chat:create",
            json!({ "kind": "group", "members": [other] }),
        ),
        ("chat:list", json!({})),
        ("presence:update", json!({ "status": "online" })),
        ("presence:get", json!({ "userIds": [other] })),
        ("call:initiate", json!({ "chatId": chat, "media": "audio" })),
        ("channel:subscribe", json!({ "channel": "news" })),
        (
            "reaction:new",
            json!({ "chatId": chat, "messageId": "m_1", "emoji": "👍" }),
        ),
    ] {
        assert_eq!(code(&mut c, event, data).await, "FORBIDDEN", "{event}");
    }
    // No invented topics for guests (each would be one more session).
    let topic = json!({ "botId": "helper", "topic": "made-up" });
    assert_eq!(code(&mut c, "bot:start", topic).await, "INVALID_PAYLOAD");
    // Only the bots of SB_GUEST_BOTS.
    let doc = json!({ "botId": BOT, "topic": "nda" });
    assert_eq!(code(&mut c, "bot:start", doc).await, "FORBIDDEN");
    let (s, r) = mint(at(1), json!({ "botId": BOT, "topic": "nda" })).await;
    assert_eq!(s, 403, "{r}");
    // Users cannot pull a guest into their chats.
    let mut u = at(0).connect(&other).await;
    let pull = json!({ "kind": "group", "members": [user] });
    assert_eq!(code(&mut u, "chat:create", pull).await, "INVALID_PAYLOAD");
    c.expect_none("chat:updated", QUIET).await;
    // The guest token is no integration or admin key.
    for (method, path) in [("POST", "/api/v1/messages"), ("GET", "/admin/stats")] {
        let body =
            (method == "POST").then(|| json!({ "chatId": chat, "senderId": user, "content": "x" }));
        let (s, _) = at(0).http(method, path, Some(token), body).await;
        assert_eq!(s, 401, "{method} {path}");
    }
    // An expired guest token is refused like any expired token.
    let keys = switchboard::auth::guest::GuestKeys::new(GUEST_SECRET);
    let (_, expired, _) = keys.mint(None, -3600);
    assert_eq!(refused(at(0), &expired).await, "AUTH_EXPIRED");
}

#[tokio::test]
async fn no_user_token_can_pose_as_a_guest() {
    let node = TestApp::memory()
        .with(|c| {
            bots(c);
            guests(c);
        })
        .start()
        .await;
    let now = switchboard::time::now_secs();
    let posing = [
        // A guest's subject, signed by the identity provider.
        crate::common::sio::mint_hs256(SECRET, json!({ "sub": "guest_abc", "exp": now + 60 })),
        // The guest issuer, signed by the identity provider.
        crate::common::sio::mint_hs256(
            SECRET,
            json!({ "sub": "eve", "exp": now + 60, "iss": "switchboard:guest" }),
        ),
    ];
    for token in posing {
        assert_eq!(refused(&node, &token).await, "AUTH_INVALID");
    }
    // A guest's header with the user secret's signature.
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("switchboard-guest".into());
    let claims = json!({ "sub": "guest_x", "exp": now + 60, "iss": "switchboard:guest",
        "aud": "switchboard:guest", "role": "guest", "iat": now });
    let forged = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(refused(&node, &forged).await, "AUTH_INVALID");
}

#[tokio::test]
async fn guest_creation_is_limited_per_client_ip() {
    let node = TestApp::memory()
        .with(|c| {
            bots(c);
            guests(c);
        })
        .start()
        .await;
    for _ in 0..3 {
        assert_eq!(mint(&node, json!({})).await.0, 201);
    }
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/guest-sessions", node.url))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    // A bad request spends nothing and says what is wrong.
    let (s, _) = mint(&node, json!({ "botId": "nobody" })).await;
    assert_eq!(s, 404);
}
