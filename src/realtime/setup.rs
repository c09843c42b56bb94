//! Wiring socketioxide: the connect middleware (authentication and
//! per-connection state), the connect handler (rooms, registry, `connected`)
//! and the disconnect handler.

use std::sync::Arc;

use serde_json::{json, Value};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::{SocketIo, SocketIoBuilder};

use super::conn::Conn;
use super::cx::Cx;
use super::dispatch;
use super::enqueue::Enqueue;
use super::fanout::{IoFanout, SocketHandle};
use super::pubsub::PubsubDriver;
use crate::app::AppState;
use crate::auth::connect::{credentials, ConnectRefusal};
use crate::fanout::{Fanout, SocketOps};
use crate::rooms;
use crate::telemetry::metrics;
use tracing::Instrument;

/// Events one connection may have queued before new ones are refused.
const QUEUE_CAPACITY: usize = 1024;

fn builder(app: &AppState) -> SocketIoBuilder {
    let s = &app.config.server;
    SocketIo::builder()
        .with_state(app.clone())
        .max_payload(s.max_payload)
        // engineioxide applies `max_payload` to polling only; WebSocket
        // messages and frames get the same bound here.
        .ws_max_message_size(s.max_payload as usize)
        .ws_max_frame_size(s.max_payload as usize)
        // An Engine.IO session that never sends its Socket.IO CONNECT is
        // closed after this long.
        .connect_timeout(std::time::Duration::from_secs(10))
        .ping_interval(s.ping_interval)
        .ping_timeout(s.ping_timeout)
        .max_buffer_size(s.socket_buffer)
        .ws_read_buffer_size(s.ws_read_buffer)
}

/// The Socket.IO layer on the in-process adapter (single node).
pub fn attach_local(app: &AppState) -> SocketIoLayer {
    let (layer, io) = builder(app).build_layer();
    io.ns("/", on_connect.with(authenticate));
    tokio::spawn(idle_sweep(io.clone(), app.clone()));
    app.set_fanout(Arc::new(IoFanout(io)) as Arc<dyn Fanout>);
    layer
}

/// The Socket.IO layer on the Redis adapter (cluster).
pub async fn attach_redis(
    app: &AppState,
    subscriber: crate::store::redis::Subscriber,
) -> Result<SocketIoLayer<super::pubsub::Adapter<socketioxide::adapter::Emitter>>, String> {
    let r = &app.config.redis;
    let cfg = socketioxide_redis::RedisAdapterConfig::new()
        .with_prefix(format!("{}sio", r.prefix))
        .with_request_timeout(r.adapter_request_timeout)
        .with_stream_buffer(r.adapter_buffer);
    let crate::store::redis::Subscriber {
        client: subscriber,
        resubscribed,
    } = subscriber;
    let (lost_tx, lost) = tokio::sync::watch::channel(0u64);
    let driver = PubsubDriver::new(subscriber, &app.0, lost_tx)
        .await
        .map_err(|e| format!("redis adapter: {e}"))?;
    let ctr = socketioxide_redis::RedisAdapterCtr::new_with_driver(driver, cfg);
    let (layer, io) = builder(app)
        .with_adapter::<super::pubsub::Adapter<_>>(ctr)
        .build_layer();
    io.ns("/", on_connect.with(authenticate))
        .await
        .map_err(|e| format!("redis adapter: {e}"))?;
    tokio::spawn(ask_to_sync(io.clone(), resubscribed, lost));
    tokio::spawn(idle_sweep(io.clone(), app.clone()));
    app.set_fanout(Arc::new(IoFanout(io)) as Arc<dyn Fanout>);
    Ok(layer)
}

/// This node missed what other nodes published: after the pub/sub
/// connection was lost and restored (`pubsub_reconnected`), or when
/// cross-node messages were dropped from a full buffer (`pubsub_lagged`,
/// see realtime::pubsub). `sync:needed` tells its clients to `chat:sync`
/// (docs/protocol.md §4). Drops come in bursts: the notice goes out once the
/// burst has been quiet for [`LAG_QUIET`] (during a longer overload, every
/// [`LAG_LONGEST`]), so that an overload does not turn into a sync storm.
async fn ask_to_sync<A: Adapter>(
    io: socketioxide::SocketIo<A>,
    mut resubscribed: tokio::sync::watch::Receiver<u64>,
    mut lost: tokio::sync::watch::Receiver<u64>,
) {
    loop {
        let reason = tokio::select! {
            r = resubscribed.changed() => {
                if r.is_err() {
                    return;
                }
                crate::telemetry::metrics::pubsub_resubscribed();
                "pubsub_reconnected"
            }
            r = lost.changed() => {
                if r.is_err() {
                    return;
                }
                // Let the burst pass: the clients sync once, after it
                // (or every LAG_LONGEST while it lasts).
                let since = tokio::time::Instant::now();
                loop {
                    let seen = *lost.borrow_and_update();
                    tokio::time::sleep(LAG_QUIET).await;
                    if *lost.borrow() == seen || since.elapsed() >= LAG_LONGEST {
                        break;
                    }
                }
                "pubsub_lagged"
            }
        };
        let data = serde_json::json!({ "reason": reason, "at": crate::time::now_rfc3339() });
        tracing::warn!(
            reason,
            dropped = *lost.borrow(),
            sockets = io.sockets().len(),
            "cross-node messages were missed; asking clients to sync"
        );
        if let Err(e) = io.local().emit("sync:needed", &data).await {
            tracing::warn!(error = %e, "sync:needed broadcast failed");
        }
    }
}

