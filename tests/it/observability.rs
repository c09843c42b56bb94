//! What an SRE relies on: `/metrics` in the exposition format with the
//! whole vocabulary from the first second of a fresh process, values that
//! move as a session runs, `/metrics` through Redis outages, JSON logs from
//! the first line, and the internal listener.
//!
//! The node under test is the real binary in its own process (a fresh
//! metrics registry, its real stdout).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchboard::telemetry::metrics::FAMILIES;
use switchboard::testing::RedisServer;

use crate::common::app::{unique, TestApp, TestNode, SECRET};
use crate::common::process::Process;
use crate::common::{ok, T};

/// Checks the page against the exposition format and the OpenMetrics name
/// rules, then parses it with `prometheus-parse`.
fn parse(page: &str) -> prometheus_parse::Scrape {
    let mut help = HashSet::new();
    let mut types: HashMap<String, String> = HashMap::new();
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(help.insert(name.to_string()), "two HELP lines for {name}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split(' ');
            let (name, kind) = (it.next().unwrap(), it.next().unwrap());
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "two TYPE lines for {name}"
            );
        }
    }
    // Every sample belongs to a family with both HELP and TYPE.
    for line in page
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name = line.split(['{', ' ']).next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s).filter(|b| {
                    types
                        .get(*b)
                        .is_some_and(|t| t == "histogram" || t == "summary")
                })
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "no # TYPE for {name}");
        assert!(help.contains(family), "no # HELP for {family}");
    }
    // OpenMetrics: a counter `x_total` is family `x`; no two families may
    // share a name, and none may be another's name plus a reserved suffix.
    let om: Vec<String> = types
        .iter()
        .map(|(n, t)| match t.as_str() {
            "counter" => n.strip_suffix("_total").unwrap_or(n).to_string(),
            _ => n.clone(),
        })
        .collect();
    let unique: HashSet<&String> = om.iter().collect();
    assert_eq!(unique.len(), om.len(), "family names clash: {om:?}");
    for a in &om {
        for b in &om {
            for suffix in ["_total", "_created", "_bucket", "_count", "_sum", "_info"] {
                assert_ne!(*b, format!("{a}{suffix}"), "{b} clashes with {a}");
            }
        }
    }
    prometheus_parse::Scrape::parse(page.lines().map(|l| Ok(l.to_string()))).expect("parses")
}

/// A counter or gauge sample's value (labels must all match).
fn value(s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == name)
        .filter(|x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match x.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => panic!("{name} is not a counter or gauge"),
        })
        .sum()
}

