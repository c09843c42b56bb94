//! `TestApp`: real nodes on 127.0.0.1:0, in-memory or on a real Redis, and
//! tokens for them.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use switchboard::app::AppState;
use switchboard::config::Config;
use switchboard::server::{self, Running};
use switchboard::testing::RedisServer;

use super::sio::{ConnectError, ConnectOpts, SioClient};

/// The HS256 secret every test node accepts.
pub const SECRET: &str = "integration-test-secret-0123456789abcdef";

/// The integration and admin keys of every test node.
pub const API_KEY: &str = "test-api-key-0123456789";
pub const ADMIN_KEY: &str = "test-admin-key-0123456789";

/// A unique name for this test's keys, chats and users.
pub fn unique(label: &str) -> String {
    format!(
        "{label}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A token for `sub`, valid for 10 minutes.
pub fn token(sub: &str) -> String {
    token_with(json!({ "sub": sub }))
}

/// A token with these claims (`exp` defaults to 10 minutes from now).
pub fn token_with(claims: Value) -> String {
    let mut c = claims;
    if c.get("exp").is_none() {
        c["exp"] = json!(switchboard::time::now_secs() + 600);
    }
    super::sio::mint_hs256(SECRET, c)
}

/// Sets one rate limit (`COUNT/SECS [open|closed]` or `off`).
pub fn set_limit(c: &mut Config, action: switchboard::rate_limit::Action, spec: &str) {
    let limit = switchboard::rate_limit::parse_limit(spec).unwrap();
    c.limits.0.retain(|(a, _)| *a != action);
    c.limits.0.push((action, limit));
}

/// No rate limits at all (tests that send in bulk).
pub fn unlimited(c: &mut Config) {
    c.limits = Default::default();
}

/// Builds a node configuration for tests.
pub struct TestApp {
    config: Config,
    redis: Option<Backend>,
}

impl TestApp {
    /// A single node on the in-process store.
    pub fn memory() -> Self {
        if let Ok(filter) = std::env::var("SB_TEST_LOG") {
            switchboard::telemetry::init_logging(&switchboard::config::TelemetryConfig {
                log: filter,
                json: false,
                trace_user_ids: Default::default(),
            });
        }
        let mut config = Config::defaults();
        config.server.host = [127, 0, 0, 1].into();
        config.server.port = 0;
        config.server.node_id = unique("mem");
        config.server.shutdown_timeout = Duration::from_secs(5);
        // No drain delay or spread unless a test asks for them.
        config.server.drain_delay = Duration::ZERO;
        config.server.drain_spread = Duration::ZERO;
        config.auth.secret = Some(SECRET.into());
        config.messages.typing_timeout = Duration::from_millis(800);
        config.presence.grace = Duration::from_millis(1000);
        config.presence.sweep_interval = Duration::from_millis(200);
        config.calls.ring_timeout = Duration::from_secs(2);
        // Every test connects from 127.0.0.1: the per-IP budget of new
        // connections is raised (the security tests set their own).
        set_limit(
            &mut config,
            switchboard::rate_limit::Action::Connect,
            "1000/60",
        );
        config.api.api_key = Some(API_KEY.into());
        config.api.admin_key = Some(ADMIN_KEY.into());
        Self {
            config,
            redis: None,
        }
    }

    /// A node on Redis with the given key prefix (nodes of one cluster
    /// share it).
    pub fn redis(url: &str, prefix: &str) -> Self {
        let mut t = Self::memory();
        t.config.server.node_id = unique("node");
        t.config.redis.url = Some(url.to_string());
        t.config.redis.prefix = prefix.to_string();
        t.config.redis.command_timeout = Duration::from_millis(1000);
        t.config.redis.adapter_request_timeout = Duration::from_millis(1500);
        t.config.redis.heartbeat_interval = Duration::from_secs(1);
        t.config.redis.node_ttl = Duration::from_secs(3);
        t
    }

    /// Changes the configuration.
    pub fn with(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(&mut self.config);
        self
    }

    /// Starts the node and waits until it is built.
    pub async fn start(self) -> TestNode {
        let node = self.spawn().await;
        let app = node.running.as_ref().unwrap().wait_built().await;
        TestNode {
            app: Some(app),
            ..node
        }
    }

    /// Starts the node without waiting for its app (Redis may be down).
    pub async fn spawn(self) -> TestNode {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let running = server::spawn(listener, self.config);
        TestNode {
            url: format!("http://{}", running.addr),
            running: Some(running),
            app: None,
            isolated: None,
            _redis: self.redis,
        }
    }

    /// Starts the node on its own thread and runtime, so that
    /// [`TestNode::kill`] can stop it like a crashed process: every task
    /// and connection of the node is dropped at once, without goodbye.
    pub async fn start_isolated(self) -> TestNode {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (cmd_tx, cmd_rx) = std::sync::mpsc::channel::<Command>();
        let config = self.config;
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let running = rt.block_on(async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let running = server::spawn(listener, config);
                let app = running.wait_built().await;
                let _ = ready_tx.send((running.addr, app));
                running
            });
            match cmd_rx.recv() {
                Ok(Command::Shutdown) => rt.block_on(running.shutdown()),
                // A crash: drop every task of the node where it stands (the
                // stop signal is leaked, not dropped, so no drain starts).
                Ok(Command::Kill) | Err(_) => std::mem::forget(running),
            }
            rt.shutdown_background();
        });
        let (addr, app) = ready_rx.await.expect("isolated node started");
        TestNode {
            url: format!("http://{addr}"),
            running: None,
            app: Some(app),
            isolated: Some((cmd_tx, thread)),
            _redis: self.redis,
        }
    }

    /// Like [`TestApp::cluster`], each node on its own runtime (killable).
    pub async fn cluster_isolated(n: usize) -> Vec<TestNode> {
        Self::cluster_with(n, true, |_| {}).await
    }

    /// `n` nodes on one fresh prefix, each configured by `f`; `isolated`:
    /// each on its own runtime (killable).
    pub async fn cluster_with(n: usize, isolated: bool, f: impl Fn(&mut Config)) -> Vec<TestNode> {
        let prefix = format!("{}:", unique("t"));
        let (url, backend) = shared_backend();
        let mut nodes = Vec::new();
        for _ in 0..n {
            let mut app = TestApp::redis(&url, &prefix);
            app.redis = Some(backend.clone());
            f(&mut app.config);
            nodes.push(if isolated {
                app.start_isolated().await
            } else {
                app.start().await
            });
        }
        nodes
    }

    /// `n` nodes sharing one fresh prefix on the shared Redis (kept alive
    /// while any of the nodes lives).
    pub async fn cluster(n: usize) -> Vec<TestNode> {
        let prefix = format!("{}:", unique("t"));
        let (url, backend) = shared_backend();
        let mut nodes = Vec::new();
        for _ in 0..n {
            let mut app = TestApp::redis(&url, &prefix);
            app.redis = Some(backend.clone());
            nodes.push(app.start().await);
        }
        nodes
    }
}

