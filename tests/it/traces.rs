//! Traces across nodes: three real node processes on one Redis export to a
//! real OTLP/HTTP receiver running in the test (protobuf decoded with
//! `opentelemetry-proto`). One `message:new` sent on node A, with members on
//! B and C, must give one trace holding A's handler span, the Redis span,
//! the delivery spans of B and C (each with its own `service.instance.id`),
//! and the webhook request, whose `traceparent` the automation receives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message as _;
use serde_json::json;
use switchboard::testing::RedisServer;

use crate::common::app::{token, unique, TestNode};
use crate::common::automation::{Automation, Mode};
use crate::common::process::Process;
use crate::common::{ok, T};

/// One received span, flattened: its resource's and its own attributes.
#[derive(Clone, Debug)]
struct Got {
    trace_id: String,
    span_id: String,
    parent: String,
    name: String,
    resource: HashMap<String, String>,
    attrs: HashMap<String, String>,
}

fn flat(kvs: &[KeyValue]) -> HashMap<String, String> {
    kvs.iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Any::StringValue(s)) => s.clone(),
                Some(Any::IntValue(i)) => i.to_string(),
                Some(Any::BoolValue(b)) => b.to_string(),
                Some(Any::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), v)
        })
        .collect()
}

type Spans = Arc<Mutex<Vec<Got>>>;

async fn export(State(spans): State<Spans>, body: Bytes) -> Vec<u8> {
    let req = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf export");
    let mut got = spans.lock().unwrap();
    for rs in req.resource_spans {
        let resource = flat(&rs.resource.map(|r| r.attributes).unwrap_or_default());
        for ss in rs.scope_spans {
            for s in ss.spans {
                got.push(Got {
                    trace_id: hex::encode(&s.trace_id),
                    span_id: hex::encode(&s.span_id),
                    parent: hex::encode(&s.parent_span_id),
                    name: s.name.clone(),
                    resource: resource.clone(),
                    attrs: flat(&s.attributes),
                });
            }
        }
    }
    ExportTraceServiceResponse::default().encode_to_vec()
}

/// An OTLP/HTTP receiver on a free port: `(endpoint, spans)`.
async fn receiver() -> (String, Spans) {
    let spans: Spans = Default::default();
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(export))
        .with_state(spans.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), spans)
}

