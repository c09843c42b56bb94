//! The HTTP API (PROTOCOL §11): keys, envelopes, limits, the OpenAPI
//! document, and each endpoint's effect on real clients across nodes.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::common::app::{unique, TestApp, TestNode, ADMIN_KEY, API_KEY};
use crate::common::{QUIET, T};

/// Every route of the protocol's table (besides /health, /ready, /metrics).
const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/messages"),
    ("post", "/api/v1/users/{userId}/events"),
    ("post", "/api/v1/channels/{channel}/publish"),
    ("put", "/api/v1/chats/{chatId}"),
    ("post", "/api/v1/chats/{chatId}/members"),
    ("delete", "/api/v1/chats/{chatId}/members/{userId}"),
    ("post", "/api/v1/notifications"),
    ("get", "/api/v1/presence"),
    ("post", "/api/v1/webhooks/inbound"),
    ("get", "/admin/stats"),
    ("get", "/admin/sessions"),
    ("post", "/admin/users/{userId}/disconnect"),
    ("post", "/admin/broadcast"),
    ("post", "/admin/cache/invalidate"),
    ("get", "/admin/cache/stats"),
    ("get", "/admin/cache/invalidations"),
    ("get", "/admin/chats/{chatId}"),
    ("post", "/api/v1/guest-sessions"),
    ("get", "/api/v1/chats/{chatId}/messages"),
    ("get", "/admin/webhooks/dead-letters"),
    ("post", "/admin/webhooks/dead-letters/{id}/replay"),
    ("delete", "/admin/webhooks/dead-letters/{id}"),
];

async fn documented(node: &TestNode) -> BTreeSet<(String, String)> {
    let (status, doc) = node.http("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut out = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.insert((method.clone(), path.clone()));
            // Generated clients name their functions after these.
            let id = op["operationId"].as_str().expect("an operationId");
            assert!(ids.insert(id.to_string()), "operationId {id} is used twice");
        }
    }
    out
}

fn concrete(path: &str) -> String {
    path.replace("{userId}", "someone")
        .replace("{chatId}", "some-chat")
        .replace("{channel}", "public:x")
        .replace("{id}", "someid")
}

fn query(method: &str, path: &str) -> String {
    let p = concrete(path);
    match (method, path) {
        ("get", "/api/v1/presence") => format!("{p}?userIds=a,b"),
        ("get", "/admin/sessions") => format!("{p}?userId=a"),
        _ => p,
    }
}

#[tokio::test]
async fn the_openapi_document_matches_the_served_routes() {
    let node = TestApp::memory().start().await;
    let doc = documented(&node).await;
    let want: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(doc, want, "documented routes = the protocol's routes");
    for (method, path) in &doc {
        let key = if path.starts_with("/admin") {
            ADMIN_KEY
        } else {
            API_KEY
        };
        let (status, body) = node
            .http(
                &method.to_uppercase(),
                &query(method, path),
                Some(key),
                Some(json!({})),
            )
            .await;
        assert!(
            !(status == 404 && body["error"]["message"] == "no such route") && status != 405,
            "{method} {path} is documented but not served: {status} {body}"
        );
        assert!(status < 500, "{method} {path}: {status} {body}");
    }
    let (status, body) = node.api("GET", "/api/v1/nothing-here", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );
}

