//! This node's running totals that `/admin/stats` reports (the console
//! turns them into rates): plain atomics beside the exported metrics,
//! counted by `metrics.rs`.

use std::sync::atomic::{AtomicU64, Ordering};

pub(super) static MESSAGES: AtomicU64 = AtomicU64::new(0);
pub(super) static PUBLISHES: AtomicU64 = AtomicU64::new(0);
pub(super) static ERRORS: AtomicU64 = AtomicU64::new(0);

/// (messages stored, fan-out publishes, client events that failed).
pub fn read() -> (u64, u64, u64) {
    (
        MESSAGES.load(Ordering::Relaxed),
        PUBLISHES.load(Ordering::Relaxed),
        ERRORS.load(Ordering::Relaxed),
    )
}
