//! Time in the protocol's formats: RFC 3339 UTC strings, epoch millis and
//! epoch seconds. The bottom layer: imports nothing of the crate.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Now, as an RFC 3339 UTC string with millisecond precision.
pub fn now_rfc3339() -> String {
    rfc3339_from_ms(now_ms())
}

/// Seconds since the epoch (JWT `exp`, `iat`).
pub fn now_secs() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Epoch milliseconds as an RFC 3339 UTC string (`2026-11-24T12:00:00.123Z`).
pub fn rfc3339_from_ms(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let t = t
        .replace_nanosecond((ms.rem_euclid(1000) as u32) * 1_000_000)
        .unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

/// Runs `f` every `period`, forever (a late run delays the next one rather
/// than bunching up).
pub async fn every<F, Fut>(period: std::time::Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        f().await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc_with_millis() {
        assert_eq!(super::rfc3339_from_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            super::rfc3339_from_ms(1_795_000_000_123),
            "2026-11-18T11:06:40.123Z"
        );
    }
}
