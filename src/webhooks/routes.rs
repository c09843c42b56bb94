//! `POST /api/v1/webhooks/inbound`: a later reply from the automation,
//! authenticated by its signature (not by the integration key).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::replies;
use super::sign;
use super::Inbound;
use crate::api::extract::rejection;
use crate::app::AppState;
use crate::error::AppError;

#[utoipa::path(post, path = "/api/v1/webhooks/inbound", tag = "webhooks",
    request_body = Inbound,
    params(("X-Switchboard-Signature" = String, Header,
        description = "t=<unix>,v1=<hex HMAC-SHA256(secret, \"t.body\")>")),
    responses((status = 200, body = crate::api::bodies::PostedBody),
        (status = 400, body = crate::api::extract::ErrorBody), (status = 401, body = crate::api::extract::ErrorBody),
        (status = 404, body = crate::api::extract::ErrorBody), (status = 409, body = crate::api::extract::ErrorBody),
        (status = 413, body = crate::api::extract::ErrorBody)))]
async fn inbound(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AppError> {
    let body = body.map_err(|r| rejection(r.status(), r.body_text()))?;
    let cfg = &app.config.webhooks;
    let Some(secret) = &cfg.secret else {
        return Err(AppError::unauthorized(
            "webhooks are not configured on this server",
        ));
    };
    let header = headers.get(sign::HEADER).and_then(|v| v.to_str().ok());
    let now = crate::time::now_secs();
    sign::verify(secret, header, &body, cfg.tolerance.as_secs(), now)?;
    // Only signed requests spend the budget (one for all replies).
    crate::rate_limit::service::check(&app, crate::rate_limit::Action::Inbound, "all").await?;
    let req: Inbound =
        serde_json::from_slice(&body).map_err(|e| AppError::invalid(e.to_string()))?;
    let corr = req
        .correlation_id
        .filter(|c| !c.is_empty() && c.len() <= 128)
        .ok_or_else(|| AppError::invalid("correlationId is required"))?;
    let posted = replies::inbound(&app, &corr, req.replies, req.complete).await?;
    Ok(Json(json!({ "posted": posted })))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(inbound))
}