#[tokio::test]
async fn keys_envelopes_and_limits_on_every_endpoint() {
    let node = TestApp::memory()
        .with(|c| c.api.max_body_bytes = 4096)
        .start()
        .await;
    let client = reqwest::Client::new();
    for (method, path) in ROUTES {
        let admin = path.starts_with("/admin");
        let url = format!("{}{}", node.url, query(method, path));
        let m: reqwest::Method = method.to_uppercase().parse().unwrap();
        let inbound = *path == "/api/v1/webhooks/inbound";
        // Public and off by default: tests/it/bots.rs covers it.
        if *path == "/api/v1/guest-sessions" {
            continue;
        }
        let (right, wrong_kind) = if admin {
            (ADMIN_KEY, API_KEY)
        } else {
            (API_KEY, ADMIN_KEY)
        };
        for key in [None, Some("wrong-key-0123456789"), Some(wrong_kind)] {
            let mut req = client.request(m.clone(), &url).json(&json!({}));
            if let Some(k) = key {
                req = req.bearer_auth(k);
            }
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            assert_eq!(
                r.headers()["www-authenticate"],
                "Bearer realm=\"switchboard\"",
                "{path}: a 401 names its scheme"
            );
            let body: Value = r.json().await.unwrap();
            // The inbound route wants its signature (none here), the others
            // the right key: all 401.
            assert_eq!(status, 401, "{method} {path} with {key:?}: {body}");
            assert_eq!(body["error"]["code"], "UNAUTHORIZED", "{path}");
            assert!(body["error"]["message"].is_string());
        }
        // Routes without a body.
        let bodiless = admin && (path.contains("disconnect") || path.ends_with("/replay"));
        if *method == "get" || *method == "delete" || bodiless {
            continue;
        }
        // Malformed JSON and oversized bodies, with the right key.
        let r = client
            .request(m.clone(), &url)
            .bearer_auth(right)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        if !inbound {
            assert_eq!(
                (status, body["error"]["code"].as_str()),
                (400, Some("INVALID_PAYLOAD")),
                "{path}"
            );
            // No or a wrong content type: 415, with the envelope.
            for ct in [None, Some("text/plain")] {
                let mut req = client
                    .request(m.clone(), &url)
                    .bearer_auth(right)
                    .body("{}");
                if let Some(ct) = ct {
                    req = req.header("content-type", ct);
                }
                let r = req.send().await.unwrap();
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap();
                assert_eq!(
                    (status, body["error"]["code"].as_str()),
                    (415, Some("INVALID_PAYLOAD")),
                    "{path} with {ct:?}"
                );
            }
        }
        let big = json!({ "data": "x".repeat(10_000) });
        let r = client
            .request(m.clone(), &url)
            .bearer_auth(right)
            .json(&big)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (413, Some("PAYLOAD_TOO_LARGE")),
            "{path}"
        );
    }
}

