//! Per-connection state and the ordered event queue.
//!
//! [`Conn`] is created by the connect middleware and kept in the socket's
//! extensions. `enqueue.rs` pushes each received event into its FIFO
//! queue; one worker task per connection (`dispatch.rs`) drains it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use crate::auth::Identity;

/// Sends the ack of one event (a no-op when the client asked for none).
pub type AckFn = Box<dyn FnOnce(&Value) + Send>;

/// One received event waiting for its turn.
pub struct Job {
    /// `None` when the event name was not a string.
    pub event: Option<String>,
    /// `None` when the payload could not be decoded as JSON.
    pub data: Option<Value>,
    /// The size of the raw frame, in bytes.
    pub size: usize,
    /// `Some` when the client asked for an ack.
    pub ack: Option<AckFn>,
}

/// What a connection is: identity, device, socket, and its live state.
pub struct Conn {
    pub identity: Identity,
    pub device_id: String,
    pub socket_id: String,
    pub connected_at: String,
    // Boxed: the channel allocates its first block of 32 slots per
    // connection up front, so a slot should be one pointer, not a Job.
    queue: Mutex<Option<mpsc::Sender<Box<Job>>>>,
    gate: Mutex<Option<oneshot::Sender<()>>>,
    /// Chats this connection is typing in, with the timer that ends it.
    pub typing: Mutex<HashMap<String, AbortHandle>>,
    /// Calls this connection started or answered (most recent last).
    pub calls: Mutex<VecDeque<String>>,
    /// The token's `exp` (seconds), moved by `auth:refresh`.
    pub expires_at: std::sync::atomic::AtomicI64,
    /// The timer that warns before `exp` and disconnects at it.
    pub expiry: Mutex<Option<AbortHandle>>,
    /// The worker is handling an event (its ack is not sent yet).
    pub working: std::sync::atomic::AtomicBool,
    /// When the client last sent an event ([`crate::time::mono_ms`]); pings
    /// do not count. Read by the idle sweep.
    last_event: std::sync::atomic::AtomicU64,
}

/// Why an event could not be queued.
#[derive(Debug, PartialEq, Eq)]
pub enum QueueError {
    Full,
    Closed,
}

impl Conn {
    /// A connection and the receiving end of its queue; the worker must wait
    /// for the returned gate before taking jobs.
    pub fn new(
        identity: Identity,
        device_id: String,
        socket_id: String,
        capacity: usize,
    ) -> (Arc<Self>, mpsc::Receiver<Box<Job>>, oneshot::Receiver<()>) {
        let (tx, rx) = mpsc::channel(capacity);
        let (gate_tx, gate_rx) = oneshot::channel();
        let exp = identity.expires_at;
        let conn = Arc::new(Self {
            identity,
            device_id,
            socket_id,
            connected_at: crate::time::now_rfc3339(),
            queue: Mutex::new(Some(tx)),
            gate: Mutex::new(Some(gate_tx)),
            typing: Mutex::new(HashMap::new()),
            calls: Mutex::new(VecDeque::new()),
            expires_at: std::sync::atomic::AtomicI64::new(exp),
            expiry: Mutex::new(None),
            working: std::sync::atomic::AtomicBool::new(false),
            last_event: std::sync::atomic::AtomicU64::new(crate::time::mono_ms()),
        });
        (conn, rx, gate_rx)
    }

    pub fn user_id(&self) -> &str {
        &self.identity.user_id
    }

    /// Remembers a call to clean up when this connection closes (the most
    /// recent few; older calls end by timeout or by the other party).
    pub fn track_call(&self, id: &str) {
        let mut calls = self.calls.lock();
        if calls.len() >= 16 {
            calls.pop_front();
        }
        calls.push_back(id.to_string());
    }

    /// This connection's entry in the cluster registry.
    pub fn session(&self, node_id: &str) -> crate::cluster::Session {
        crate::cluster::Session {
            socket_id: self.socket_id.clone(),
            user_id: self.user_id().to_string(),
            device_id: self.device_id.clone(),
            node_id: node_id.to_string(),
            since: self.connected_at.clone(),
        }
    }

    /// How long since the client last sent an event (or connected).
    pub fn idle_for(&self) -> std::time::Duration {
        let last = self.last_event.load(std::sync::atomic::Ordering::Relaxed);
        std::time::Duration::from_millis(crate::time::mono_ms().saturating_sub(last))
    }

    /// Queues an event, without waiting. Every client event passes here,
    /// so this is where activity is stamped.
    pub fn enqueue(&self, job: Job) -> Result<(), (QueueError, Job)> {
        self.last_event
            .store(crate::time::mono_ms(), std::sync::atomic::Ordering::Relaxed);
        let guard = self.queue.lock();
        let Some(tx) = guard.as_ref() else {
            return Err((QueueError::Closed, job));
        };
        tx.try_send(Box::new(job)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(j) => (QueueError::Full, *j),
            mpsc::error::TrySendError::Closed(j) => (QueueError::Closed, *j),
        })
    }

    /// An event is being handled or waits in the queue (the drain closes
    /// this connection's transport only after its acks).
    pub fn busy(&self) -> bool {
        use std::sync::atomic::Ordering;
        self.working.load(Ordering::Acquire)
            || self
                .queue
                .lock()
                .as_ref()
                .is_some_and(|tx| tx.capacity() < tx.max_capacity())
    }

    /// Lets the worker start taking events (after the connection is set up).
    pub fn open_gate(&self) {
        if let Some(tx) = self.gate.lock().take() {
            let _ = tx.send(());
        }
    }

    /// Stops accepting events; the worker finishes what is queued and ends.
    pub fn close_queue(&self) {
        self.queue.lock().take();
        self.gate.lock().take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What every connection holds for as long as it lives, whatever it
    /// does: its state and the slots of its queue (tokio allocates the
    /// first block of 32 slots up front). Together with the idle worker
    /// (`dispatch::tests::an_idle_worker_is_small`), the engine's channel
    /// slot (vendor/engineioxide) and the detached request head
    /// (`server::tests`), this is the per-connection budget of
    /// docs/benchmarks.md, asserted as sizes.
    #[test]
    fn per_connection_state_stays_within_its_budget() {
        let conn = std::mem::size_of::<Conn>();
        assert!(conn <= 512, "Conn is {conn} bytes");
        assert_eq!(
            std::mem::size_of::<Box<Job>>(),
            std::mem::size_of::<usize>(),
            "a queue slot is one pointer"
        );
        assert!(std::mem::size_of::<Job>() > 8 * std::mem::size_of::<usize>());
    }
}
