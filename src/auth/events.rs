//! Token lifetime on a live connection: `auth:expiring` before `exp`,
//! `auth:refresh { token }` to extend, and the disconnect at `exp`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::App;
use crate::error::AppError;
use crate::fanout::SocketOps;
use crate::realtime::conn::Conn;
use crate::realtime::cx::{parse, Cx};
use crate::realtime::reply::HandlerResult;

fn at(exp_secs: i64) -> String {
    crate::time::rfc3339_from_ms(exp_secs * 1000)
}

async fn sleep_until_secs(t: i64) {
    let now_ms = crate::time::now_ms();
    let wait = (t * 1000 - now_ms).max(0) as u64;
    tokio::time::sleep(Duration::from_millis(wait)).await;
}

/// (Re)arms the connection's expiry: `auth:expiring { expiresAt }`
/// `SB_TOKEN_EXPIRY_WARNING_SECS` before `exp`, then at `exp`
/// `auth:expired { code: "AUTH_EXPIRED" }` and the disconnect.
pub fn schedule(app: &App, conn: &Arc<Conn>, socket: Arc<dyn SocketOps>) {
    let exp = conn.expires_at.load(Ordering::SeqCst);
    let warning = app.config.security.token_warning.as_secs() as i64;
    let task = tokio::spawn(async move {
        sleep_until_secs(exp - warning).await;
        socket.emit("auth:expiring", &json!({ "expiresAt": at(exp) }));
        sleep_until_secs(exp).await;
        socket.emit(
            "auth:expired",
            &json!({ "code": "AUTH_EXPIRED", "message": "the token expired; reconnect with a new one" }),
        );
        crate::telemetry::metrics::disconnect("token_expired");
        socket.disconnect();
    });
    if let Some(old) = conn.expiry.lock().replace(task.abort_handle()) {
        old.abort();
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Refresh {
    token: String,
}

/// `auth:refresh { token }`: a new token for the same `sub`, verified like
/// a new connection's, moves the expiry. Ack `{ expiresAt }`.
pub async fn refresh(cx: &Cx, data: Value) -> HandlerResult {
    let req: Refresh = parse(data)?;
    let id = cx.app.verifier.verify(&req.token).await?;
    if id.user_id != cx.user_id() {
        return Err(AppError::forbidden(
            "the new token is for another user (sub must not change)",
        ));
    }
    cx.conn.expires_at.store(id.expires_at, Ordering::SeqCst);
    schedule(&cx.app, &cx.conn, cx.socket.clone());
    Ok(json!({ "expiresAt": at(id.expires_at) }))
}
