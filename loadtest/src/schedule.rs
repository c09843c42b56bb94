//! Open-loop schedules: the i-th event is due at `start + i / rate`, however
//! late the previous ones were. Latency is measured from the due time, so a
//! slow server cannot hide its queueing (no coordinated omission).

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    start: Instant,
    interval: Duration,
}

impl Schedule {
    /// `rate` events per second from `start`.
    pub fn new(start: Instant, rate: f64) -> Self {
        assert!(rate > 0.0, "rate must be positive");
        Self {
            start,
            interval: Duration::from_secs_f64(1.0 / rate),
        }
    }

    /// When event `i` is due.
    pub fn due(&self, i: u64) -> Instant {
        self.start + self.interval.mul_f64(i as f64)
    }

    /// How many events fit in `duration`.
    pub fn count(&self, duration: Duration) -> u64 {
        (duration.as_secs_f64() / self.interval.as_secs_f64()).floor() as u64
    }
}

/// Splits a total rate over `n` senders, each starting at an offset so that
/// the senders do not fire in lockstep.
pub fn split(start: Instant, total_rate: f64, n: usize) -> Vec<Schedule> {
    let per = total_rate / n as f64;
    (0..n)
        .map(|k| {
            let offset = Duration::from_secs_f64(k as f64 / total_rate);
            Schedule::new(start + offset, per)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_times_are_evenly_spaced_from_start() {
        let t0 = Instant::now();
        let s = Schedule::new(t0, 4.0);
        assert_eq!(s.due(0), t0);
        assert_eq!(s.due(4) - t0, Duration::from_secs(1));
        assert_eq!(s.count(Duration::from_millis(2600)), 10);
    }

    #[test]
    fn split_keeps_the_total_rate_and_staggers() {
        let t0 = Instant::now();
        let parts = split(t0, 100.0, 4);
        assert_eq!(parts.len(), 4);
        let total: u64 = parts.iter().map(|p| p.count(Duration::from_secs(10))).sum();
        assert!((996..=1000).contains(&total), "{total}");
        assert!(parts[1].due(0) > parts[0].due(0));
        assert!(parts[3].due(0) < parts[0].due(1));
    }
}