enum Command {
    Shutdown,
    Kill,
}

/// What keeps a shared Redis (or Redis Cluster) alive while nodes use it.
type Backend = Arc<dyn std::any::Any + Send + Sync>;

/// The Redis that multi-node tests share: a single server, or with
/// `SB_TEST_REDIS=cluster` a local Redis Cluster (3 masters + 3 replicas),
/// so the same multi-node tests also run on a cluster.
fn shared_backend() -> (String, Backend) {
    if std::env::var("SB_TEST_REDIS").as_deref() == Ok("cluster") {
        let cluster = switchboard::testing::RedisCluster::shared();
        (cluster.url(), cluster)
    } else {
        let server = RedisServer::shared();
        (server.url(), server)
    }
}

/// A running node.
pub struct TestNode {
    pub url: String,
    running: Option<Running>,
    app: Option<AppState>,
    isolated: Option<(
        std::sync::mpsc::Sender<Command>,
        std::thread::JoinHandle<()>,
    )>,
    _redis: Option<Backend>,
}

impl TestNode {
    /// A node running elsewhere (another process), reached by its URL.
    pub fn external(url: String) -> Self {
        Self {
            url,
            running: None,
            app: None,
            isolated: None,
            _redis: None,
        }
    }

    /// `http://ADDR` of the internal listener (`SB_INTERNAL_PORT`).
    pub fn internal_url(&self) -> Option<String> {
        let addr = self.running.as_ref()?.boot.internal_addr()?;
        Some(format!("http://{addr}"))
    }

    pub fn app(&self) -> &AppState {
        self.app.as_ref().expect("node built")
    }

    /// Connects as `user` (WebSocket, token in `auth.token`) and waits for
    /// the `connected` event.
    pub async fn connect(&self, user: &str) -> SioClient {
        self.connect_with(ConnectOpts {
            auth: Some(json!({ "token": token(user) })),
            ..Default::default()
        })
        .await
        .expect("connect")
    }

    /// Connects as `user` with a `device` claim.
    pub async fn connect_device(&self, user: &str, device: &str) -> SioClient {
        self.connect_with(ConnectOpts {
            auth: Some(json!({ "token": token_with(json!({"sub": user, "device": device})) })),
            ..Default::default()
        })
        .await
        .expect("connect")
    }

    /// Connects with options and waits for `connected`.
    pub async fn connect_with(&self, opts: ConnectOpts) -> Result<SioClient, ConnectError> {
        let mut c = SioClient::connect(&self.url, opts).await?;
        c.wait_for("connected", Duration::from_secs(5)).await;
        Ok(c)
    }

    /// An HTTP request to this node with a bearer key: (status, JSON body).
    pub async fn http(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let client = reqwest::Client::new();
        let mut req = client.request(method.parse().unwrap(), format!("{}{path}", self.url));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// `http` with the integration key.
    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.http(method, path, Some(API_KEY), body).await
    }

    /// `http` with the admin key.
    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.http(method, path, Some(ADMIN_KEY), body).await
    }

    /// GET a path on this node: (status, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = reqwest::get(format!("{}{path}", self.url)).await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Graceful shutdown, as on SIGTERM.
    pub async fn shutdown(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        if let Some((tx, thread)) = self.isolated.take() {
            let _ = tx.send(Command::Shutdown);
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .unwrap()
                .unwrap();
        }
    }

    /// Stops the node without any goodbye (simulated crash).
    pub fn kill(mut self) {
        if let Some(r) = self.running.take() {
            r.kill();
        }
        if let Some((tx, thread)) = self.isolated.take() {
            let _ = tx.send(Command::Kill);
            thread.join().unwrap();
        }
    }
}