#[tokio::test]
async fn messages_chats_events_and_presence_over_http_across_nodes() {
    let nodes = TestApp::cluster(2).await;
    let (alice, bot, chat) = (unique("alice"), unique("bot"), unique("chat"));
    let (status, r) = nodes[1]
        .api(
            "PUT",
            &format!("/api/v1/chats/{chat}"),
            Some(json!({"kind": "group", "title": "Help", "members": [alice], "bots": [bot]})),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["created"], true);
    assert_eq!(r["chat"]["members"], json!([alice, bot]));
    let mut a = nodes[0].connect(&alice).await;

    // A message posted over HTTP on node 1 reaches alice on node 0.
    let post = json!({"chatId": chat, "senderId": bot, "content": "hello", "clientId": "c1"});
    let (status, r) = nodes[1]
        .api("POST", "/api/v1/messages", Some(post.clone()))
        .await;
    assert_eq!(status, 201, "{r}");
    let m = a.wait_for("message:new", T).await;
    assert_eq!(m["message"]["id"], r["message"]["id"]);
    assert_eq!(m["message"]["senderId"], bot.as_str());
    // The same clientId again: the same message, delivered once.
    let (_, again) = nodes[0].api("POST", "/api/v1/messages", Some(post)).await;
    assert_eq!(again["message"]["id"], r["message"]["id"]);
    a.expect_none("message:new", QUIET).await;
    for (body, status, code) in [
        (
            json!({"chatId": chat, "senderId": "stranger", "content": "x"}),
            403,
            "FORBIDDEN",
        ),
        (
            json!({"chatId": chat, "senderId": bot, "content": ""}),
            400,
            "INVALID_PAYLOAD",
        ),
        (
            json!({"chatId": "nope", "senderId": bot, "content": "x"}),
            403,
            "FORBIDDEN",
        ),
        (
            json!({"chatId": chat, "senderId": bot}),
            400,
            "INVALID_PAYLOAD",
        ),
        (
            json!({"chatId": chat, "senderId": bot, "content": "x", "extra": 1}),
            400,
            "INVALID_PAYLOAD",
        ),
    ] {
        let (s, r) = nodes[1]
            .api("POST", "/api/v1/messages", Some(body.clone()))
            .await;
        assert_eq!(
            (s, r["error"]["code"].as_str()),
            (status, Some(code)),
            "{body} → {r}"
        );
    }
    a.expect_none("message:new", QUIET).await;

    // Membership over HTTP reaches the user's sockets on other nodes.
    let carol = unique("carol");
    let mut c = nodes[0].connect(&carol).await;
    let (s, _) = nodes[1]
        .api(
            "POST",
            &format!("/api/v1/chats/{chat}/members"),
            Some(json!({"userIds": [carol]})),
        )
        .await;
    assert_eq!(s, 200);
    c.wait_for("chat:updated", T).await;
    let (s, _) = nodes[1]
        .api(
            "DELETE",
            &format!("/api/v1/chats/{chat}/members/{carol}"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = nodes[1]
        .api(
            "DELETE",
            &format!("/api/v1/chats/nope-{chat}/members/{carol}"),
            None,
        )
        .await;
    assert_eq!(s, 404);

    // User events: live, persisted for an offline user, dropped otherwise.
    let (s, r) = nodes[1]
        .api(
            "POST",
            &format!("/api/v1/users/{alice}/events"),
            Some(json!({"event": "order:shipped", "data": {"n": 1}})),
        )
        .await;
    assert_eq!((s, r["outcome"].as_str()), (202, Some("live")));
    assert_eq!(a.wait_for("order:shipped", T).await, json!({"n": 1}));
    let dave = unique("dave");
    for n in 0..3 {
        let (_, r) = nodes[1]
            .api(
                "POST",
                &format!("/api/v1/users/{dave}/events"),
                Some(json!({"event": "job", "data": n, "persist": true})),
            )
            .await;
        assert_eq!(r["outcome"], "queued");
    }
    let (_, r) = nodes[1]
        .api(
            "POST",
            &format!("/api/v1/users/{dave}/events"),
            Some(json!({"event": "ping"})),
        )
        .await;
    assert_eq!(r["outcome"], "dropped");
    let (s, r) = nodes[1]
        .api(
            "POST",
            &format!("/api/v1/users/{dave}/events"),
            Some(json!({"event": "connect"})),
        )
        .await;
    assert_eq!(
        (s, r["error"]["code"].as_str()),
        (400, Some("INVALID_PAYLOAD"))
    );
    let mut d = nodes[0].connect(&dave).await;
    for n in 0..3 {
        assert_eq!(d.wait_for("job", T).await, json!(n), "in order");
    }
    d.expect_none("ping", QUIET).await;

    // Presence and notifications.
    let (s, r) = nodes[1]
        .api(
            "GET",
            &format!("/api/v1/presence?userIds={alice},{dave},nobody"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(r["presences"][0]["status"], "online");
    assert_eq!(r["presences"][2]["status"], "offline");
    let (s, r) = nodes[1]
        .api(
            "POST",
            "/api/v1/notifications",
            Some(json!({"userIds": [alice], "title": "Deploy done", "priority": "high"})),
        )
        .await;
    assert_eq!((s, r["notified"].as_i64()), (201, Some(1)));
    let n = a.wait_for("notification:new", T).await;
    assert_eq!(n["notification"]["type"], "system");
    assert_eq!(n["notification"]["priority"], "high");

    // Channels: the server publishes where clients may not.
    let mut sub = nodes[0].connect(&unique("reader")).await;
    crate::common::ok(
        &mut sub,
        "channel:subscribe",
        json!({"channel": "public:news"}),
    )
    .await;
    let (s, _) = nodes[1]
        .api(
            "POST",
            "/api/v1/channels/public:news/publish",
            Some(json!({"data": {"headline": "hi"}})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        sub.wait_for("channel:message", T).await["data"]["headline"],
        "hi"
    );
    let (s, _) = nodes[1]
        .api(
            "POST",
            "/api/v1/channels/unruled/publish",
            Some(json!({"data": 1})),
        )
        .await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn admin_stats_sessions_disconnect_and_broadcast_across_three_nodes() {
    let nodes = TestApp::cluster(3).await;
    let (u, v) = (unique("u"), unique("v"));
    let mut u0 = nodes[0].connect_device(&u, "phone").await;
    let mut u1 = nodes[1].connect_device(&u, "laptop").await;
    let mut v2 = nodes[2].connect(&v).await;

    let (s, st) = nodes[2].admin("GET", "/admin/stats", None).await;
    assert_eq!(s, 200, "{st}");
    assert_eq!(st["connections"]["node"], 1);
    assert_eq!(st["connections"]["cluster"], 3);
    let listed: BTreeSet<String> = st["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["nodeId"].as_str().unwrap().to_string())
        .collect();
    let ids: BTreeSet<String> = nodes.iter().map(|n| n.app().node_id.clone()).collect();
    assert_eq!(listed, ids);
    assert!(st["queues"]["webhooks"]["dead"].is_number());

    let (_, r) = nodes[2]
        .admin("GET", &format!("/admin/sessions?userId={u}"), None)
        .await;
    let mut seen: Vec<(String, String)> = r["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["deviceId"].as_str().unwrap().into(),
                s["nodeId"].as_str().unwrap().into(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("laptop".to_string(), nodes[1].app().node_id.clone()),
            ("phone".to_string(), nodes[0].app().node_id.clone()),
        ]
    );

    let (s, _) = nodes[2]
        .admin(
            "POST",
            "/admin/broadcast",
            Some(json!({"event": "maintenance", "data": {"in": 5}})),
        )
        .await;
    assert_eq!(s, 200);
    for c in [&mut u0, &mut u1, &mut v2] {
        assert_eq!(c.wait_for("maintenance", T).await["in"], 5);
    }
    nodes[0]
        .admin(
            "POST",
            "/admin/broadcast",
            Some(json!({"event": "hey", "data": 1, "userId": v})),
        )
        .await;
    assert_eq!(v2.wait_for("hey", T).await, 1);
    u0.expect_none("hey", QUIET).await;
    let (s, _) = nodes[0]
        .admin(
            "POST",
            "/admin/broadcast",
            Some(json!({"event": "x", "userId": v, "chatId": "c"})),
        )
        .await;
    assert_eq!(s, 400);

    let (s, r) = nodes[2]
        .admin("POST", &format!("/admin/users/{u}/disconnect"), None)
        .await;
    assert_eq!((s, r["sessions"].as_i64()), (200, Some(2)));
    u0.closed().await;
    u1.closed().await;
    assert!(v2.is_connected());
}

/// PROTOCOL §11: history over HTTP with the integration key, or with a
/// member's JWT (a web widget before it opens a socket).
async fn history_over_http(nodes: &[TestNode]) {
    use crate::common::app::token;
    let (a, b, m) = (unique("a"), unique("b"), unique("m"));
    let mut alice = nodes[0].connect(&a).await;
    let chat = crate::common::ok(
        &mut alice,
        "chat:create",
        json!({"kind": "group", "members": [b]}),
    )
    .await["chat"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for i in 1..=5 {
        crate::common::ok(
            &mut alice,
            "message:new",
            json!({"chatId": chat, "content": format!("m{i}")}),
        )
        .await;
    }
    let node = &nodes[nodes.len() - 1];
    let seqs = crate::common::seqs;
    let path = |q: &str| format!("/api/v1/chats/{chat}/messages{q}");
    let (s, r) = node.http("GET", &path(""), Some(API_KEY), None).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        (seqs(&r), r["hasMore"].clone()),
        (vec![1, 2, 3, 4, 5], json!(false))
    );
    assert_eq!(r["messages"][0]["content"], "m1");
    let (_, r) = node
        .http("GET", &path("?limit=2"), Some(API_KEY), None)
        .await;
    assert_eq!((seqs(&r), r["hasMore"].clone()), (vec![4, 5], json!(true)));
    let (_, r) = node
        .http("GET", &path("?beforeSeq=4&limit=2"), Some(API_KEY), None)
        .await;
    assert_eq!(seqs(&r), vec![2, 3]);
    let (_, r) = node
        .http("GET", &path("?afterSeq=3"), Some(API_KEY), None)
        .await;
    assert_eq!((seqs(&r), r["hasMore"].clone()), (vec![4, 5], json!(false)));
    // A member's token reads; another user's is refused; no credential,
    // a bad one, an unknown chat and bad paging get their codes.
    let (s, r) = node
        .http("GET", &path("?limit=1"), Some(&token(&b)), None)
        .await;
    assert_eq!((s, seqs(&r)), (200, vec![5]), "{r}");
    let (s, r) = node.http("GET", &path(""), Some(&token(&m)), None).await;
    assert_eq!(
        (s, r["error"]["code"].clone()),
        (403, json!("FORBIDDEN")),
        "{r}"
    );
    let (s, _) = node.http("GET", &path(""), None, None).await;
    assert_eq!(s, 401);
    let (s, _) = node.http("GET", &path(""), Some("not-a-token"), None).await;
    assert_eq!(s, 401);
    let unknown = format!("/api/v1/chats/{}/messages", unique("nochat"));
    let (s, r) = node.http("GET", &unknown, Some(API_KEY), None).await;
    assert_eq!(
        (s, r["error"]["code"].clone()),
        (404, json!("NOT_FOUND")),
        "{r}"
    );
    let (s, _) = node.http("GET", &unknown, Some(&token(&a)), None).await;
    assert_eq!(s, 404);
    for bad in [
        "?limit=0",
        "?limit=101",
        "?beforeSeq=3&afterSeq=1",
        "?limit=x",
        "?page=2",
    ] {
        let (s, r) = node.http("GET", &path(bad), Some(API_KEY), None).await;
        assert_eq!(
            (s, r["error"]["code"].clone()),
            (400, json!("INVALID_PAYLOAD")),
            "{bad}: {r}"
        );
    }
}

#[tokio::test]
async fn history_over_http_on_the_memory_backend() {
    let node = TestApp::memory().start().await;
    history_over_http(std::slice::from_ref(&node)).await;
}

#[tokio::test]
async fn history_over_http_across_nodes() {
    let nodes = TestApp::cluster(2).await;
    history_over_http(&nodes).await;
}

/// PROTOCOL §10: the HTTP API has budgets too: per integration key and
/// route class (`SB_RATE_API`) and for inbound automation replies
/// (`SB_RATE_INBOUND`). Over one: 429 with `Retry-After` and the envelope.
async fn api_budgets(nodes: &[TestNode]) {
    let client = reqwest::Client::new();
    let get = |i: usize, key: &str| {
        client
            .get(format!(
                "{}/api/v1/presence?userIds=a",
                nodes[i % nodes.len()].url
            ))
            .bearer_auth(key)
            .send()
    };
    // A wrong key is refused and spends nothing.
    for _ in 0..5 {
        assert_eq!(get(0, "wrong-key").await.unwrap().status(), 401);
    }
    // Three per minute for the class, shared by every node.
    for i in 0..3 {
        assert_eq!(get(i, API_KEY).await.unwrap().status(), 200);
    }
    let r = get(1, API_KEY).await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry), "one request per 20 s: {retry}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    assert!(
        body["error"]["retryAfterMs"].as_u64().unwrap() > 0,
        "{body}"
    );
    // Another route class has its own budget.
    let chat = unique("c");
    let (s, r) = nodes[0]
        .api(
            "PUT",
            &format!("/api/v1/chats/{chat}"),
            Some(json!({"kind": "group", "members": ["x"]})),
        )
        .await;
    assert_eq!(s, 200, "{r}");

    // Inbound replies: signed ones spend the budget, even unknown ones.
    let now = switchboard::time::now_secs();
    let inbound = |body: Value| {
        let sig = switchboard::webhooks::sign::sign(HOOK_SECRET, now, body.to_string().as_bytes());
        client
            .post(format!("{}/api/v1/webhooks/inbound", nodes[0].url))
            .header("content-type", "application/json")
            .header("x-switchboard-signature", sig)
            .body(body.to_string())
            .send()
    };
    for _ in 0..2 {
        let r = inbound(json!({"correlationId": unique("corr"), "replies": []}))
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    let r = inbound(json!({"correlationId": unique("corr"), "replies": []}))
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
}

const HOOK_SECRET: &str = "budget-hook-secret-0123456789";

fn small_budgets(c: &mut switchboard::config::Config) {
    use switchboard::rate_limit::Action;
    crate::common::app::set_limit(c, Action::Api, "3/60");
    crate::common::app::set_limit(c, Action::Inbound, "2/60");
    c.webhooks.url = Some("http://127.0.0.1:9/hook".into());
    c.webhooks.secret = Some(HOOK_SECRET.into());
}

#[tokio::test]
async fn api_budgets_on_the_memory_backend() {
    let node = TestApp::memory().with(small_budgets).start().await;
    api_budgets(std::slice::from_ref(&node)).await;
}

#[tokio::test]
async fn api_budgets_across_nodes() {
    let nodes = TestApp::cluster_with(3, false, small_budgets).await;
    api_budgets(&nodes).await;
}

/// PROTOCOL §11: `/admin/stats` reports uptime, the node's peak, its rooms
/// and its busiest channels with subscriber counts.
#[tokio::test]
async fn admin_stats_show_peaks_rooms_channels_and_uptime() {
    let node = TestApp::memory().start().await;
    let mut clients = Vec::new();
    for i in 0..3 {
        clients.push(node.connect(&unique(&format!("s{i}"))).await);
    }
    let news = format!("public:{}", unique("news"));
    let other = format!("public:{}", unique("other"));
    for (c, ch) in clients.iter_mut().zip([&news, &news, &other]) {
        crate::common::ok(c, "channel:subscribe", json!({ "channel": ch })).await;
    }
    clients.pop().unwrap().disconnect().await;
    let mut st = Value::Null;
    for _ in 0..50 {
        st = node.admin("GET", "/admin/stats", None).await.1;
        if st["connections"]["node"] == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(st["connections"]["node"], 2, "{st}");
    assert_eq!(st["connections"]["nodePeak"], 3, "{st}");
    assert!(st["uptimeSecs"].as_u64().is_some(), "{st}");
    assert_eq!(st["startedAt"].as_str().unwrap().len(), 24, "{st}");
    assert_eq!(st["rooms"]["users"], 2, "{st}");
    assert_eq!(
        st["rooms"]["channels"], 1,
        "the other channel's only subscriber left: {st}"
    );
    assert_eq!(
        st["channels"],
        json!([{ "channel": news, "subscribers": 2 }]),
        "{st}"
    );
}

/// `clusterPeak`: the most connections the cluster's registry counted at
/// once, the same on every node, kept after the connections close.
#[tokio::test]
async fn admin_stats_show_the_cluster_peak() {
    let nodes = TestApp::cluster(2).await;
    let stats = |i: usize| {
        let node = &nodes[i];
        async move { node.admin("GET", "/admin/stats", None).await.1 }
    };
    let until = |want: u64| async move {
        for _ in 0..100 {
            let st = stats(0).await;
            if st["connections"]["cluster"] == want {
                return st;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the cluster never counted {want} connections");
    };
    let mut clients = Vec::new();
    for i in 0..3 {
        clients.push(nodes[i % 2].connect(&unique(&format!("p{i}"))).await);
    }
    until(3).await;
    for mut c in clients.drain(1..) {
        c.disconnect().await;
    }
    let st = until(1).await;
    assert_eq!(st["connections"]["clusterPeak"], 3, "{st}");
    assert_eq!(stats(1).await["connections"]["clusterPeak"], 3);
}

/// `clusterChannels`: every node's channel subscribers, summed, busiest
/// first, on whichever node is asked.
#[tokio::test]
async fn admin_stats_sum_channels_across_nodes() {
    let nodes = TestApp::cluster(2).await;
    let news = format!("public:{}", unique("news"));
    let other = format!("public:{}", unique("other"));
    let mut clients = Vec::new();
    for (i, ch) in [&news, &news, &news, &other].into_iter().enumerate() {
        let mut c = nodes[i % 2].connect(&unique(&format!("c{i}"))).await;
        crate::common::ok(&mut c, "channel:subscribe", json!({ "channel": ch })).await;
        clients.push(c);
    }
    let want = json!([
        { "channel": news, "subscribers": 3 },
        { "channel": other, "subscribers": 1 },
    ]);
    let mut st = Value::Null;
    // Published at each node's heartbeat (every second here).
    for _ in 0..100 {
        st = nodes[1].admin("GET", "/admin/stats", None).await.1;
        if st["clusterChannels"] == want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(st["clusterChannels"], want, "{st}");
    // Node 1 alone holds one subscriber of each.
    assert_eq!(st["channels"].as_array().unwrap().len(), 2, "{st}");
}

/// The admin console is served with a strict policy when there is an admin
/// key, and not at all without one or with `SB_ADMIN_UI=false`.
#[tokio::test]
async fn the_admin_console_is_served_only_with_an_admin_key() {
    let node = TestApp::memory().start().await;
    for (path, kind) in [
        ("/admin/ui/", "text/html"),
        ("/admin/ui/app.js", "text/javascript"),
        ("/admin/ui/api.js", "text/javascript"),
        ("/admin/ui/style.css", "text/css"),
    ] {
        let r = reqwest::get(format!("{}{path}", node.url)).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers();
        assert!(
            h["content-type"].to_str().unwrap().starts_with(kind),
            "{path}"
        );
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
    }
    // The page's data needs the key: without it, 401.
    assert_eq!(node.http("GET", "/admin/stats", None, None).await.0, 401);
    for off in [
        TestApp::memory()
            .with(|c| c.api.admin_key = None)
            .start()
            .await,
        TestApp::memory()
            .with(|c| c.api.admin_ui = false)
            .start()
            .await,
    ] {
        let r = reqwest::get(format!("{}/admin/ui/", off.url))
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
}
