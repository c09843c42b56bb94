//! Logs, metrics and traces.
//!
//! - Logs go to stdout: one JSON object per line in production
//!   (`SB_LOG_FORMAT=auto` or `json`), readable text in development, with
//!   colours only when stdout is a terminal. The JSON line's names are
//!   stable (`logs.rs`): `timestamp`, `level`, `node_id`, `message`,
//!   `fields`, `span`, and `trace_id`, `span_id`, `socket_id`, `user`,
//!   `event` where they apply. `SB_LOG` filters the logs only.
//! - Metrics: `metrics.rs`, rendered at `/metrics`.
//! - Traces: `traces.rs`, exported over OTLP when the standard `OTEL_*`
//!   variables ask for it; the trace layer sees Switchboard's own spans at
//!   `info` whatever `SB_LOG` says.

pub mod logs;
pub mod metrics;
pub mod totals;
pub mod traces;

use std::io::IsTerminal;

use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, Layer};

use crate::config::TelemetryConfig;

/// Installs the global log subscriber (once; later calls are ignored),
/// with the trace exporter's layer when `tracing` is given.
pub fn init(cfg: &TelemetryConfig, tracing: Option<&traces::Tracing>) {
    let filter = || EnvFilter::try_new(&cfg.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = cfg.json.then(|| {
        fmt::layer()
            .event_format(logs::JsonLines)
            .fmt_fields(fmt::format::JsonFields::new())
            .with_filter(filter())
    });
    let text = (!cfg.json).then(|| {
        fmt::layer()
            .with_target(false)
            .with_ansi(std::io::stdout().is_terminal())
            .with_filter(filter())
    });
    let otel = tracing.map(|t| {
        tracing_opentelemetry::layer()
            .with_tracer(t.tracer())
            .with_filter(Targets::new().with_target("switchboard", tracing::Level::INFO))
    });
    let _ = tracing_subscriber::registry()
        .with(json)
        .with(text)
        .with(otel)
        .try_init();
}

/// Logs only (tests, tools): [`init`] without traces.
pub fn init_logging(cfg: &TelemetryConfig) {
    init(cfg, None);
}
