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
];

async fn documented(node: &TestNode) -> BTreeSet<(String, String)> {
    let (status, doc) = node.http("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.insert((method.clone(), path.clone()));
        }
    }
    out
}

fn concrete(path: &str) -> String {
    path.replace("{userId}", "someone")
        .replace("{chatId}", "some-chat")
        .replace("{channel}", "public:x")
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
            let body: Value = r.json().await.unwrap();
            // The inbound route wants its signature (none here), the others
            // the right key: all 401.
            assert_eq!(status, 401, "{method} {path} with {key:?}: {body}");
            assert_eq!(body["error"]["code"], "UNAUTHORIZED", "{path}");
            assert!(body["error"]["message"].is_string());
        }
        if *method == "get" || *method == "delete" || (admin && path.contains("disconnect")) {
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