/// A histogram's observation count (from its `_count` line).
fn count(page: &str, name: &str) -> f64 {
    page.lines()
        .filter(|l| l.starts_with(&format!("{name}_count")))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

#[tokio::test]
async fn metrics_and_logs_from_the_first_second_through_redis_outages() {
    let redis = RedisServer::start();
    redis.stop();
    let url = redis.url();
    let node = Process::start(&[
        ("SB_REDIS_URL", &url),
        ("SB_REDIS_PREFIX", "obs:"),
        ("SB_REDIS_TIMEOUT_MS", "500"),
        ("SB_NODE_HEARTBEAT_SECS", "1"),
        ("SB_NODE_ID", "obs-node"),
    ]);

    // Redis is down: /metrics serves the whole vocabulary at once.
    let page = node.wait_for("/metrics", 200, T).await;
    let scrape = parse(&page);
    for f in FAMILIES {
        assert!(
            page.contains(&format!("# HELP {} ", f.name)),
            "{} missing on a fresh node",
            f.name
        );
        assert!(page.contains(&format!("# TYPE {} {}", f.name, f.kind.as_str())));
    }
    for p in [
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
    ] {
        assert!(page.contains(&format!("# TYPE {p} ")), "{p} missing");
    }
    assert_eq!(value(&scrape, "switchboard_connections", &[]), 0.0);
    assert_eq!(
        value(
            &scrape,
            "switchboard_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    let body = node.wait_for("/ready", 503, T).await;
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["status"], "not-ready", "{ready}");
    assert!(
        ready["reason"].as_str().unwrap().contains("Redis"),
        "{ready}"
    );

    // Redis comes: the node gets ready; a scripted session moves the values.
    redis.start_again();
    node.wait_for("/ready", 200, Duration::from_secs(20)).await;
    let sio = TestNode::external(node.url.clone());
    let (alice, bob) = (unique("alice"), unique("bob"));
    let mut a = sio.connect(&alice).await;
    let mut b = sio.connect(&bob).await;
    let chat = crate::common::group(&mut a, &[&bob], &mut [&mut b]).await;
    let secret_text = format!("content-{}", unique("never-logged"));
    ok(
        &mut a,
        "message:new",
        json!({"chatId": chat, "content": secret_text, "clientId": unique("c")}),
    )
    .await;
    b.wait_for("message:new", T).await;
    let refused = a
        .emit_with_ack("message:new", json!({"chatId": chat}))
        .await
        .unwrap();
    assert_eq!(refused["error"]["code"], "INVALID_PAYLOAD");

    let page = node.get("/metrics").await.unwrap().1;
    let s = parse(&page);
    assert_eq!(value(&s, "switchboard_connections", &[]), 2.0);
    assert_eq!(value(&s, "switchboard_connects_total", &[]), 2.0);
    assert_eq!(
        value(&s, "switchboard_handshakes_total", &[("result", "ok")]),
        2.0
    );
    let sent = [("event", "message:new"), ("result", "OK")];
    assert_eq!(value(&s, "switchboard_events_total", &sent), 1.0);
    let bad = [("event", "message:new"), ("result", "INVALID_PAYLOAD")];
    assert_eq!(value(&s, "switchboard_events_total", &bad), 1.0);
    assert_eq!(value(&s, "switchboard_messages_stored_total", &[]), 1.0);
    assert!(value(&s, "switchboard_fanout_publishes_total", &[]) >= 1.0);
    assert!(count(&page, "switchboard_redis_script_duration_seconds") > 1.0);
    let ready_ok = [("route", "/ready"), ("status", "200")];
    assert!(value(&s, "switchboard_http_requests_total", &ready_ok) >= 1.0);
    a.disconnect().await;
    b.disconnect().await;

    // Redis goes away while running: /metrics stays 200 and counts errors.
    redis.stop();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, page) = node.get("/metrics").await.unwrap();
        assert_eq!(status, 200);
        let s = parse(&page);
        if value(
            &s,
            "switchboard_redis_errors_total",
            &[("kind", "unavailable")],
        ) > 0.0
        {
            break;
        }
        assert!(Instant::now() < deadline, "no Redis errors counted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    redis.start_again();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Production logs: one JSON object per line, from the first line.
    let lines = node.stop();
    assert!(lines.len() > 3, "{lines:?}");
    let logs: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for l in &logs {
        assert!(l["timestamp"].is_string() && l["level"].is_string(), "{l}");
        assert!(
            l["message"].is_string() && l["fields"]["message"].is_string(),
            "{l}"
        );
        assert_eq!(l["node_id"], "obs-node", "every line names the node: {l}");
    }
    let said = |msg: &str, level: &str| {
        logs.iter()
            .any(|l| l["fields"]["message"] == msg && l["level"] == level)
    };
    let unreachable = logs
        .iter()
        .find(|l| l["fields"]["message"] == "Redis is unreachable; retrying")
        .expect("a warning as soon as Redis is unreachable");
    assert_eq!(unreachable["level"], "WARN");
    assert!(unreachable["fields"]["error"].is_string(), "{unreachable}");
    assert!(said("Redis is reachable again", "INFO"), "{lines:#?}");
    let access = logs
        .iter()
        .find(|l| l["fields"]["message"] == "request" && l["span"]["http.route"] == "/ready")
        .expect("an access-log line for /ready");
    assert!(access["fields"]["status"].is_number(), "{access}");
    let all = lines.join("\n");
    assert!(!all.contains(&secret_text), "message content in the logs");
    assert!(!all.contains(SECRET), "the JWT secret in the logs");
}

#[tokio::test]
async fn the_internal_listener_serves_probes_and_metrics_only() {
    let node = TestApp::memory()
        .with(|c| {
            c.server.internal_port = Some(0);
            c.server.metrics_public = false;
        })
        .start()
        .await;
    let internal = node.internal_url().expect("an internal listener");
    assert_eq!(node.get("/metrics").await.0, 404);
    assert_eq!(node.get("/health").await.0, 200);
    for path in ["/metrics", "/health", "/ready"] {
        let r = reqwest::get(format!("{internal}{path}")).await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }
    let r = reqwest::get(format!("{internal}/api/v1/chats"))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    node.shutdown().await;
}
