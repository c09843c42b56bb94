//! The application: everything a node needs, built once and shared.
//!
//! [`App`] holds the configuration, the stores (memory or Redis), the JWT
//! verifier, the cross-node fan-out handle and the node's health flags.
//! Socket handlers reach it through socketioxide's `State<AppState>`, HTTP
//! handlers through axum's `State<AppState>`.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use crate::auth::Verifier;
use crate::config::{Config, Mode};
use crate::realtime::fanout::Fanout;
use crate::store::{StoreError, Stores};

pub struct App {
    pub config: Config,
    pub node_id: String,
    pub stores: Stores,
    pub verifier: Verifier,
    /// The HS256 secret generated in development mode (no key configured).
    pub dev_secret: Option<String>,
    fanout: OnceLock<Arc<dyn Fanout>>,
    draining: AtomicBool,
    background: parking_lot::Mutex<Vec<tokio::task::AbortHandle>>,
    /// Wakes the webhook worker when a delivery is queued on this node.
    webhook_notify: tokio::sync::Notify,
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
            Some(url) => {
                let client = crate::store::redis::connect(url, config.redis.command_timeout)
                    .await
                    .map_err(|e| format!("redis: {e}"))?;
                Stores::redis(client, config.redis.prefix.clone())
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
        let verifier = Verifier::new(&config.auth)?;
        // Install the metrics recorder before anything records.
        crate::telemetry::metrics::handle();
        Ok(Self {
            node_id: config.server.node_id.clone(),
            config: config.clone(),
            stores,
            verifier,
            dev_secret,
            fanout: OnceLock::new(),
            draining: AtomicBool::new(false),
            background: Default::default(),
            webhook_notify: tokio::sync::Notify::new(),
        })
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

impl AppState {
    /// Starts the node's background tasks: the heartbeat in the registry,
    /// the presence sweeper, the ring-timeout sweeper and the webhook worker.
    pub fn start_background(&self) {
        let app = self.clone();
        let every = self.config.redis.heartbeat_interval;
        let ttl = self.config.redis.node_ttl;
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            let mut first = true;
            loop {
                tick.tick().await;
                match app.stores.cluster.heartbeat(&app.node_id, ttl).await {
                    Ok(true) if !first => app.reregister().await,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
                }
                first = false;
            }
        });
        let sweeper = tokio::spawn(crate::presence::sweeper(self.clone()));
        let rings = tokio::spawn(crate::calls::sweeper(self.clone()));
        let webhooks = tokio::spawn(crate::webhooks::worker::run(self.clone()));
        self.background.lock().extend([
            task.abort_handle(),
            sweeper.abort_handle(),
            rings.abort_handle(),
            webhooks.abort_handle(),
        ]);
    }

    /// After a heartbeat gap long enough for other nodes to reap this one:
    /// put this node's live connections back into the registry.
    async fn reregister(&self) {
        let conns = self.fanout().local_conns();
        tracing::warn!(
            connections = conns.len(),
            "this node was reaped as dead; re-registering its connections"
        );
        for conn in conns {
            match self
                .stores
                .cluster
                .add_session(&conn.session(&self.node_id))
                .await
            {
                Ok(Some(p)) => crate::presence::announce(self, &p).await,
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "could not re-register a session"),
            }
        }
    }
}

impl App {
    /// Stops the background tasks (shutdown, or a simulated crash in tests).
    pub fn kill_background(&self) {
        for task in self.background.lock().drain(..) {
            task.abort();
        }
    }
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

fn generate_secret() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