/// Waits until `pred` holds for the received spans; returns them.
async fn until(spans: &Spans, what: &str, pred: impl Fn(&[Got]) -> bool) -> Vec<Got> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = spans.lock().unwrap().clone();
        if pred(&now) {
            return now;
        }
        assert!(Instant::now() < deadline, "{what}; spans: {now:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn one_message_is_one_trace_across_three_nodes_and_the_webhook() {
    let redis = RedisServer::shared();
    let (endpoint, spans) = receiver().await;
    let automation = Automation::start(Mode::Status(200)).await;
    let prefix = format!("{}:", unique("tr"));
    let nodes: Vec<Process> = ["node-a", "node-b", "node-c"]
        .iter()
        .map(|id| {
            Process::start(&[
                ("SB_NODE_ID", id),
                ("SB_REDIS_URL", &redis.url()),
                ("SB_REDIS_PREFIX", &prefix),
                ("SB_WEBHOOK_URL", &automation.url),
                ("SB_WEBHOOK_SECRET", "webhook-secret-0123456789"),
                ("SB_WEBHOOK_EVENTS", "message:new"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
                ("OTEL_BSP_SCHEDULE_DELAY", "100"),
                ("SB_LOG", "warn"),
            ])
        })
        .collect();
    for n in &nodes {
        n.wait_for("/ready", 200, Duration::from_secs(20)).await;
    }
    let (alice, bob, carol) = (unique("alice"), unique("bob"), unique("carol"));
    let node = |i: usize| TestNode::external(nodes[i].url.clone());
    let mut a = node(0).connect(&alice).await;
    let mut b = node(1).connect(&bob).await;
    let mut c = node(2).connect(&carol).await;
    let chat = crate::common::group(&mut a, &[&bob, &carol], &mut [&mut b, &mut c]).await;
    let content = format!("secret-content-{}", unique("x"));
    let sent = ok(
        &mut a,
        "message:new",
        json!({"chatId": chat, "content": content, "clientId": unique("c")}),
    )
    .await;
    let message_id = sent["message"]["id"].as_str().unwrap().to_string();
    b.wait_for("message:new", T).await;
    c.wait_for("message:new", T).await;

    // The handler span on A, with the messaging attributes.
    let all = until(&spans, "no message:new span", |s| {
        s.iter().any(|g| {
            g.name == "message:new" && g.attrs.get("messaging.message.id") == Some(&message_id)
        })
    })
    .await;
    let handler = all
        .iter()
        .find(|g| {
            g.name == "message:new" && g.attrs.get("messaging.message.id") == Some(&message_id)
        })
        .unwrap()
        .clone();
    assert_eq!(handler.resource["service.instance.id"], "node-a");
    assert_eq!(handler.resource["service.name"], "switchboard");
    assert!(handler.resource.contains_key("service.version"));
    assert!(handler.resource.contains_key("host.name"));
    assert_eq!(handler.attrs["messaging.system"], "socketio");
    assert_eq!(handler.attrs["messaging.operation.type"], "send");
    assert_eq!(handler.attrs["messaging.destination.name"], chat);
    assert_eq!(handler.attrs["switchboard.chat_id"], chat);
    assert_ne!(
        handler.attrs["enduser.id"], alice,
        "user ids are hashed by default"
    );
    let trace = handler.trace_id.clone();

    // In the same trace: Redis on A, deliveries on B and C, the webhook.
    let all = until(&spans, "the trace is not complete", |s| {
        let t: Vec<&Got> = s.iter().filter(|g| g.trace_id == trace).collect();
        let delivered = |node: &str| {
            t.iter()
                .any(|g| g.name == "deliver" && g.resource["service.instance.id"] == node)
        };
        t.iter().any(|g| g.name == "EVALSHA")
            && delivered("node-b")
            && delivered("node-c")
            && t.iter().any(|g| g.name == "webhook POST")
    })
    .await;
    let t: Vec<&Got> = all.iter().filter(|g| g.trace_id == trace).collect();
    let redis_span = t.iter().find(|g| g.name == "EVALSHA").unwrap();
    assert_eq!(redis_span.attrs["db.system.name"], "redis");
    assert_eq!(redis_span.resource["service.instance.id"], "node-a");
    for n in ["node-b", "node-c"] {
        let d = t
            .iter()
            .find(|g| g.name == "deliver" && g.resource["service.instance.id"] == n)
            .unwrap();
        assert_eq!(
            d.parent, handler.span_id,
            "{n}'s delivery is a child of A's handler"
        );
        assert_eq!(d.attrs["switchboard.recipients"], "1", "{d:?}");
        assert!(
            d.attrs["messaging.message.body.size"]
                .parse::<u64>()
                .unwrap()
                > 0
        );
        assert!(
            d.attrs["messaging.destination.name"].contains(&chat),
            "{d:?}"
        );
    }

    // The automation saw the same trace id in `traceparent`.
    let got = automation.wait_for(1, T).await;
    let tp = got[0]
        .headers
        .get("traceparent")
        .expect("the webhook request carries traceparent")
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(tp.split('-').nth(1), Some(trace.as_str()), "{tp}");

    // Nothing holds the content or a token.
    let tok = token(&alice);
    for g in &all {
        for v in g.attrs.values().chain(g.resource.values()) {
            assert!(!v.contains(&content), "content in {g:?}");
            assert!(!v.contains(&tok[..40]), "token in {g:?}");
        }
    }
    for n in nodes {
        n.stop();
    }
}

#[tokio::test]
async fn an_incoming_traceparent_is_honoured_on_the_http_api() {
    let (endpoint, spans) = receiver().await;
    let node = Process::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("SB_API_KEY", "trace-test-api-key-0123"),
    ]);
    node.wait_for("/ready", 200, T).await;
    let parent_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/presence?userIds=x", node.url))
        .bearer_auth("trace-test-api-key-0123")
        .header(
            "traceparent",
            format!("00-{parent_trace}-00f067aa0ba902b7-01"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let all = until(&spans, "no span for the API request", |s| {
        s.iter().any(|g| g.trace_id == parent_trace)
    })
    .await;
    let span = all.iter().find(|g| g.trace_id == parent_trace).unwrap();
    assert_eq!(span.parent, "00f067aa0ba902b7");
    assert_eq!(span.attrs["http.route"], "/api/v1/presence");
    assert_eq!(span.attrs["http.request.method"], "GET");
    assert_eq!(span.attrs["http.response.status_code"], "200");
    // The access-log line of that request names the same trace.
    let lines = node.stop();
    let access = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["message"] == "request" && l["span"]["http.route"] == "/api/v1/presence")
        .expect("an access-log line for the request");
    assert_eq!(access["trace_id"], parent_trace, "{access}");
    assert_eq!(access["span_id"], span.span_id, "{access}");
}
