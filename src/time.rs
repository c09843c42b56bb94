//! Time in the protocol's formats: RFC 3339 UTC strings and epoch millis.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Now, as an RFC 3339 UTC string with millisecond precision.
pub fn now_rfc3339() -> String {
    rfc3339_from_ms(now_ms())
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
