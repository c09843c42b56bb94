//! HTTP routes of the node itself: `/health`, `/ready`, `/metrics`, and in
//! development mode only, `/dev/token`; and what every HTTP route gets: a
//! request metric by route template and an access log line
//! (tower-http's `TraceLayer`, target `access`).

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

/// The routes that need the built app. `/metrics` is not among them: it is
/// served from the first second (`server.rs`), Redis or not.
pub fn routes(app: AppState) -> Router {
    let mut r = Router::new().route("/ready", get(ready));
    if app.dev_secret.is_some() {
        r = r.route("/dev/token", get(dev_token));
    }
    let console = crate::admin::console::routes(&app);
    observe(
        r.with_state(app.clone())
            .merge(console)
            .merge(crate::api::routes(app)),
    )
}

/// Request metrics and the access log for every route of `router`. The
/// route label is the matched template (`/api/v1/chats/{chatId}`), so the
/// label set stays bounded; unmatched paths are `unmatched`.
pub fn observe(router: Router) -> Router {
    use tower_http::trace::TraceLayer;
    router.layer(axum::middleware::from_fn(count)).layer(
        TraceLayer::new_for_http()
            .make_span_with(|req: &axum::http::Request<_>| {
                let route = route_of(req);
                let span = tracing::info_span!(
                    "http",
                    otel.name = format!("{} {route}", req.method()),
                    otel.kind = "server",
                    http.request.method = %req.method(),
                    http.route = %route,
                    url.path = %req.uri().path(),
                    http.response.status_code = tracing::field::Empty,
                );
                // An incoming `traceparent` makes this request's span its child.
                let parent = req
                    .headers()
                    .get("traceparent")
                    .and_then(|v| v.to_str().ok());
                crate::telemetry::traces::set_parent(&span, parent);
                span
            })
            .on_request(())
            .on_response(
                |res: &axum::http::Response<_>, took: std::time::Duration, span: &tracing::Span| {
                    span.record("http.response.status_code", res.status().as_u16());
                    tracing::info!(
                        target: "access",
                        status = res.status().as_u16(),
                        ms = took.as_secs_f64() * 1000.0,
                        "request"
                    );
                },
            )
            .on_failure(()),
    )
}

fn route_of<B>(req: &axum::http::Request<B>) -> String {
    req.extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string())
}

async fn count(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = req.method().clone();
    let route = route_of(&req);
    let started = std::time::Instant::now();
    let res = next.run(req).await;
    crate::telemetry::metrics::http_request(
        method.as_str(),
        &route,
        res.status().as_u16(),
        started.elapsed(),
    );
    res
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

/// `/metrics`: the Prometheus text page. Needs nothing but the process.
pub async fn metrics() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::metrics::render(),
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
