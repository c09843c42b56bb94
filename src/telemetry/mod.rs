//! Logging and metrics. Metric names are the documented constants of
//! `metrics.rs`; `/metrics` renders them in the Prometheus text format.

pub mod metrics;

use tracing_subscriber::{fmt, EnvFilter};

use crate::config::TelemetryConfig;

/// Installs the global log subscriber (once; later calls are ignored).
pub fn init_logging(cfg: &TelemetryConfig) {
    let filter = EnvFilter::try_new(&cfg.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_target(false);
    let _ = if cfg.json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
