//! `SB_REDIS_WAIT_REPLICAS`: waiting for replicas, with group commit.
//!
//! `WAIT n timeout` confirms every write that its connection sent before
//! it, and it blocks that connection until the replicas answer. So appends
//! run on a small pool of connections ("lanes"), and on each lane one
//! `WAIT` at a time confirms every append that had returned on the lane
//! before it was sent. Under load, one `WAIT` confirms many appends instead
//! of each append waiting for its own.
//!
//! On a Redis Cluster one connection reaches several masters and `WAIT`
//! only covers the master it is sent to, so there each append sends its own
//! `WAIT` to its slot's master.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use fred::prelude::*;
use tokio::sync::watch;

use super::map_err;
use crate::store::error::StoreError;

/// The lanes of a durable store.
#[derive(Clone)]
pub(super) struct Durable {
    lanes: Arc<Vec<Lane>>,
    next: Arc<AtomicUsize>,
    pub(super) replicas: u32,
    clustered: bool,
}

struct Lane {
    client: Client,
    /// Appends that returned on this connection so far.
    written: AtomicU64,
    /// Held by the one caller whose `WAIT` is in flight on this lane.
    leader: tokio::sync::Mutex<()>,
    outcome: watch::Sender<Outcome>,
}

/// What the lane's `WAIT`s established: appends numbered up to
/// `confirmed` are on the replicas; one numbered up to `failed` (and not
/// confirmed) was covered by a `WAIT` that timed out or failed.
#[derive(Debug, Clone, Copy, Default)]
struct Outcome {
    confirmed: u64,
    failed: u64,
}

/// One append's place on a lane, to confirm after its script returned.
pub(super) struct Ticket {
    lane: usize,
}

impl Durable {
    pub(super) fn new(pool: &fred::clients::Pool, replicas: u32) -> Self {
        let lanes = pool
            .clients()
            .iter()
            .map(|c| Lane {
                client: c.clone(),
                written: AtomicU64::new(0),
                leader: tokio::sync::Mutex::new(()),
                outcome: watch::channel(Outcome::default()).0,
            })
            .collect::<Vec<_>>();
        let clustered = lanes.first().is_some_and(|l| l.client.is_clustered());
        Self {
            lanes: Arc::new(lanes),
            next: Arc::new(AtomicUsize::new(0)),
            replicas,
            clustered,
        }
    }

    /// The next lane, round robin: its client runs the append.
    pub(super) fn take(&self) -> (Ticket, Client) {
        let lane = self.next.fetch_add(1, Ordering::Relaxed) % self.lanes.len();
        (Ticket { lane }, self.lanes[lane].client.clone())
    }

    /// After the append's script returned on the ticket's lane: true once
    /// the replicas have it, false when they did not confirm it within
    /// `timeout_ms` (per `WAIT`). `slot_key` is one of the append's keys.
    pub(super) async fn confirm(
        &self,
        ticket: Ticket,
        slot_key: &str,
        timeout_ms: i64,
    ) -> Result<bool, StoreError> {
        let lane = &self.lanes[ticket.lane];
        if self.clustered {
            return self.wait(&lane.client, slot_key, timeout_ms).await;
        }
        let mine = lane.written.fetch_add(1, Ordering::SeqCst) + 1;
        let mut outcome = lane.outcome.subscribe();
        loop {
            let o = *outcome.borrow_and_update();
            if o.confirmed >= mine {
                return Ok(true);
            }
            if o.failed >= mine {
                return Ok(false);
            }
            match lane.leader.try_lock() {
                Ok(leading) => {
                    let o = *lane.outcome.borrow();
                    if o.confirmed >= mine || o.failed >= mine {
                        continue;
                    }
                    // Every append numbered up to `target` has returned on
                    // this connection, so this WAIT covers them all.
                    let target = lane.written.load(Ordering::SeqCst);
                    let ok = self
                        .wait(&lane.client, slot_key, timeout_ms)
                        .await
                        .unwrap_or(false);
                    // Released before the outcome is published, so that a
                    // caller it wakes can lead the next WAIT.
                    drop(leading);
                    lane.outcome.send_modify(|o| {
                        if ok {
                            o.confirmed = o.confirmed.max(target);
                        } else {
                            o.failed = o.failed.max(target);
                        }
                    });
                }
                Err(_) => {
                    // Another caller's WAIT is in flight: its outcome may
                    // cover this append; if not, lead the next one.
                    if outcome.changed().await.is_err() {
                        return Ok(false);
                    }
                }
            }
        }
    }

    /// One `WAIT` on `client`, routed to the master of `slot_key`'s slot.
    async fn wait(
        &self,
        client: &Client,
        slot_key: &str,
        timeout_ms: i64,
    ) -> Result<bool, StoreError> {
        let on_slot = Options {
            cluster_hash: Some(fred::types::ClusterHash::Custom(fred::util::redis_keyslot(
                slot_key.as_bytes(),
            ))),
            ..Default::default()
        };
        let acked: i64 = client
            .with_options(&on_slot)
            .wait(self.replicas as i64, timeout_ms)
            .await
            .map_err(map_err)?;
        Ok(acked >= self.replicas as i64)
    }
}
