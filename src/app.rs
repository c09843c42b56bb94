//! The application: everything a node needs, built once and shared.
//!
//! [`App`] holds the configuration, the stores (memory or Redis), the JWT
//! verifier, the cross-node fan-out handle and the node's health flags.
//! Socket handlers reach it through socketioxide's `State<AppState>`, HTTP
//! handlers through axum's `State<AppState>`.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc;

use crate::auth::Verifier;
use crate::config::{Config, Mode};
use crate::fanout::Fanout;
use crate::messages::Message;
use crate::store::{error::StoreError, Stores};

pub struct App {
    pub config: Config,
    pub node_id: String,
    pub stores: Stores,
    pub verifier: Verifier,
    /// The HS256 secret generated in development mode (no key configured).
    pub dev_secret: Option<String>,
    fanout: OnceLock<Arc<dyn Fanout>>,
    draining: AtomicBool,
    webhooks_in_flight: std::sync::atomic::AtomicUsize,
    /// Since when (ms) this node's heartbeats have succeeded without a gap;
    /// 0 while the store is unreachable.
    store_ok_since_ms: std::sync::atomic::AtomicI64,
    background: parking_lot::Mutex<Vec<tokio::task::AbortHandle>>,
    /// Wakes the webhook worker when a delivery is queued on this node.
    webhook_notify: tokio::sync::Notify,
    /// The after-store hook.
    pub hooks: Hooks,
    /// Connections on this node now, and the most at once since start.
    connections: std::sync::atomic::AtomicUsize,
    peak_connections: std::sync::atomic::AtomicUsize,
    /// When this node started (epoch ms).
    pub started_ms: i64,
}

/// The shared handle to the [`App`].
#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

impl App {
    /// Builds the app from configuration: connects to Redis when
    /// `SB_REDIS_URL` is set (waiting for it, retrying), otherwise uses the
    /// in-process store.
    pub async fn build(mut config: Config) -> Result<Self, String> {
        let stores = match &config.redis.url {
            Some(_) => {
                let store = crate::store::redis::open(&config.redis)
                    .await
                    .map_err(|e| format!("redis: {e}"))?;
                Stores::from_redis(store)
            }
            None => Stores::memory(),
        };
        Self::with_stores(&mut config, stores)
    }

    /// Builds the app on given stores (tests and embedding).
    pub fn with_stores(config: &mut Config, stores: Stores) -> Result<Self, String> {
        let dev_secret = if config.needs_dev_secret() && config.server.mode == Mode::Development {
            let secret = generate_secret();
            config.auth.secret = Some(secret.clone());
            Some(secret)
        } else {
            None
        };
        let guest_secret = config
            .guests
            .secret
            .as_deref()
            .filter(|_| config.guests.enabled);
        let verifier = Verifier::new(&config.auth)?.with_guests(guest_secret);
        // Install the metrics recorder before anything records.
        crate::telemetry::metrics::init();
        Ok(Self {
            node_id: config.server.node_id.clone(),
            config: config.clone(),
            stores,
            verifier,
            dev_secret,
            fanout: OnceLock::new(),
            draining: AtomicBool::new(false),
            webhooks_in_flight: Default::default(),
            store_ok_since_ms: Default::default(),
            background: Default::default(),
            webhook_notify: tokio::sync::Notify::new(),
            hooks: Hooks::new(),
            connections: Default::default(),
            peak_connections: Default::default(),
            started_ms: crate::time::now_ms(),
        })
    }

