//! Results: counters, latency histograms, a human table and JSON.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latency summary in milliseconds.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Records latencies in microseconds (1 µs to 60 s, 3 significant digits).
/// The histogram (about 200 KB of counts) is allocated by the first
/// record: each connection of a run owns recorders, and an idle one must
/// not weigh that much (16,700 idle clients per generator would need 4 GB).
#[derive(Default)]
pub struct Recorder(Option<Box<Histogram<u64>>>);

fn histogram() -> Box<Histogram<u64>> {
    Box::new(Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"))
}

impl Recorder {
    pub fn record(&mut self, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, 60_000_000);
        let _ = self.0.get_or_insert_with(histogram).record(us);
    }

    pub fn merge(&mut self, other: &Recorder) {
        if let Some(o) = &other.0 {
            let _ = self.0.get_or_insert_with(histogram).add(o.as_ref());
        }
    }

    pub fn summary(&self) -> Latency {
        let Some(h) = self.0.as_deref().filter(|h| !h.is_empty()) else {
            return Latency::default();
        };
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Latency {
            count: h.len(),
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            max_ms: h.max() as f64 / 1000.0,
        }
    }

    /// Whether it holds a histogram yet (for the memory test).
    pub fn is_allocated(&self) -> bool {
        self.0.is_some()
    }
}

/// The outcome of one scenario run.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub scenario: String,
    pub duration_s: f64,
    pub connections: u64,
    pub connect_errors: u64,
    pub disconnects: u64,
    pub sent: u64,
    pub acked: u64,
    pub ack_errors: u64,
    pub delivered: u64,
    pub expected_deliveries: u64,
    pub cycles: u64,
    pub sent_per_s: f64,
    pub delivered_per_s: f64,
    pub handshake: Latency,
    pub ack_latency: Latency,
    pub delivery_latency: Latency,
    /// `bot`: requests the built-in automation backend received.
    #[serde(skip_serializing_if = "is_zero")]
    pub backend_received: u64,
    /// `bot`: requests whose signature did not verify.
    #[serde(skip_serializing_if = "is_zero")]
    pub bad_signatures: u64,
    /// `bot`: deliveries received again after they were answered.
    #[serde(skip_serializing_if = "is_zero")]
    pub duplicates: u64,
    /// `bot`: requests answered 503 on purpose (`--error-rate`).
    #[serde(skip_serializing_if = "is_zero")]
    pub backend_refused: u64,
    /// `bot`: the webhook queue (ready + in flight), largest sample.
    #[serde(skip_serializing_if = "is_zero")]
    pub queue_max: u64,
    /// `bot`: the webhook queue, mean of the samples.
    pub queue_mean: f64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Report {
    /// Errors of every kind: failed connects, failed acks, missing
    /// deliveries, bad signatures and duplicate deliveries.
    pub fn errors(&self) -> u64 {
        self.connect_errors
            + self.bad_signatures
            + self.duplicates
            + self.ack_errors
            + self.sent.saturating_sub(self.acked + self.ack_errors)
            + self.expected_deliveries.saturating_sub(self.delivered)
    }

    /// Errors relative to everything attempted.
    pub fn error_rate(&self) -> f64 {
        let attempts =
            self.connections + self.connect_errors + self.sent + self.expected_deliveries;
        if attempts == 0 {
            0.0
        } else {
            self.errors() as f64 / attempts as f64
        }
    }

    /// A human-readable table.
    pub fn table(&self) -> String {
        let mut out = format!("scenario {} ({:.1} s)\n", self.scenario, self.duration_s);
        let mut row = |k: &str, v: String| out.push_str(&format!("  {k:<22} {v}\n"));
        row(
            "connections",
            format!(
                "{} ok, {} failed, {} dropped",
                self.connections, self.connect_errors, self.disconnects
            ),
        );
        if self.cycles > 0 {
            row("cycles", self.cycles.to_string());
        }
        if self.sent > 0 {
            row(
                "sent",
                format!(
                    "{} ({:.0}/s), acked {}, ack errors {}",
                    self.sent, self.sent_per_s, self.acked, self.ack_errors
                ),
            );
        }
        if self.expected_deliveries > 0 {
            row(
                "delivered",
                format!(
                    "{} of {} ({:.0}/s)",
                    self.delivered, self.expected_deliveries, self.delivered_per_s
                ),
            );
        }
        for (name, l) in [
            ("handshake", &self.handshake),
            ("ack latency", &self.ack_latency),
            ("delivery latency", &self.delivery_latency),
        ] {
            if l.count > 0 {
                row(
                    name,
                    format!(
                        "p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms  (n={})",
                        l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms, l.count
                    ),
                );
            }
        }
        if self.backend_received > 0 {
            row(
                "backend",
                format!(
                    "{} requests, {} bad signatures, {} duplicates, {} refused (503)",
                    self.backend_received,
                    self.bad_signatures,
                    self.duplicates,
                    self.backend_refused
                ),
            );
            row(
                "webhook queue",
                format!("max {}, mean {:.1}", self.queue_max, self.queue_mean),
            );
        }
        row("error rate", format!("{:.4}", self.error_rate()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_from_recorded_values() {
        let mut r = Recorder::default();
        for ms in 1..=100 {
            r.record(Duration::from_millis(ms));
        }
        let s = r.summary();
        assert_eq!(s.count, 100);
        assert!((s.p50_ms - 50.0).abs() < 0.5, "{s:?}");
        assert!((s.p99_ms - 99.0).abs() < 0.5, "{s:?}");
        assert!((s.max_ms - 100.0).abs() < 0.5, "{s:?}");
        let mut other = Recorder::default();
        other.record(Duration::from_secs(2));
        r.merge(&other);
        assert!((r.summary().max_ms - 2000.0).abs() < 2.0);
    }

    #[test]
    fn a_recorder_allocates_its_histogram_on_first_use() {
        let mut r = Recorder::default();
        assert!(!r.is_allocated());
        assert_eq!(r.summary(), Latency::default());
        r.merge(&Recorder::default());
        assert!(
            !r.is_allocated(),
            "merging an empty recorder allocates nothing"
        );
        assert_eq!(
            std::mem::size_of::<Recorder>(),
            std::mem::size_of::<usize>()
        );
        r.record(Duration::from_millis(3));
        assert!(r.is_allocated());
        assert_eq!(r.summary().count, 1);
    }

    #[test]
    fn errors_count_failures_and_missing_deliveries() {
        let r = Report {
            connections: 10,
            connect_errors: 1,
            sent: 100,
            acked: 97,
            ack_errors: 1,
            expected_deliveries: 1000,
            delivered: 990,
            ..Default::default()
        };
        assert_eq!(r.errors(), 1 + 1 + 2 + 10);
        assert!(r.error_rate() > 0.0 && r.error_rate() < 0.02);
        assert!(r.table().contains("990 of 1000"));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["delivered"], 990);
    }
}
