//! OpenTelemetry traces, configured only by the standard variables:
//! `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_PROTOCOL` / `..._TRACES_PROTOCOL` (`http/protobuf`,
//! the default, or `grpc`), `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER` / `_ARG`, `OTEL_SDK_DISABLED`, and the batch
//! processor's `OTEL_BSP_*`.
//!
//! Off when no endpoint is set: then [`enabled`] is false and every span
//! helper here returns `Span::none()`, so the hot paths pay one relaxed
//! atomic load. On, spans go through `tracing-opentelemetry` to a batch
//! exporter, flushed by [`Tracing::shutdown`].
//!
//! The trace context crosses process boundaries as a W3C `traceparent`:
//! from HTTP requests and the Socket.IO handshake (in), to webhook requests
//! (out), through the after-store hook and the webhook queue (stored with
//! the delivery), and between nodes inside the Redis pub/sub frame
//! (`realtime/pubsub.rs`), where clients never see it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry::KeyValue;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

static ENABLED: AtomicBool = AtomicBool::new(false);
static USER_IDS: OnceLock<UserIds> = OnceLock::new();

/// Whether traces are exported (a span is worth building).
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

pub use crate::config::TraceUserIds as UserIds;

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    HttpProtobuf,
    Grpc,
}

/// What the standard variables ask for: `None` when traces are off
/// (`OTEL_SDK_DISABLED=true`, or no endpoint). An unknown protocol is an
/// error.
pub fn wanted(env: &HashMap<String, String>) -> Result<Option<Protocol>, String> {
    let get = |k: &str| env.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    if get("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    if get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_none()
        && get("OTEL_EXPORTER_OTLP_ENDPOINT").is_none()
    {
        return Ok(None);
    }
    let protocol = get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|| get("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .unwrap_or("http/protobuf");
    match protocol {
        "http/protobuf" => Ok(Some(Protocol::HttpProtobuf)),
        "grpc" => Ok(Some(Protocol::Grpc)),
        other => Err(format!(
            "OTEL_EXPORTER_OTLP_PROTOCOL={other:?} is not supported: use http/protobuf or grpc"
        )),
    }
}

/// The running exporter; [`Tracing::shutdown`] flushes what is buffered.
pub struct Tracing {
    provider: SdkTracerProvider,
}

impl Tracing {
    pub fn shutdown(&self) {
        ENABLED.store(false, Ordering::Relaxed);
        if let Err(e) = self.provider.shutdown() {
            eprintln!("traces: flush at shutdown failed: {e}");
        }
    }

    /// The tracer for the `tracing-opentelemetry` layer.
    pub fn tracer(&self) -> opentelemetry_sdk::trace::Tracer {
        use opentelemetry::trace::TracerProvider;
        self.provider.tracer("switchboard")
    }
}

/// Builds the exporter and the provider. The gRPC exporter needs a Tokio
/// runtime context (call inside `Runtime::enter`); the HTTP one must not be
/// built inside a runtime (it runs its own blocking client).
pub fn start(protocol: Protocol, node_id: &str, user_ids: UserIds) -> Result<Tracing, String> {
    use opentelemetry_otlp::WithExportConfig;
    let exporter = match protocol {
        Protocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .build(),
        Protocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build(),
    }
    .map_err(|e| format!("OTLP exporter: {e}"))?;
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let service = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "switchboard".into());
    // Ours first; OTEL_RESOURCE_ATTRIBUTES (the env detector) may override.
    let resource = opentelemetry_sdk::Resource::builder_empty()
        .with_attributes([
            KeyValue::new("service.name", service),
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("service.instance.id", node_id.to_string()),
            KeyValue::new("host.name", host),
        ])
        .with_detector(Box::new(
            opentelemetry_sdk::resource::EnvResourceDetector::new(),
        ))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    let _ = USER_IDS.set(user_ids);
    ENABLED.store(true, Ordering::Relaxed);
    Ok(Tracing { provider })
}

/// A user id as spans show it (`SB_TRACE_USER_IDS`), or `None`.
pub fn user_attr(user: &str) -> Option<String> {
    match USER_IDS.get().copied().unwrap_or(UserIds::Hash) {
        UserIds::Off => None,
        UserIds::Plain => Some(user.to_string()),
        UserIds::Hash => {
            use sha2::{Digest, Sha256};
            Some(hex::encode(&Sha256::digest(user.as_bytes())[..8]))
        }
    }
}

/// The span of one client event: messaging conventions, the destination
/// and message id recorded later by the service ([`record_message`]).
pub fn event_span(event: &'static str, socket_id: &str, user: &str) -> Span {
    if !enabled() {
        return Span::none();
    }
    let span = tracing::info_span!(
        "socket event",
        otel.name = event,
        otel.kind = "server",
        messaging.system = "socketio",
        messaging.operation.name = event,
        messaging.operation.type = operation_type(event),
        messaging.destination.name = tracing::field::Empty,
        messaging.message.id = tracing::field::Empty,
        switchboard.chat_id = tracing::field::Empty,
        switchboard.socket_id = socket_id,
        enduser.id = tracing::field::Empty,
        error.type = tracing::field::Empty,
    );
    if let Some(u) = user_attr(user) {
        span.record("enduser.id", u);
    }
    span
}

/// `send` for events that publish to others, `process` for the rest.
fn operation_type(event: &str) -> &'static str {
    match event {
        "message:new"
        | "message:typing"
        | "message:stop-typing"
        | "channel:publish"
        | "reaction:add"
        | "reaction:remove" => "send",
        _ => "process",
    }
}