    /// A connection was set up on this node (counts the peak).
    pub fn connection_opened(&self) {
        let now = self.connections.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_connections.fetch_max(now, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        let _ = self
            .connections
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// The most connections this node held at once since it started.
    pub fn peak_connections(&self) -> usize {
        self.peak_connections.load(Ordering::Relaxed)
    }

    /// Cross-node fan-out; set once the Socket.IO layer exists.
    pub fn fanout(&self) -> &Arc<dyn Fanout> {
        self.fanout
            .get()
            .expect("fan-out is set before the server accepts connections")
    }

    pub(crate) fn set_fanout(&self, fanout: Arc<dyn Fanout>) {
        let _ = self.fanout.set(fanout);
    }

    /// True once shutdown began: `/ready` is 503 and new connections are
    /// refused with `SERVER_DRAINING`.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Wakes this node's webhook worker.
    pub fn webhook_wakeup(&self) {
        self.webhook_notify.notify_one();
    }

    /// Resolves when [`Self::webhook_wakeup`] was called.
    pub async fn webhook_notified(&self) {
        self.webhook_notify.notified().await;
    }

    /// A heartbeat succeeded (`true`) or failed.
    pub fn store_reachable(&self, ok: bool) {
        if ok {
            let _ = self.store_ok_since_ms.compare_exchange(
                0,
                crate::time::now_ms(),
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
        } else {
            self.store_ok_since_ms.store(0, Ordering::SeqCst);
        }
    }

    /// How long this node has reached the store without a gap (`None`: it
    /// cannot now).
    pub fn store_reachable_for(&self) -> Option<std::time::Duration> {
        let since = self.store_ok_since_ms.load(Ordering::SeqCst);
        (since > 0).then(|| {
            std::time::Duration::from_millis((crate::time::now_ms() - since).max(0) as u64)
        })
    }

    /// Webhook attempts in flight on this node.
    pub fn webhooks_in_flight(&self) -> usize {
        self.webhooks_in_flight.load(Ordering::SeqCst)
    }

    /// Counts a webhook attempt in flight until the guard drops.
    pub fn webhook_attempt(self: &Arc<Self>) -> InFlight {
        self.webhooks_in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Readiness: not draining and the store answers.
    pub async fn ready(&self) -> Result<(), StoreError> {
        if self.is_draining() {
            return Err(StoreError::Unavailable("draining".into()));
        }
        self.stores.cluster.ping().await
    }
}

impl App {
    /// Keeps a background task's handle, to stop it with the others.
    pub fn track_background(&self, task: tokio::task::AbortHandle) {
        self.background.lock().push(task);
    }

    /// Stops the background tasks (shutdown, or a simulated crash in tests).
    pub fn kill_background(&self) {
        for task in self.background.lock().drain(..) {
            task.abort();
        }
    }
}

/// A webhook attempt in flight (see [`App::webhook_attempt`]).
pub struct InFlight(Arc<App>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.webhooks_in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Work that follows a stored message (notifications, webhooks, and later
/// traces and metrics), registered at start-up by `background.rs`.
#[async_trait::async_trait]
pub trait MessageListener: Send + Sync + 'static {
    /// Whether this message concerns the listener at all (cheap, no I/O):
    /// a message nobody wants is not queued.
    fn wants(&self, app: &App, m: &Message, chat: Option<&crate::messages::ChatContext>) -> bool;
    /// Handles one stored message, on a hook worker.
    async fn on_stored(&self, app: &AppState, s: &Stored);
}

/// The after-store hook: `messages::service::send` publishes every stored
/// message here; a fixed number of workers ([`HOOK_WORKERS`]) drain a
/// bounded queue ([`HOOK_QUEUE`]) and hand each message to every listener
/// that wants it.
pub struct Hooks {
    listeners: OnceLock<Vec<Arc<dyn MessageListener>>>,
    tx: mpsc::Sender<Stored>,
    rx: parking_lot::Mutex<Option<mpsc::Receiver<Stored>>>,
}

/// One stored message on its way to the listeners, with the trace context
/// of the event that stored it (when traces are exported).
pub struct Stored {
    pub message: Message,
    /// The chat's bots (and a bot session's topic and metadata), when the
    /// store read them with the append.
    pub chat: Option<crate::messages::ChatContext>,
    pub traceparent: Option<String>,
}

/// Stored messages waiting for the listeners, per node.
pub const HOOK_QUEUE: usize = 8192;
/// Workers draining the after-store queue, per node.
pub const HOOK_WORKERS: usize = 4;

impl Hooks {
    fn new() -> Self {
        let (tx, rx) = mpsc::channel(HOOK_QUEUE);
        Self {
            listeners: OnceLock::new(),
            tx,
            rx: parking_lot::Mutex::new(Some(rx)),
        }
    }

    /// Sets the listeners (once, at start-up) and hands out the queue for
    /// the workers; `None` when already done.
    pub fn register(
        &self,
        listeners: Vec<Arc<dyn MessageListener>>,
    ) -> Option<mpsc::Receiver<Stored>> {
        self.listeners.set(listeners).ok()?;
        self.rx.lock().take()
    }

    pub fn listeners(&self) -> &[Arc<dyn MessageListener>] {
        self.listeners.get().map_or(&[], Vec::as_slice)
    }

    /// Queues a stored message for the listeners that want it. Never waits:
    /// when the queue is full (listeners slower than messages arrive), the
    /// message waits for a slot in a task of its own, so nothing is dropped
    /// and a listener that itself stores messages (bot replies) cannot
    /// deadlock the workers.
    pub fn message_stored(
        &self,
        app: &App,
        m: &Message,
        chat: Option<crate::messages::ChatContext>,
    ) {
        if !self
            .listeners()
            .iter()
            .any(|l| l.wants(app, m, chat.as_ref()))
        {
            return;
        }
        let stored = Stored {
            message: m.clone(),
            chat,
            traceparent: crate::telemetry::traces::current_traceparent(),
        };
        match self.tx.try_send(stored) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(m)) => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let _ = tx.send(m).await;
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

fn generate_secret() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
