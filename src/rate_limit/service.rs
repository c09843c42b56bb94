//! The one rate-limit check every limited action goes through.

use super::{Action, RateLimitError};
use crate::app::App;

/// The one check: `subject` (a user id, or a client IP for `Connect`) may
/// do `action` now, or gets `RATE_LIMITED` with `retryAfterMs`.
pub async fn check(app: &App, action: Action, subject: &str) -> Result<(), RateLimitError> {
    let Some(limit) = app.config.limits.get(action) else {
        return Ok(());
    };
    let key = format!("{}:{subject}", action.label());
    let label = action.label();
    match app
        .stores
        .rate_limits
        .hit(&key, limit.count, limit.period)
        .await
    {
        Ok(None) => Ok(()),
        Ok(Some(wait)) => {
            crate::telemetry::metrics::rate_limit(label, "limited");
            Err(RateLimitError::Limited {
                retry_after_ms: wait.as_millis().max(1) as u64,
            })
        }
        Err(e) => {
            if limit.fail_open {
                crate::telemetry::metrics::rate_limit(label, "fail_open");
                tracing::warn!(action = label, error = %e, "rate limit store unreachable: failing open");
                Ok(())
            } else {
                crate::telemetry::metrics::rate_limit(label, "fail_closed");
                Err(RateLimitError::Unavailable)
            }
        }
    }
}
