//! Time in the protocol's formats: RFC 3339 UTC strings, epoch millis and
//! epoch seconds. The bottom layer: imports nothing of the crate.

use time::OffsetDateTime;

/// Now, as an RFC 3339 UTC string with millisecond precision.
pub fn now_rfc3339() -> String {
    rfc3339_from_ms(now_ms())
}

/// Seconds since the epoch (JWT `exp`, `iat`).
pub fn now_secs() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Milliseconds on a monotonic clock that starts with the process: cheap
/// activity stamps (idle timeout) that wall-clock jumps cannot move.
pub fn mono_ms() -> u64 {
    static START: std::sync::LazyLock<std::time::Instant> =
        std::sync::LazyLock::new(std::time::Instant::now);
    START.elapsed().as_millis() as u64
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Epoch milliseconds as an RFC 3339 UTC string with exactly three
/// fraction digits (`2026-11-24T12:00:00.000Z`): one fixed width, which
/// strict parsers (iOS `ISO8601DateFormatter` with fractional seconds)
/// need. Out-of-range input is clamped to the years 0000–9999.
pub fn rfc3339_from_ms(ms: i64) -> String {
    const MIN: i64 = -62_167_219_200_000; // 0000-01-01T00:00:00.000Z
    const MAX: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
    let ms = ms.clamp(MIN, MAX);
    let t = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
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
    fn formats_utc_with_exactly_three_fraction_digits() {
        let f = super::rfc3339_from_ms;
        assert_eq!(f(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(f(1_795_000_000_123), "2026-11-18T11:06:40.123Z");
        assert_eq!(f(1_795_000_000_999), "2026-11-18T11:06:40.999Z");
        assert_eq!(f(1_795_000_000_010), "2026-11-18T11:06:40.010Z");
        assert_eq!(f(1_795_000_000_500), "2026-11-18T11:06:40.500Z");
        // Leap days, and the last millisecond of a leap year.
        assert_eq!(f(1_709_164_800_000), "2024-02-29T00:00:00.000Z");
        assert_eq!(f(951_782_400_001), "2000-02-29T00:00:00.001Z");
        assert_eq!(f(1_735_689_599_999), "2024-12-31T23:59:59.999Z");
        // Before the epoch, and clamped at the ends of 4-digit years.
        assert_eq!(f(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(f(i64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(f(i64::MIN), "0000-01-01T00:00:00.000Z");
        // Every output parses back to its input as RFC 3339.
        for ms in [0, 1, 999, 1_000, 1_709_164_800_123, -1] {
            let s = f(ms);
            assert_eq!(s.len(), 24, "{s}");
            let rfc = time::format_description::well_known::Rfc3339;
            let t = time::OffsetDateTime::parse(&s, &rfc).unwrap();
            assert_eq!((t.unix_timestamp_nanos() / 1_000_000) as i64, ms, "{s}");
        }
    }
}