/// How long cross-node drops must stop before clients are told to sync.
const LAG_QUIET: std::time::Duration = std::time::Duration::from_secs(1);
/// The longest a node waits to send `sync:needed` while drops go on.
const LAG_LONGEST: std::time::Duration = std::time::Duration::from_secs(10);

/// The idle timeout (`SB_IDLE_TIMEOUT_SECS`): a coarse sweep over the
/// node's connections, every quarter of the timeout (at most 30 s), reads
/// each one's last-event stamp (set as events are queued: no timer per
/// event or per connection). An idle connection gets
/// `session:idle { idleSecs }`, then is disconnected; it is closed between
/// the timeout and the timeout plus one sweep period after its last event.
async fn idle_sweep<A: Adapter>(io: socketioxide::SocketIo<A>, app: AppState) {
    let timeout = app.config.server.idle_timeout;
    if timeout.is_zero() {
        return;
    }
    let period = (timeout / 4).clamp(
        std::time::Duration::from_millis(250),
        std::time::Duration::from_secs(30),
    );
    let data = serde_json::json!({ "idleSecs": timeout.as_secs() });
    crate::time::every(period, || async {
        for s in io.sockets() {
            let idle = s
                .extensions
                .get::<Arc<Conn>>()
                .is_some_and(|c| c.idle_for() >= timeout);
            if !idle {
                continue;
            }
            metrics::idle_disconnect();
            // The notice is queued before the disconnect packet, on the
            // same transport.
            let _ = s.emit("session:idle", &data);
            let _ = s.disconnect();
        }
    })
    .await;
}

/// A user at `SB_MAX_CONNECTIONS_PER_USER` waits this long before trying
/// again (one of its connections may have closed by then; no time-based
/// limit says when).
const PER_USER_RETRY_MS: u64 = 5_000;

/// Connect middleware: authenticate, then set up the connection's queue and
/// handlers before the client can send anything.
async fn authenticate<A: Adapter>(
    s: SocketRef<A>,
    TryData(auth): TryData<Value>,
    State(app): State<AppState>,
) -> Result<(), ConnectRefusal> {
    let auth = auth.ok();
    let span = crate::telemetry::traces::connect_span(&s.id.to_string(), || {
        // `auth.traceparent`, else the handshake request's header.
        auth.as_ref()
            .and_then(|a| a.get("traceparent"))
            .and_then(Value::as_str)
            .or_else(|| {
                s.req_parts()
                    .headers
                    .get("traceparent")
                    .and_then(|v| v.to_str().ok())
            })
            .map(str::to_string)
    });
    let result = admit(&s, auth, &app).instrument(span.clone()).await;
    if let Err(refusal) = &result {
        metrics::handshake(refusal.code());
        span.record("error.type", "refused");
    }
    result
}

