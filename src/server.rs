//! Listeners, routers and the node's life cycle.
//!
//! [`run`] is the one entry point main and tests share: it serves on a
//! listener until `shutdown` resolves, then drains (see `shutdown.rs`).
//! `/health` and `/metrics` answer from the first moment; the rest of the
//! node (the app, its Redis connections, the Socket.IO layer) is built in the
//! background, so a node whose Redis is unreachable at start-up keeps
//! retrying while `/health` is 200 and `/ready` is 503 with the reason.
//! With `SB_INTERNAL_PORT`, a second listener serves `/health`, `/ready` and
//! `/metrics` only.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::app::{App, AppState};
use crate::config::Config;

/// What the node has built so far.
#[derive(Default)]
pub struct Boot {
    app: OnceLock<AppState>,
    router: OnceLock<Router>,
    /// Why the node is not built yet (the last start-up error).
    waiting: parking_lot::Mutex<Option<String>>,
    /// Where the internal listener (`SB_INTERNAL_PORT`) listens.
    internal_addr: OnceLock<SocketAddr>,
    /// The accepted connections, closable one by one (the drain).
    pub transports: Arc<crate::transports::Transports>,
}

impl Boot {
    /// The app, once built.
    pub fn app(&self) -> Option<&AppState> {
        self.app.get()
    }

    /// The internal listener's address, once bound.
    pub fn internal_addr(&self) -> Option<SocketAddr> {
        self.internal_addr.get().copied()
    }
}

/// A running node (tests, embedding).
pub struct Running {
    pub addr: SocketAddr,
    pub boot: Arc<Boot>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Graceful shutdown (the SIGTERM path); waits until the node exits.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Stops the node without any goodbye (a crash): no drain, no registry
    /// clean-up. Its connections drop when the runtime drops them.
    pub fn kill(self) {
        self.task.abort();
        if let Some(app) = self.boot.app() {
            app.kill_background();
        }
    }