/// On the current event span: where the message went and its id.
pub fn record_message(chat_id: &str, message_id: &str) {
    if !enabled() {
        return;
    }
    let span = Span::current();
    span.record("messaging.destination.name", chat_id);
    span.record("switchboard.chat_id", chat_id);
    span.record("messaging.message.id", message_id);
}

/// The span of one Socket.IO handshake; `traceparent` (from
/// `auth.traceparent` or the request header) is only read when traces are
/// exported.
pub fn connect_span(socket_id: &str, traceparent: impl FnOnce() -> Option<String>) -> Span {
    if !enabled() {
        return Span::none();
    }
    let span = tracing::info_span!(
        "socket connect",
        otel.name = "connect",
        otel.kind = "server",
        messaging.system = "socketio",
        messaging.operation.name = "connect",
        switchboard.socket_id = socket_id,
        error.type = tracing::field::Empty,
    );
    set_parent(&span, traceparent().as_deref());
    span
}

/// A client span around one Redis script (`db.system.name=redis`; never
/// keys or values).
pub fn redis_span(operation: &'static str) -> Span {
    if !enabled() {
        return Span::none();
    }
    tracing::info_span!(
        "redis",
        otel.name = operation,
        otel.kind = "client",
        db.system.name = "redis",
        db.operation.name = operation,
    )
}

/// The W3C `traceparent` of the current span, when there is a sampled or
/// recorded one.
pub fn current_traceparent() -> Option<String> {
    traceparent_of(&Span::current())
}

/// The W3C `traceparent` of `span`, when it is exported.
pub fn traceparent_of(span: &Span) -> Option<String> {
    if !enabled() {
        return None;
    }
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        )
    })
}

/// The context a `traceparent` names (`None` when malformed).
pub fn context_of(traceparent: &str) -> Option<opentelemetry::Context> {
    let mut carrier = HashMap::new();
    carrier.insert("traceparent".to_string(), traceparent.to_string());
    let cx = TraceContextPropagator::new().extract(&carrier);
    cx.span().span_context().is_valid().then_some(cx)
}

/// Makes `span` a child of the context `traceparent` names, if any.
pub fn set_parent(span: &Span, traceparent: Option<&str>) {
    if !enabled() {
        return;
    }
    if let Some(cx) = traceparent.and_then(context_of) {
        let _ = span.set_parent(cx);
    }
}

/// A span continuing a stored or received context (hook workers, webhook
/// deliveries, cross-node deliveries).
pub fn continued(name: &'static str, kind: &'static str, traceparent: Option<&str>) -> Span {
    if !enabled() || traceparent.is_none() {
        return Span::none();
    }
    let span = tracing::info_span!(
        "continued",
        otel.name = name,
        otel.kind = kind,
        messaging.system = "socketio",
        messaging.destination.name = tracing::field::Empty,
        messaging.message.body.size = tracing::field::Empty,
        switchboard.recipients = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        server.address = tracing::field::Empty,
    );
    set_parent(&span, traceparent);
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn off_unless_an_endpoint_is_set_and_the_sdk_is_not_disabled() {
        assert_eq!(wanted(&env(&[])).unwrap(), None);
        let ep = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
        assert_eq!(wanted(&env(&[ep])).unwrap(), Some(Protocol::HttpProtobuf));
        assert_eq!(
            wanted(&env(&[ep, ("OTEL_SDK_DISABLED", "true")])).unwrap(),
            None
        );
        assert_eq!(
            wanted(&env(&[ep, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")])).unwrap(),
            Some(Protocol::Grpc)
        );
        assert_eq!(
            wanted(&env(&[
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://x:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
            ]))
            .unwrap(),
            Some(Protocol::Grpc)
        );
        assert!(wanted(&env(&[ep, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")])).is_err());
    }

    #[test]
    fn traceparents_parse_or_are_refused() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let cx = context_of(tp).expect("valid");
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        for bad in [
            "",
            "00-zz-00-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        ] {
            assert!(context_of(bad).is_none(), "{bad}");
        }
    }
}
