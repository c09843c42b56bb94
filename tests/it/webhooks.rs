//! Automation webhooks (PROTOCOL §12) against a real HTTP server standing in
//! for n8n: the seed flow, inbound replies, retries and dead letters, a
//! node killed mid-delivery, the reply cache and its single flight.

use std::time::Duration;

use serde_json::{json, Value};
use switchboard::config::Config;
use switchboard::webhooks::sign;

use crate::common::app::{unique, TestApp, TestNode};
use crate::common::automation::{Automation, Mode, Received};
use crate::common::sio::SioClient;
use crate::common::{QUIET, T};

const SECRET: &str = "webhook-secret-0123456789";

fn configure(c: &mut Config, url: &str) {
    c.webhooks.url = Some(url.to_string());
    c.webhooks.secret = Some(SECRET.into());
    c.webhooks.timeout = Duration::from_millis(1000);
    c.webhooks.backoff = Duration::from_millis(100);
    c.webhooks.max_attempts = 3;
}

/// A chat with `user` and `bot` (bot member), created over HTTP.
async fn bot_chat(node: &TestNode, user: &str, bot: &str) -> String {
    let chat = unique("chat");
    let (s, r) = node
        .api(
            "PUT",
            &format!("/api/v1/chats/{chat}"),
            Some(json!({"kind": "group", "members": [user], "bots": [bot]})),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    chat
}

async fn say(c: &mut SioClient, chat: &str, text: &str) -> Value {
    crate::common::ok(c, "message:new", json!({"chatId": chat, "content": text})).await
}

/// Waits for a `message:new` from `sender`.
async fn from(c: &mut SioClient, sender: &str) -> Value {
    loop {
        let m = c.wait_for("message:new", T).await;
        if m["message"]["senderId"] == sender {
            return m["message"].clone();
        }
    }
}

fn verify(r: &Received) {
    let header = r
        .headers
        .get("x-switchboard-signature")
        .and_then(|v| v.to_str().ok());
    let now = switchboard::time::now_secs();
    sign::verify(SECRET, header, &r.raw, 60, now).expect("a valid signature");
}

fn signed(body: &Value, t: i64, secret: &str) -> String {
    sign::sign(secret, t, body.to_string().as_bytes())
}

async fn inbound(node: &TestNode, body: &Value, sig: Option<String>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/api/v1/webhooks/inbound", node.url))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(s) = sig {
        req = req.header("x-switchboard-signature", s);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn the_seed_flow_signed_delivery_bot_typing_and_the_reply() {
    let auto = Automation::start(Mode::Late(
        Duration::from_millis(300),
        vec![json!({"content": "Hi! How can I help?"})],
    ))
    .await;
    let nodes = TestApp::cluster_with(2, false, |c| configure(c, &auto.url)).await;
    let (user, bot) = (unique("user"), unique("bot"));
    let chat = bot_chat(&nodes[1], &user, &bot).await;
    let mut u = nodes[0].connect(&user).await;
    let sent = say(&mut u, &chat, "hello").await;

    let typing = u.wait_for("message:typing", T).await;
    assert_eq!(typing, json!({"chatId": chat, "userId": bot}));
    let req = &auto.wait_for(1, T).await[0];
    verify(req);
    let b = &req.body;
    assert_eq!(b["event"], "message:new");
    assert_eq!(b["chatId"], chat.as_str());
    assert_eq!(b["botId"], bot.as_str());
    assert_eq!(b["sessionId"], format!("{chat}:{bot}"));
    assert_eq!(b["data"]["message"]["id"], sent["message"]["id"]);
    assert_eq!(b["data"]["message"]["content"], "hello");
    let corr = b["correlationId"].as_str().unwrap();
    assert_eq!(req.headers["x-switchboard-correlation-id"], corr);
    assert!(b["timestamp"].is_string());

    let reply = from(&mut u, &bot).await;
    assert_eq!(reply["content"], "Hi! How can I help?");
    let stop = u.wait_for("message:stop-typing", T).await;
    assert_eq!(stop["userId"], bot.as_str());
    // The reply itself is not sent back to the automation.
    tokio::time::sleep(QUIET).await;
    assert_eq!(auto.received().len(), 1);
    // A late inbound reply with the same correlation id is refused.
    let body = json!({"correlationId": corr, "replies": [{"content": "again"}]});
    let sig = signed(&body, switchboard::time::now_secs(), SECRET);
    let (s, r) = inbound(&nodes[0], &body, Some(sig)).await;
    assert_eq!((s, r["error"]["code"].as_str()), (409, Some("CONFLICT")));
    u.expect_none("message:new", QUIET).await;
}

#[tokio::test]
async fn a_later_reply_through_the_inbound_route_is_checked_and_posted_once() {
    let auto = Automation::start(Mode::Status(202)).await;
    let nodes = TestApp::cluster_with(2, false, |c| configure(c, &auto.url)).await;
    let (user, bot) = (unique("user"), unique("bot"));
    let chat = bot_chat(&nodes[0], &user, &bot).await;
    let mut u = nodes[0].connect(&user).await;
    say(&mut u, &chat, "order status?").await;
    let req = &auto.wait_for(1, T).await[0];
    let corr = req.body["correlationId"].as_str().unwrap().to_string();
    let body = json!({"correlationId": corr, "replies": [{"content": "Shipped."}, {"content": "Anything else?"}]});
    let now = switchboard::time::now_secs();

    for (sig, why) in [
        (None, "no signature"),
        (
            Some(signed(&body, now, "another-secret-0123456789")),
            "bad signature",
        ),
        (Some(signed(&body, now - 3600, SECRET)), "stale timestamp"),
        (Some(format!("t={now},v1=zz")), "malformed"),
    ] {
        let (s, r) = inbound(&nodes[1], &body, sig).await;
        assert_eq!(
            (s, r["error"]["code"].as_str()),
            (401, Some("UNAUTHORIZED")),
            "{why}: {r}"
        );
    }
    u.expect_none("message:new", QUIET).await;
    let unknown = json!({"correlationId": "corr_unknown", "replies": []});
    let (s, _) = inbound(&nodes[1], &unknown, Some(signed(&unknown, now, SECRET))).await;
    assert_eq!(s, 404);

    let (s, r) = inbound(&nodes[1], &body, Some(signed(&body, now, SECRET))).await;
    assert_eq!((s, r["posted"].as_i64()), (200, Some(2)), "{r}");
    assert_eq!(from(&mut u, &bot).await["content"], "Shipped.");
    assert_eq!(from(&mut u, &bot).await["content"], "Anything else?");
    // The same correlation id again (say, n8n retried): refused, not posted.
    let (s, _) = inbound(&nodes[0], &body, Some(signed(&body, now, SECRET))).await;
    assert_eq!(s, 409);
    u.expect_none("message:new", QUIET).await;
}

/// The correlation id is answerable as soon as the delivery is sent: a
/// backend that posts its reply through the inbound route before it
/// answers the POST is heard, and its later synchronous reply is not
/// posted a second time. Memory, and two nodes on Redis.
#[tokio::test]
async fn an_inbound_reply_while_the_delivery_is_in_flight_is_posted_once() {
    for on_redis in [false, true] {
        let auto = Automation::start(Mode::Gate(vec![json!({"content": "sync"})])).await;
        let nodes = if on_redis {
            TestApp::cluster_with(2, false, |c| configure(c, &auto.url)).await
        } else {
            vec![
                TestApp::memory()
                    .with(|c| configure(c, &auto.url))
                    .start()
                    .await,
            ]
        };
        let (user, bot) = (unique("user"), unique("bot"));
        let chat = bot_chat(&nodes[0], &user, &bot).await;
        let mut u = nodes[0].connect(&user).await;
        say(&mut u, &chat, "quick question").await;
        let req = &auto.wait_for(1, T).await[0];
        let corr = req.body["correlationId"].as_str().unwrap();
        let body = json!({"correlationId": corr, "replies": [{"content": "inbound"}]});
        let now = switchboard::time::now_secs();
        let other = &nodes[nodes.len() - 1];
        let (s, r) = inbound(other, &body, Some(signed(&body, now, SECRET))).await;
        assert_eq!(
            (s, r["posted"].as_i64()),
            (200, Some(1)),
            "on_redis={on_redis}: {r}"
        );
        assert_eq!(from(&mut u, &bot).await["content"], "inbound");
        auto.open_gate();
        u.expect_none("message:new", QUIET).await;
        let (s, _) = inbound(other, &body, Some(signed(&body, now, SECRET))).await;
        assert_eq!(s, 409, "on_redis={on_redis}: answered once");
    }
}

#[tokio::test]
async fn failures_are_retried_with_backoff_then_dead_lettered() {
    let auto = Automation::start(Mode::Status(500)).await;
    let node = TestApp::memory()
        .with(|c| configure(c, &auto.url))
        .start()
        .await;
    retried_then_dead_lettered(std::slice::from_ref(&node), &auto).await;
}

#[tokio::test]
async fn failures_are_retried_with_backoff_then_dead_lettered_across_nodes() {
    let auto = Automation::start(Mode::Status(500)).await;
    let nodes = TestApp::cluster_with(3, false, |c| configure(c, &auto.url)).await;
    retried_then_dead_lettered(&nodes, &auto).await;
}

/// Three attempts with doubling backoff (whichever nodes make them), then
/// a dead letter and `bot:error { retryable: true }` to the chat, seen on
/// another node than the one the chat was made on.
async fn retried_then_dead_lettered(nodes: &[TestNode], auto: &Automation) {
    let node = &nodes[0];
    let (user, bot) = (unique("user"), unique("bot"));
    let chat = bot_chat(node, &user, &bot).await;
    let mut u = nodes[nodes.len() - 1].connect(&user).await;
    say(&mut u, &chat, "hello?").await;
    let got = auto.wait_for(3, T).await;
    let corr: Vec<&Value> = got.iter().map(|r| &r.body["correlationId"]).collect();
    assert!(
        corr.iter().all(|c| *c == corr[0]),
        "one correlation id throughout"
    );
    let attempts: Vec<&str> = got
        .iter()
        .map(|r| r.headers["x-switchboard-attempt"].to_str().unwrap())
        .collect();
    assert_eq!(attempts, ["1", "2", "3"]);
    let gaps: Vec<Duration> = got.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(gaps[0] >= Duration::from_millis(100), "{gaps:?}");
    assert!(
        gaps[1] >= Duration::from_millis(200),
        "backoff doubles: {gaps:?}"
    );
    // After the last attempt: dead-lettered, the bot stops typing and the
    // chat is told the bot will not answer.
    let stop = u.wait_for("message:stop-typing", T).await;
    assert_eq!(stop["userId"], bot.as_str());
    let err = u.wait_for("bot:error", T).await;
    assert_eq!(
        err,
        json!({
            "chatId": chat,
            "correlationId": corr[0],
            "code": "BOT_UNAVAILABLE",
            "message": err["message"],
            "retryable": true,
        })
    );
    assert!(err["message"].is_string());
    tokio::time::sleep(QUIET).await;
    assert_eq!(auto.received().len(), 3, "no fourth attempt");
    let (_, st) = node.admin("GET", "/admin/stats", None).await;
    assert_eq!(
        st["queues"]["webhooks"],
        json!({"ready": 0, "inFlight": 0, "dead": 1, "oldestWaitMs": 0})
    );
    let metrics = node.get("/metrics").await.1;
    assert!(
        metrics.contains("switchboard_webhooks_total{outcome=\"dead\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_delivery_in_flight_on_a_killed_node_is_completed_by_another() {
    let auto = Automation::start(Mode::Reply(vec![json!({"content": "done"})])).await;
    auto.then(Mode::Stall);
    let mut nodes = TestApp::cluster_with(2, true, |c| configure(c, &auto.url)).await;
    let (user, bot) = (unique("user"), unique("bot"));
    let chat = bot_chat(&nodes[0], &user, &bot).await;
    let mut on: Vec<SioClient> = Vec::new();
    for n in &nodes {
        on.push(n.connect(&user).await);
    }
    say(&mut on[0], &chat, "hello").await;
    // The first attempt stalls; the node that sent it dies.
    let first = auto.wait_for(1, T).await[0].clone();
    let sender = first.headers["x-switchboard-node"]
        .to_str()
        .unwrap()
        .to_string();
    let dead = nodes
        .iter()
        .position(|n| n.app().node_id == sender)
        .unwrap();
    let mut survivor_client = on.remove(1 - dead);
    nodes.remove(dead).kill();
    on.remove(0).closed().await;
    // Another node takes the delivery over after its lease.
    let reply = from(&mut survivor_client, &bot).await;
    assert_eq!(reply["content"], "done");
    let all = auto.received();
    assert_eq!(all.len(), 2);
    assert_eq!(
        all[1].headers["x-switchboard-node"].to_str().unwrap(),
        nodes[0].app().node_id
    );
    for r in &all {
        assert_eq!(
            r.body["correlationId"], first.body["correlationId"],
            "same correlation id"
        );
        assert_eq!(
            r.headers["x-switchboard-delivery-id"],
            first.headers["x-switchboard-delivery-id"]
        );
    }
}

#[tokio::test]
async fn the_reply_cache_hit_miss_stale_and_expiry() {
    let auto = Automation::start(Mode::Reply(vec![json!({"content": "1) Pizza 2) Pasta"})])).await;
    let node = TestApp::memory()
        .with(|c| {
            configure(c, &auto.url);
            c.cache.rules = switchboard::webhooks::cache::parse_rules("/menu global").unwrap();
            c.cache.ttl = Duration::from_secs(1);
            c.cache.stale = Duration::from_secs(1);
        })
        .start()
        .await;
    let (user, bot) = (unique("user"), unique("bot"));
    let chat = bot_chat(&node, &user, &bot).await;
    let mut u = node.connect(&user).await;
    let stats = || async { node.admin("GET", "/admin/cache/stats", None).await.1 };

    say(&mut u, &chat, "/menu").await; // miss: upstream
    assert_eq!(from(&mut u, &bot).await["content"], "1) Pizza 2) Pasta");
    assert_eq!(auto.received().len(), 1);
    say(&mut u, &chat, " /MENU ").await; // hit: no upstream call
    assert_eq!(from(&mut u, &bot).await["content"], "1) Pizza 2) Pasta");
    tokio::time::sleep(QUIET).await;
    assert_eq!(auto.received().len(), 1);
    let s = stats().await;
    assert_eq!(
        (
            s["hits"].as_i64(),
            s["misses"].as_i64(),
            s["entries"].as_i64()
        ),
        (Some(1), Some(1), Some(1))
    );

    // Stale: served at once, refreshed once in the background.
    auto.set_default(Mode::Reply(vec![json!({"content": "1) Soup"})]));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    say(&mut u, &chat, "/menu").await;
    assert_eq!(from(&mut u, &bot).await["content"], "1) Pizza 2) Pasta");
    auto.wait_for(2, T).await;
    say(&mut u, &chat, "/menu").await; // the refreshed entry
    assert_eq!(from(&mut u, &bot).await["content"], "1) Soup");
    assert_eq!(auto.received().len(), 2, "one refresh");
    assert_eq!(stats().await["stale"], 1);

    // Past the stale window: a miss again.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    say(&mut u, &chat, "/menu").await;
    from(&mut u, &bot).await;
    assert_eq!(auto.received().len(), 3);

    // Invalidation by prefix: the next request goes upstream.
    let (s, r) = node
        .admin(
            "POST",
            "/admin/cache/invalidate",
            Some(json!({"prefix": format!("{bot}:")})),
        )
        .await;
    assert_eq!((s, r["removed"].as_i64()), (200, Some(1)));
    say(&mut u, &chat, "/menu").await;
    from(&mut u, &bot).await;
    assert_eq!(auto.received().len(), 4);
    // Not cacheable: always upstream.
    say(&mut u, &chat, "hello").await;
    from(&mut u, &bot).await;
    assert_eq!(auto.received().len(), 5);
    let (s, _) = node
        .admin(
            "POST",
            "/admin/cache/invalidate",
            Some(json!({"key": "a", "prefix": "b"})),
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn fifty_identical_requests_across_three_nodes_make_one_upstream_call() {
    // Answers late (within the 1 s attempt timeout), so that the 50
    // requests all arrive while the first is in flight.
    let auto = Automation::start(Mode::Late(
        Duration::from_millis(800),
        vec![json!({"content": "Opening hours: 9-17"})],
    ))
    .await;
    let nodes = TestApp::cluster_with(3, false, |c| {
        configure(c, &auto.url);
        c.cache.rules = switchboard::webhooks::cache::parse_rules("/hours global").unwrap();
    })
    .await;
    let bot = unique("bot");
    let mut clients = Vec::new();
    for i in 0..50 {
        let user = unique(&format!("u{i}"));
        let chat = bot_chat(&nodes[i % 3], &user, &bot).await;
        clients.push((nodes[i % 3].connect(&user).await, chat));
    }
    let sends = clients.iter().map(|(c, chat)| {
        c.emit_with_ack("message:new", json!({"chatId": chat, "content": "/hours"}))
    });
    for ack in futures::future::join_all(sends).await {
        assert_eq!(ack.unwrap()["ok"], true);
    }
    for (c, _) in clients.iter_mut() {
        assert_eq!(from(c, &bot).await["content"], "Opening hours: 9-17");
    }
    tokio::time::sleep(QUIET).await;
    assert_eq!(auto.received().len(), 1, "one upstream call served all 50");
    let (_, s) = nodes[2].admin("GET", "/admin/cache/stats", None).await;
    assert_eq!(s["misses"], 50);
    assert_eq!(s["entries"], 1);
    assert_eq!(s["inFlight"], 0, "the lead ended with the reply");
    // An invalidation on one node is in every node's log.
    let (s, r) = nodes[0]
        .admin(
            "POST",
            "/admin/cache/invalidate",
            Some(json!({"prefix": format!("{bot}:")})),
        )
        .await;
    assert_eq!((s, r["removed"].as_i64()), (200, Some(1)));
    let (s, log) = nodes[2]
        .admin("GET", "/admin/cache/invalidations?limit=5", None)
        .await;
    assert_eq!(s, 200, "{log}");
    let first = &log["invalidations"][0];
    assert_eq!(first["prefix"], format!("{bot}:"));
    assert_eq!(first["removed"], 1);
    assert!(first["key"].is_null());
    assert_eq!(first["nodeId"], nodes[0].app().node_id.as_str());
    assert!(first["at"].as_str().unwrap().ends_with('Z'));
    let (s, _) = nodes[2]
        .admin("GET", "/admin/cache/invalidations?limit=0", None)
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn the_evolution_api_format() {
    let auto = Automation::start(Mode::Reply(vec![json!({"content": "ok"})])).await;
    let node = TestApp::memory()
        .with(|c| {
            configure(c, &auto.url);
            c.webhooks.format = switchboard::webhooks::Format::Evolution;
        })
        .start()
        .await;
    let (user, bot) = (unique("user"), unique("bot"));
    let chat = bot_chat(&node, &user, &bot).await;
    let mut u = node.connect(&user).await;
    let sent = say(&mut u, &chat, "oi").await;
    let b = &auto.wait_for(1, T).await[0].body;
    assert_eq!(b["event"], "messages.upsert");
    assert_eq!(b["instance"], bot.as_str());
    assert_eq!(b["data"]["key"]["remoteJid"], chat.as_str());
    assert_eq!(b["data"]["key"]["id"], sent["message"]["id"]);
    assert_eq!(b["data"]["key"]["fromMe"], false);
    assert_eq!(b["data"]["message"]["conversation"], "oi");
    assert_eq!(b["data"]["pushName"], user.as_str());
    assert!(b["correlationId"].is_string());
    assert_eq!(from(&mut u, &bot).await["content"], "ok");
}

#[tokio::test]
async fn configured_event_kinds_are_sent_without_a_bot() {
    let auto = Automation::start(Mode::Status(200)).await;
    let node = TestApp::memory()
        .with(|c| {
            configure(c, &auto.url);
            c.webhooks.events = vec!["message:new".into(), "presence:update".into()];
        })
        .start()
        .await;
    let (a, b) = (unique("a"), unique("b"));
    let mut ca = node.connect(&a).await;
    let mut cb = node.connect(&b).await;
    let chat = crate::common::group(&mut ca, &[&b], &mut [&mut cb]).await;
    say(&mut ca, &chat, "plain message").await;
    let got = loop {
        let all = auto.wait_for(1, T).await;
        if let Some(r) = all.iter().find(|r| r.body["event"] == "message:new") {
            break r.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    verify(&got);
    assert_eq!(got.body["chatId"], chat.as_str());
    assert_eq!(got.body["botId"], Value::Null);
    assert_eq!(got.body["data"]["message"]["content"], "plain message");
    assert!(
        auto.received()
            .iter()
            .any(|r| r.body["event"] == "presence:update"
                && r.body["data"]["presence"]["status"] == "online"),
        "presence changes are sent too"
    );
    // Nobody types: there is no bot.
    cb.expect_none("message:typing", QUIET).await;
}

/// A backlog drains as fast as the backend answers, at the configured
/// concurrency: a finished delivery wakes the worker, not the poll (set to
/// an hour here, so only wake-ups move the queue). Memory and Redis.
#[tokio::test]
async fn a_backlog_drains_at_the_configured_concurrency_not_at_the_poll() {
    use switchboard::webhooks::queue::Delivery;
    const BACKLOG: usize = 2_000;
    const CONCURRENCY: usize = 8;
    for on_redis in [false, true] {
        let auto = Automation::start(Mode::Gate(vec![])).await;
        let setup = |c: &mut Config| {
            configure(c, &auto.url);
            c.webhooks.timeout = Duration::from_secs(60);
            c.webhooks.concurrency = CONCURRENCY;
            c.webhooks.poll = Duration::from_secs(3600);
        };
        let node = if on_redis {
            TestApp::cluster_with(1, false, setup).await.remove(0)
        } else {
            TestApp::memory().with(setup).start().await
        };
        let app = node.app();
        for i in 0..BACKLOG {
            let d = Delivery {
                session: None,
                id: unique("d"),
                correlation_id: unique("corr"),
                event: "presence:update".into(),
                chat_id: None,
                bot_id: None,
                sender_id: Some("u".into()),
                data: json!({ "i": i }),
                attempt: 0,
                created_ms: switchboard::time::now_ms(),
                cache_key: None,
                refresh: false,
                traceparent: None,
            };
            switchboard::webhooks::deliver::enqueue(app, &d)
                .await
                .unwrap();
        }
        // The backend stalls: the worker holds CONCURRENCY requests open
        // and the rest wait in the queue.
        auto.wait_for(CONCURRENCY, T).await;
        tokio::time::sleep(QUIET).await;
        assert_eq!(auto.count(), CONCURRENCY, "on_redis={on_redis}");
        let depths = app.stores.webhooks.depths().await.unwrap();
        assert_eq!(depths.ready, BACKLOG - CONCURRENCY);
        assert_eq!(depths.in_flight, CONCURRENCY);
        // The backend answers: the whole backlog goes through. The bound
        // is only for liveness (the poll would take an hour).
        auto.open_gate();
        let end = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let d = app.stores.webhooks.depths().await.unwrap();
            if d.ready == 0 && d.in_flight == 0 {
                break;
            }
            assert!(
                std::time::Instant::now() < end,
                "on_redis={on_redis}: the backlog stopped draining at {d:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let got = auto.received();
        let ids: std::collections::HashSet<_> = got
            .iter()
            .map(|r| r.headers["x-switchboard-delivery-id"].clone())
            .collect();
        assert_eq!(got.len(), BACKLOG, "on_redis={on_redis}: each sent once");
        assert_eq!(ids.len(), BACKLOG);
        assert_eq!(
            auto.most_at_once(),
            CONCURRENCY,
            "on_redis={on_redis}: never more than the configured concurrency"
        );
    }
}

/// A backend that refuses a request for good (a 4xx) is not asked again:
/// the chat gets `bot:error` with `retryable: false` at once, and the
/// configured fallback text as a bot message (both backends).
async fn refused_for_good(nodes: &[TestNode], auto: &Automation) {
    let (user, bot) = (unique("user"), unique("bot"));
    let chat = bot_chat(&nodes[0], &user, &bot).await;
    let mut u = nodes[nodes.len() - 1].connect(&user).await;
    say(&mut u, &chat, "make it so").await;
    let err = u.wait_for("bot:error", T).await;
    assert_eq!(err["code"], "BOT_UNAVAILABLE");
    assert_eq!(err["retryable"], false, "{err}");
    assert_eq!(err["chatId"], chat.as_str());
    let fallback = from(&mut u, &bot).await;
    assert_eq!(fallback["content"], "Sorry, try again later.");
    tokio::time::sleep(QUIET).await;
    assert_eq!(auto.received().len(), 1, "a 4xx is not retried");
    let (_, st) = nodes[0].admin("GET", "/admin/stats", None).await;
    assert_eq!(st["queues"]["webhooks"]["dead"], 1, "{st}");
}

fn with_fallback(c: &mut Config, url: &str) {
    configure(c, url);
    c.webhooks.fallback_text = Some("Sorry, try again later.".into());
}

#[tokio::test]
async fn a_request_refused_for_good_is_a_bot_error_at_once() {
    let auto = Automation::start(Mode::Status(422)).await;
    let node = TestApp::memory()
        .with(|c| with_fallback(c, &auto.url))
        .start()
        .await;
    refused_for_good(std::slice::from_ref(&node), &auto).await;
    let auto = Automation::start(Mode::Status(400)).await;
    let nodes = TestApp::cluster_with(3, false, |c| with_fallback(c, &auto.url)).await;
    refused_for_good(&nodes, &auto).await;
}

/// Back-pressure: with `SB_WEBHOOK_MAX_QUEUE` deliveries waiting or in
/// flight, a new bot request is not queued but answered at once with a
/// retryable `bot:error` and the fallback text; the queued ones are still
/// delivered once the backend answers. Memory, and two nodes on Redis (the
/// bound is the cluster's).
#[tokio::test]
async fn a_full_queue_answers_new_bot_requests_with_bot_error() {
    for on_redis in [false, true] {
        let auto = Automation::start(Mode::Gate(vec![json!({"content": "done"})])).await;
        let setup = |c: &mut Config| {
            with_fallback(c, &auto.url);
            c.webhooks.concurrency = 1;
            c.webhooks.max_queue = 2;
            c.webhooks.timeout = Duration::from_secs(30);
        };
        let nodes = if on_redis {
            TestApp::cluster_with(2, false, setup).await
        } else {
            vec![TestApp::memory().with(setup).start().await]
        };
        let (user, bot) = (unique("user"), unique("bot"));
        let chat = bot_chat(&nodes[0], &user, &bot).await;
        let mut u = nodes[nodes.len() - 1].connect(&user).await;
        say(&mut u, &chat, "one").await;
        say(&mut u, &chat, "two").await;
        u.expect_none("bot:error", QUIET).await;
        let third = say(&mut u, &chat, "three").await;
        let err = u.wait_for("bot:error", T).await;
        assert_eq!(
            (err["code"].as_str(), err["retryable"].as_bool()),
            (Some("BOT_UNAVAILABLE"), Some(true)),
            "on_redis={on_redis}: {err}"
        );
        let fallback = from(&mut u, &bot).await;
        assert_eq!(fallback["content"], "Sorry, try again later.");
        assert!(
            third["message"]["id"].is_string(),
            "the message itself was stored"
        );
        // The queued two go through once the backend answers; the shed one
        // never reaches it.
        auto.open_gate();
        for _ in 0..2 {
            assert_eq!(from(&mut u, &bot).await["content"], "done");
        }
        tokio::time::sleep(QUIET).await;
        let sent: Vec<String> = auto
            .received()
            .iter()
            .map(|r| {
                r.body["data"]["message"]["content"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        assert_eq!(sent, ["one", "two"], "on_redis={on_redis}");
    }
}

/// PROTOCOL §11: dead letters are listed newest first, replayed (queued
/// again: the bot answers this time) or deleted, on both backends.
async fn dead_letters_admin(nodes: &[TestNode], auto: &Automation) {
    let (user, bot) = (unique("user"), unique("bot"));
    let chat = bot_chat(&nodes[0], &user, &bot).await;
    let mut u = nodes[nodes.len() - 1].connect(&user).await;
    let admin = &nodes[0];
    let dead = || async {
        let (s, r) = admin
            .admin("GET", "/admin/webhooks/dead-letters", None)
            .await;
        assert_eq!(s, 200, "{r}");
        r["deadLetters"].as_array().unwrap().clone()
    };
    say(&mut u, &chat, "first").await;
    u.wait_for("bot:error", T).await;
    say(&mut u, &chat, "second").await;
    u.wait_for("bot:error", T).await;
    let list = dead().await;
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(
        list[0]["delivery"]["data"]["message"]["content"], "second",
        "newest first"
    );
    assert_eq!(list[0]["error"], "HTTP 422");
    assert!(list[0]["at"].is_string());
    let (first, second) = (
        list[1]["id"].as_str().unwrap(),
        list[0]["id"].as_str().unwrap(),
    );

    // Replay the first once the backend answers: the bot's reply comes.
    auto.set_default(Mode::Reply(vec![json!({"content": "at last"})]));
    let path = format!("/admin/webhooks/dead-letters/{first}/replay");
    let (s, r) = admin.admin("POST", &path, None).await;
    assert_eq!((s, &r["replayed"]), (200, &json!(first)), "{r}");
    let reply = from(&mut u, &bot).await;
    assert_eq!(reply["content"], "at last");
    let replayed: Vec<_> = auto
        .received()
        .into_iter()
        .filter(|r| r.headers["x-switchboard-delivery-id"] == first)
        .map(|r| {
            r.headers["x-switchboard-attempt"]
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(replayed, ["1", "1"], "sent again from attempt 1");
    let (s, _) = admin.admin("POST", &path, None).await;
    assert_eq!(s, 404, "gone from the dead letters");

    // Delete the second.
    let path = format!("/admin/webhooks/dead-letters/{second}");
    let (s, r) = admin.admin("DELETE", &path, None).await;
    assert_eq!((s, &r["deleted"]), (200, &json!(second)), "{r}");
    assert!(dead().await.is_empty());
    let (s, _) = admin.admin("DELETE", &path, None).await;
    assert_eq!(s, 404);
    let (_, st) = admin.admin("GET", "/admin/stats", None).await;
    assert_eq!(st["queues"]["webhooks"]["dead"], 0, "{st}");
    for bad in [
        "/admin/webhooks/dead-letters/x%20y",
        "/admin/webhooks/dead-letters?limit=0",
    ] {
        let (s, r) = admin.admin("GET", bad, None).await;
        assert!(s == 400 || s == 405, "{bad}: {s} {r}");
    }
    let (s, _) = admin
        .admin("DELETE", "/admin/webhooks/dead-letters/x%22y", None)
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn dead_letters_are_listed_replayed_and_deleted() {
    let auto = Automation::start(Mode::Status(422)).await;
    let node = TestApp::memory()
        .with(|c| configure(c, &auto.url))
        .start()
        .await;
    dead_letters_admin(std::slice::from_ref(&node), &auto).await;
    let auto = Automation::start(Mode::Status(422)).await;
    let nodes = TestApp::cluster_with(2, false, |c| configure(c, &auto.url)).await;
    dead_letters_admin(&nodes, &auto).await;
}

/// PROTOCOL §12: per-user reply-cache entries are keyed by a SHA-256 of
/// the user id: no Redis key, and no member of the cache's index, holds
/// the raw id.
#[tokio::test]
async fn per_user_cache_keys_hold_no_user_id() {
    let auto = Automation::start(Mode::Reply(vec![json!({"content": "your orders: none"})])).await;
    let redis = switchboard::testing::RedisServer::shared();
    let prefix = format!("{}:", unique("rc"));
    let node = TestApp::redis(&redis.url(), &prefix)
        .with(|c| {
            configure(c, &auto.url);
            c.cache.rules = switchboard::webhooks::cache::parse_rules("/orders user").unwrap();
        })
        .start()
        .await;
    let (user, bot) = (unique("user-secret-id"), unique("bot"));
    let chat = bot_chat(&node, &user, &bot).await;
    let mut u = node.connect(&user).await;
    say(&mut u, &chat, "/orders").await;
    assert_eq!(from(&mut u, &bot).await["content"], "your orders: none");
    say(&mut u, &chat, "/orders").await; // a hit: the entry exists
    assert_eq!(from(&mut u, &bot).await["content"], "your orders: none");
    assert_eq!(auto.received().len(), 1, "the second came from the cache");

    let cli = |args: &[&str]| {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &redis.port().to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let keys = cli(&["--scan", "--pattern", &format!("{prefix}*rc*")]);
    assert!(keys.lines().count() >= 2, "the entry and the index: {keys}");
    let index = cli(&["ZRANGE", &format!("{prefix}rc:index"), "0", "-1"]);
    let hashed = switchboard::webhooks::cache::user_part(&user);
    assert!(index.contains(&hashed), "{index}");
    for text in [&keys, &index] {
        assert!(!text.contains(&user), "a raw user id in the cache: {text}");
    }
}

/// PROTOCOL §12: the reply cache holds at most `SB_CACHE_MAX_ENTRIES`,
/// the least recently used (read or written) going first; evictions are
/// counted (both backends).
async fn cache_bound(nodes: &[TestNode], auto: &Automation) {
    let (user, bot) = (unique("user"), unique("bot"));
    let chat = bot_chat(&nodes[0], &user, &bot).await;
    let mut u = nodes[nodes.len() - 1].connect(&user).await;
    let mut upstream = 0;
    for q in ["/q1", "/q2", "/q3"] {
        ask(&mut u, &chat, &bot, q).await;
    }
    upstream += 3;
    assert_eq!(auto.received().len(), upstream);
    ask(&mut u, &chat, &bot, "/q1").await; // a hit: /q1 is now the most recently used
    assert_eq!(auto.received().len(), upstream);
    ask(&mut u, &chat, &bot, "/q4").await; // stored: /q2, the least recently used, goes
    upstream += 1;
    ask(&mut u, &chat, &bot, "/q1").await; // still cached
    assert_eq!(auto.received().len(), upstream, "/q1 was kept");
    ask(&mut u, &chat, &bot, "/q2").await; // evicted: upstream again
    upstream += 1;
    assert_eq!(auto.received().len(), upstream, "/q2 was evicted");
    let (_, s) = nodes[0].admin("GET", "/admin/cache/stats", None).await;
    assert_eq!(s["entries"], 3, "{s}");
    let metrics = nodes[nodes.len() - 1].get("/metrics").await.1;
    let evicted: f64 = metrics
        .lines()
        .find(|l| l.starts_with("switchboard_reply_cache_evictions_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(evicted >= 1.0, "evictions are counted: {evicted}");
}

async fn ask(u: &mut SioClient, chat: &str, bot: &str, text: &str) {
    say(u, chat, text).await;
    assert_eq!(from(u, bot).await["content"], "answer");
}

fn bounded_cache(c: &mut Config, url: &str) {
    configure(c, url);
    c.cache.rules = switchboard::webhooks::cache::parse_rules("/q* global").unwrap();
    c.cache.max_entries = 3;
}

#[tokio::test]
async fn the_reply_cache_is_bounded_least_recently_used_first() {
    let auto = Automation::start(Mode::Reply(vec![json!({"content": "answer"})])).await;
    let node = TestApp::memory()
        .with(|c| bounded_cache(c, &auto.url))
        .start()
        .await;
    cache_bound(std::slice::from_ref(&node), &auto).await;
    let auto = Automation::start(Mode::Reply(vec![json!({"content": "answer"})])).await;
    let nodes = TestApp::cluster_with(3, false, |c| bounded_cache(c, &auto.url)).await;
    cache_bound(&nodes, &auto).await;
}

/// PROTOCOL §12: `notification:new`, `call:incoming` and `call:missed` can
/// be forwarded, each with `userId` and `online`, for a push relay to reach
/// devices that are not connected (both backends).
async fn push_relay_events(nodes: &[TestNode], auto: &Automation) {
    let (a, b, c) = (unique("alice"), unique("bob"), unique("carol"));
    let mut alice = nodes[0].connect(&a).await;
    let mut bob = nodes[nodes.len() - 1].connect(&b).await;
    crate::common::group(&mut alice, &[&b, &c], &mut [&mut bob]).await;
    // A notification to bob (online) and carol (offline).
    let (s, r) = nodes[0]
        .api(
            "POST",
            "/api/v1/notifications",
            Some(json!({"userIds": [b, c], "title": "Sale"})),
        )
        .await;
    assert!(s < 300, "{r}");
    let got = received_where(auto, 2, |r| {
        r.body["data"]["notification"]["title"] == "Sale"
    })
    .await;
    let mut online: Vec<(String, bool)> = got
        .iter()
        .map(|r| {
            assert_eq!(r.body["event"], "notification:new");
            assert_eq!(r.body["data"]["notification"]["title"], "Sale");
            verify(r);
            let d = &r.body["data"];
            (
                d["userId"].as_str().unwrap().to_string(),
                d["online"].as_bool().unwrap(),
            )
        })
        .collect();
    online.sort();
    let mut want = vec![(b.clone(), true), (c.clone(), false)];
    want.sort();
    assert_eq!(online, want);
    // A call to carol, who is offline: incoming, then missed at the ring
    // timeout (2 s in tests). The SDP is not forwarded.
    let call = crate::common::ok(
        &mut alice,
        "call:initiate",
        json!({"calleeId": c, "media": "audio", "offer": {"type": "offer", "sdp": "v=0\r\n"}}),
    )
    .await;
    let id = call["callId"].as_str().unwrap();
    let got = received_where(auto, 2, |r| {
        r.body["event"].as_str().unwrap().starts_with("call:")
    })
    .await;
    let kinds: Vec<&str> = got
        .iter()
        .map(|r| r.body["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["call:incoming", "call:missed"]);
    for r in &got {
        let d = &r.body["data"];
        assert_eq!(
            (d["callId"].as_str(), d["callerId"].as_str()),
            (Some(id), Some(a.as_str()))
        );
        assert_eq!(
            (d["userId"].as_str(), d["online"].as_bool()),
            (Some(c.as_str()), Some(false))
        );
        assert!(d.get("offer").is_none(), "{d}");
    }
}

/// Waits (up to 10 s) until `n` requests match `f`; returns them in order.
async fn received_where(
    auto: &Automation,
    n: usize,
    f: impl Fn(&Received) -> bool,
) -> Vec<Received> {
    let started = std::time::Instant::now();
    loop {
        let got: Vec<Received> = auto.received().into_iter().filter(|r| f(r)).collect();
        if got.len() >= n || started.elapsed() > Duration::from_secs(10) {
            assert_eq!(
                got.len(),
                n,
                "{:?}",
                got.iter().map(|r| &r.body).collect::<Vec<_>>()
            );
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn push_events(c: &mut Config, url: &str) {
    configure(c, url);
    c.webhooks.events = vec![
        "notification:new".into(),
        "call:incoming".into(),
        "call:missed".into(),
    ];
}

#[tokio::test]
async fn notifications_and_calls_are_forwarded_with_online() {
    let auto = Automation::start(Mode::Status(200)).await;
    let node = TestApp::memory()
        .with(|c| push_events(c, &auto.url))
        .start()
        .await;
    push_relay_events(std::slice::from_ref(&node), &auto).await;
    let auto = Automation::start(Mode::Status(200)).await;
    let nodes = TestApp::cluster_with(2, false, |c| push_events(c, &auto.url)).await;
    push_relay_events(&nodes, &auto).await;
}