    /// Waits until the app is built (Redis reached).
    pub async fn wait_built(&self) -> AppState {
        loop {
            if let Some(app) = self.boot.app() {
                return app.clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Binds `listener` and serves in a task; returns at once.
pub fn spawn(listener: TcpListener, config: Config) -> Running {
    let addr = listener.local_addr().expect("bound listener");
    let boot = Arc::new(Boot::default());
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(run_with(listener, config, boot.clone(), async move {
        let _ = rx.await;
    }));
    Running {
        addr,
        boot,
        stop: Some(tx),
        task,
    }
}

/// Serves until `shutdown` resolves, then drains and returns.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with(listener, config, Arc::new(Boot::default()), shutdown).await
}

async fn run_with(
    listener: TcpListener,
    config: Config,
    boot: Arc<Boot>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::telemetry::metrics::init();
    let deadline = config.server.shutdown_timeout;
    let internal = match config.server.internal_port {
        Some(port) => {
            let listener = TcpListener::bind((config.server.host, port)).await?;
            let _ = boot.internal_addr.set(listener.local_addr()?);
            let router = internal_router(boot.clone());
            Some(tokio::spawn(async move {
                let _ = axum::serve(listener, router).await;
            }))
        }
        None => None,
    };
    let mut router = Router::new().route("/health", get(crate::http::health));
    if config.server.metrics_public {
        router = router.route("/metrics", get(crate::http::metrics));
    }
    let builder = tokio::spawn(build(config, boot.clone()));
    let router = router.fallback_service(tower::service_fn({
        let boot = boot.clone();
        move |req: Request<Body>| {
            let boot = boot.clone();
            async move { Ok::<_, Infallible>(forward(&boot, req).await) }
        }
    }));
    let drain_boot = boot.clone();
    let mut signal = Box::pin(async move {
        shutdown.await;
        builder.abort();
        crate::shutdown::drain(drain_boot.app(), &drain_boot.transports).await;
    });
    let http = http_builder();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, go on.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let router = router.clone();
                let transports = boot.transports.clone();
                let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    if req.headers().get(axum::http::header::UPGRADE).is_some() {
                        transports.mark_websocket(&peer);
                    }
                    let mut req = req.map(Body::new);
                    detach_head(&mut req);
                    req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                    router.clone().oneshot(req)
                });
                let tcp = boot.transports.wrap(tcp, peer);
                let conn = http
                    .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = &mut signal => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(deadline, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown deadline reached with connections still open");
    }
    if let Some(task) = internal {
        task.abort();
    }
    Ok(())
}

/// The internal listener: probes and metrics, nothing else.
fn internal_router(boot: Arc<Boot>) -> Router {
    Router::new()
        .route("/health", get(crate::http::health))
        .route("/metrics", get(crate::http::metrics))
        .route(
            "/ready",
            get(move |req: Request<Body>| {
                let boot = boot.clone();
                async move { forward(&boot, req).await }
            }),
        )
}

/// Copies the request's URI and header values out of hyper's read buffer.
/// They are slices of it, and engineioxide keeps the request head of every
/// session for the session's lifetime: without the copy, each idle
/// WebSocket keeps the connection's whole 8 KiB read buffer alive for a few
/// hundred bytes of headers.
pub fn detach_head<B>(req: &mut Request<B>) {
    use axum::http::{HeaderMap, HeaderValue};
    let shared = std::mem::take(req.headers_mut());
    let mut own = HeaderMap::with_capacity(shared.len());
    let mut name = None;
    for (next, value) in shared {
        if next.is_some() {
            name = next;
        }
        let Some(name) = name.clone() else { continue };
        let mut copy = HeaderValue::from_bytes(value.as_bytes()).unwrap_or(value.clone());
        copy.set_sensitive(value.is_sensitive());
        own.append(name, copy);
    }
    *req.headers_mut() = own;
    if let Ok(uri) = req.uri().to_string().parse() {
        *req.uri_mut() = uri;
    }
}

/// The HTTP connection settings. HTTP/1's read buffer is capped at its
/// minimum (8 KiB): it stays allocated under every upgraded WebSocket, so
/// its size is paid per idle connection (docs/benchmarks.md).
fn http_builder() -> hyper_util::server::conn::auto::Builder<TokioExecutor> {
    let mut b = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    b.http1()
        .max_buf_size(8192)
        .timer(hyper_util::rt::TokioTimer::new());
    b
}

async fn forward(boot: &Boot, req: Request<Body>) -> Response {
    match boot.router.get() {
        Some(r) => match r.clone().oneshot(req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        },
        None => {
            let reason = boot
                .waiting
                .lock()
                .clone()
                .unwrap_or_else(|| "the node is starting".into());
            let body = if req.uri().path() == "/ready" {
                json!({ "status": "not-ready", "reason": reason })
            } else {
                json!({ "error": { "code": "UNAVAILABLE", "message": reason } })
            };
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
        }
    }
}

/// Builds the app (waiting for Redis when configured) and the routers.
async fn build(config: Config, boot: Arc<Boot>) {
    if config.redis.url.is_some() {
        *boot.waiting.lock() = Some("connecting to Redis".into());
    }
    let app = loop {
        match App::build(config.clone()).await {
            Ok(app) => break AppState(Arc::new(app)),
            Err(e) => {
                let last = boot.waiting.lock().replace(format!("starting: {e}"));
                if last.as_deref() != Some(&format!("starting: {e}")) {
                    tracing::warn!(error = %e, "start-up is waiting (retrying every second)");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let socket_layer = loop {
        match attach(&app).await {
            Ok(r) => break r,
            Err(e) => {
                tracing::error!(error = %e, "Socket.IO adapter failed, retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let router = socket_layer;
    crate::background::start(&app);
    let _ = boot.app.set(app.clone());
    let _ = boot.router.set(router);
    if let Some(secret) = &app.dev_secret {
        crate::shutdown::print_dev_banner(&app, secret);
    }
    tracing::info!(node = %app.node_id, redis = app.config.redis.url.is_some(), "node ready");
}

/// The node's routes wrapped in the Socket.IO layer of the configured
/// adapter (the layer answers `/socket.io/`, everything else passes through).
async fn attach(app: &AppState) -> Result<Router, String> {
    let routes = crate::http::routes(app.clone());
    let routes = match &app.config.redis.url {
        None => routes.layer(crate::realtime::attach_local(app)),
        Some(_) => {
            let sub = crate::store::redis::subscriber(&app.config.redis)
                .await
                .map_err(|e| e.to_string())?;
            let layer = crate::realtime::attach_redis(app, sub).await?;
            routes.layer(layer)
        }
    };
    // Outermost: origins are checked before Socket.IO or the API see the
    // request (WebSocket upgrades and polling alike), then CORS.
    let routes = match crate::security::cors(app) {
        Some(cors) => routes.layer(cors),
        None => routes,
    };
    Ok(routes.layer(axum::middleware::from_fn_with_state(
        app.clone(),
        crate::security::check_origin,
    )))
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderValue, Request};
    use bytes::Bytes;

    /// What a session keeps of its request (the head) no longer pins the
    /// connection's read buffer.
    #[test]
    fn a_detached_head_shares_nothing_with_the_read_buffer() {
        let buffer = Bytes::from(
            b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\norigin: https://a.example\r\n"
                .to_vec(),
        );
        let value = HeaderValue::from_maybe_shared(buffer.slice(60..77)).unwrap();
        let uri = axum::http::Uri::from_maybe_shared(buffer.slice(4..41)).unwrap();
        let mut req = Request::builder().uri(uri).body(()).unwrap();
        req.headers_mut().insert("origin", value);
        req.headers_mut()
            .append("x-many", HeaderValue::from_static("1"));
        req.headers_mut()
            .append("x-many", HeaderValue::from_static("2"));
        let mut sensitive = HeaderValue::from_static("Bearer t");
        sensitive.set_sensitive(true);
        req.headers_mut().insert("authorization", sensitive);
        assert!(!buffer.is_unique());
        super::detach_head(&mut req);
        assert!(
            buffer.is_unique(),
            "a header value still points into the buffer"
        );
        assert_eq!(req.headers()["origin"], "https://a.example");
        let many: Vec<_> = req.headers().get_all("x-many").iter().collect();
        assert_eq!(many, ["1", "2"]);
        assert!(req.headers()["authorization"].is_sensitive());
        assert_eq!(req.uri(), "/socket.io/?EIO=4&transport=websocket");
    }
}
