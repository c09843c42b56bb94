//! HTTP routes of the node itself: `/health`, `/ready`, `/metrics`, and in
//! development mode only, `/dev/token`.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::app::AppState;
use crate::auth::TokenBuilder;
use crate::error::AppError;

/// Liveness: the process serves.
pub async fn health() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// The routes that need the built app.
pub fn routes(app: AppState) -> Router {
    let mut r = Router::new()
        .route("/ready", get(ready))
        .route("/metrics", get(metrics));
    if app.dev_secret.is_some() {
        r = r.route("/dev/token", get(dev_token));
    }
    r.with_state(app.clone()).merge(crate::api::routes(app))
}

/// Readiness: the store answers and the node is not draining.
async fn ready(State(app): State<AppState>) -> impl IntoResponse {
    match app.ready().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({ "status": "ready", "nodeId": app.node_id })),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not-ready", "reason": e.to_string(), "nodeId": app.node_id })),
        ),
    }
}

async fn metrics() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::metrics::handle().render(),
    )
}

#[derive(Deserialize)]
struct DevTokenQuery {
    sub: String,
    #[serde(default)]
    device: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// Development mode only: a 24 h token for any user, signed with the
/// generated secret.
async fn dev_token(
    State(app): State<AppState>,
    Query(q): Query<DevTokenQuery>,
) -> Result<impl IntoResponse, AppError> {
    let secret = app
        .dev_secret
        .as_deref()
        .ok_or_else(|| AppError::not_found("not found"))?;
    crate::ids::validate_user_id(&q.sub).map_err(AppError::from)?;
    let token = TokenBuilder::new(&q.sub)
        .device(q.device.as_deref())
        .name(q.name.as_deref())
        .sign_hs256(secret);
    Ok(Json(json!({ "token": token, "userId": q.sub })))
}