async fn admit<A: Adapter>(
    s: &SocketRef<A>,
    auth: Option<Value>,
    app: &AppState,
) -> Result<(), ConnectRefusal> {
    if app.is_draining() {
        return Err(ConnectRefusal::Draining {
            retry_after_ms: crate::auth::connect::DRAINING_RETRY_MS,
        });
    }
    if let Some(ip) = crate::security::request_ip(app, s.req_parts()) {
        use crate::rate_limit::RateLimitError;
        let refused = match crate::rate_limit::service::check(
            app,
            crate::rate_limit::Action::Connect,
            // An IPv6 client by its /64, which one host commonly holds
            // whole (as for guest sessions).
            &crate::security::network_of(ip),
        )
        .await
        {
            Ok(()) => None,
            Err(RateLimitError::Limited { retry_after_ms }) => Some(ConnectRefusal::RateLimited {
                retry_after_ms,
                why: "too many connections from this address (SB_RATE_CONNECT): retry after retryAfterMs",
            }),
            Err(RateLimitError::Unavailable) => Some(ConnectRefusal::RateLimited {
                retry_after_ms: 1_000,
                why: "the connection rate limiter is unavailable: retry after retryAfterMs",
            }),
        };
        if let Some(r) = refused {
            return Err(r);
        }
    }
    let token = credentials(auth.as_ref(), s.req_parts());
    let identity = match app.verifier.verify(token.as_deref().unwrap_or("")).await {
        Ok(id) => id,
        Err(e) => {
            return Err(ConnectRefusal::Auth(e));
        }
    };
    let max = app.config.security.max_connections_per_user;
    if let Ok(sessions) = app.stores.cluster.sessions_of(&identity.user_id).await {
        if sessions.len() >= max {
            return Err(ConnectRefusal::RateLimited {
                retry_after_ms: PER_USER_RETRY_MS,
                why: "this user holds the most connections allowed (SB_MAX_CONNECTIONS_PER_USER): close one, or retry after retryAfterMs",
            });
        }
    }
    let device_id = identity
        .device_id
        .clone()
        .unwrap_or_else(|| format!("conn-{}", s.id));
    let (conn, rx, gate) = Conn::new(identity, device_id, s.id.to_string(), QUEUE_CAPACITY);
    s.extensions.insert(conn.clone());
    s.on_fallback(async |_: Enqueue| {});
    s.on_disconnect(on_disconnect);
    let socket: Arc<dyn SocketOps> = Arc::new(SocketHandle(s.clone()));
    let app = app.clone();
    tokio::spawn(dispatch::run(Cx { app, conn, socket }, rx, gate));
    Ok(())
}

/// After the CONNECT packet: join the user's room and chats, register the
/// session, emit `connected`, then let queued events run.
async fn on_connect<A: Adapter>(s: SocketRef<A>, State(app): State<AppState>) {
    let Some(conn) = s.extensions.get::<Arc<Conn>>() else {
        return;
    };
    metrics::handshake("ok");
    metrics::connection_opened();
    app.connection_opened();
    let user = conn.user_id().to_string();
    s.join([rooms::user(&user), rooms::socket(&conn.socket_id)]);
    let session = conn.session(&app.node_id);
    match app.stores.cluster.add_session(&session).await {
        Ok(Some(presence)) => crate::presence::service::announce(&app, &presence).await,
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "could not register the session"),
    }
    // Closed while registering: the disconnect handler may have run before
    // the session existed, so remove it here (removing twice is harmless).
    if s.extensions.get::<Arc<Conn>>().is_none() {
        let grace = app.config.presence.grace;
        let _ = app
            .stores
            .cluster
            .remove_session(&user, &conn.socket_id, &app.node_id, grace)
            .await;
        return;
    }
    let joined = app
        .stores
        .chats
        .chats_of_user(
            &user,
            app.config
                .chat
                .auto_join_limit
                .min(app.config.security.max_chats_per_socket),
        )
        .await;
    let join_failed = match joined {
        Ok(chat_ids) => {
            s.join(chat_ids.iter().map(|c| rooms::chat(c)).collect::<Vec<_>>());
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not auto-join chats");
            true
        }
    };
    s.emit(
        "connected",
        &json!({
            "userId": user,
            "deviceId": conn.device_id,
            "socketId": conn.socket_id,
            "nodeId": app.node_id,
            "serverTime": crate::time::now_rfc3339(),
        }),
    )
    .ok();
    crate::inbox::service::deliver(&app, &user).await;
    let handle: Arc<dyn SocketOps> = Arc::new(SocketHandle(s.clone()));
    crate::auth::events::schedule(&app, &conn, handle);
    if join_failed {
        s.emit(
            "error",
            &json!({
                "event": "connect",
                "code": "UNAVAILABLE",
                "message": "could not join your chats; call chat:join-multiple",
            }),
        )
        .ok();
    }
    conn.open_gate();
}

async fn on_disconnect<A: Adapter>(s: SocketRef<A>, State(app): State<AppState>) {
    let Some(conn) = s.extensions.remove::<Arc<Conn>>() else {
        return;
    };
    metrics::connection_closed();
    app.connection_closed();
    conn.close_queue();
    if let Some(timer) = conn.expiry.lock().take() {
        timer.abort();
    }
    crate::messages::typing::stop_all(&app, &conn).await;
    let calls: Vec<String> = conn.calls.lock().drain(..).collect();
    crate::calls::service::on_disconnect(&app, conn.user_id(), &conn.socket_id, calls).await;
    if let Err(e) = app
        .stores
        .cluster
        .remove_session(
            conn.user_id(),
            &conn.socket_id,
            &app.node_id,
            app.config.presence.grace,
        )
        .await
    {
        tracing::warn!(error = %e, "could not unregister the session");
    }
}
