//! The production log line: one JSON object per event, with stable
//! top-level names.
//!
//! `{ timestamp, level, node_id, message, fields, span, trace_id, span_id,
//! socket_id, user, event }`:
//! - `message` and `fields`: the event's message and its own fields;
//! - `node_id`: this node (set at start-up), on every line;
//! - `span`: the current span's name and fields (an HTTP request's
//!   `http.route`, a socket event's attributes);
//! - `trace_id`, `span_id`: the current span's trace context, when traces
//!   are exported;
//! - `socket_id`, `user` (hashed as on spans), `event`: lifted from the
//!   current span or the event's own fields when present.

use std::fmt;
use std::sync::OnceLock;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

static NODE_ID: OnceLock<String> = OnceLock::new();

/// Names this node on every log line (once, at start-up).
pub fn set_node_id(id: &str) {
    let _ = NODE_ID.set(id.to_string());
}

/// The event formatter of `SB_LOG_FORMAT=json`.
pub struct JsonLines;

struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(
            field.name().to_string(),
            Value::String(format!("{value:?}")),
        );
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_string(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_string(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_string(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_string(), value.into());
    }
}

/// Top-level names and where they may come from (span or event fields).
const LIFTED: &[(&str, &[&str])] = &[
    ("socket_id", &["switchboard.socket_id", "socket_id"]),
    ("user", &["enduser.id", "user"]),
    ("event", &["messaging.operation.name", "event"]),
];

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Map::new();
        event.record(&mut Fields(&mut fields));
        let mut line = Map::new();
        line.insert("timestamp".into(), crate::time::now_rfc3339().into());
        line.insert(
            "level".into(),
            event.metadata().level().as_str().to_string().into(),
        );
        if let Some(node) = NODE_ID.get() {
            line.insert("node_id".into(), node.clone().into());
        }
        let message = fields.remove("message").unwrap_or(Value::Null);
        line.insert("message".into(), message.clone());
        let mut span_fields = Map::new();
        if let Some(span) = ctx.lookup_current() {
            let ext = span.extensions();
            if let Some(f) = ext.get::<FormattedFields<JsonFields>>() {
                if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&f.fields) {
                    span_fields = m;
                }
            }
            if let Some(otel) = ext.get::<tracing_opentelemetry::OtelData>() {
                if let (Some(t), Some(s)) = (otel.trace_id(), otel.span_id()) {
                    line.insert("trace_id".into(), t.to_string().into());
                    line.insert("span_id".into(), s.to_string().into());
                }
            }
            let mut span_obj = span_fields.clone();
            span_obj.insert("name".into(), span.name().into());
            line.insert("span".into(), Value::Object(span_obj));
        }
        for (name, sources) in LIFTED {
            let found = sources
                .iter()
                .find_map(|k| fields.get(*k).or_else(|| span_fields.get(*k)));
            if let Some(v) = found {
                line.insert((*name).into(), v.clone());
            }
        }
        // Kept for readers of the earlier layout: `fields.message`.
        fields.insert("message".into(), message);
        line.insert("fields".into(), Value::Object(fields));
        writeln!(writer, "{}", Value::Object(line))
    }
}
