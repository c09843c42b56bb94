//! Admin routes of the reply cache.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::api::extract::ApiJson;
use crate::app::AppState;
use crate::error::AppError;

#[utoipa::path(get, path = "/admin/cache/stats", tag = "admin",
    responses((status = 200, body = super::Stats, description = "across the cluster"),
        (status = 401, body = crate::api::extract::ErrorBody)),
    security(("admin_key" = [])))]
async fn cache_stats(State(app): State<AppState>) -> Result<Json<Value>, AppError> {
    Ok(Json(json!(super::service::stats(&app).await?)))
}

/// Give `key` (one entry) or `prefix` (every entry whose key starts with it).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invalidate {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub prefix: Option<String>,
}

#[utoipa::path(post, path = "/admin/cache/invalidate", tag = "admin", request_body = Invalidate,
    responses((status = 200, body = crate::api::bodies::RemovedBody),
        (status = 400, body = crate::api::extract::ErrorBody), (status = 401, body = crate::api::extract::ErrorBody)),
    security(("admin_key" = [])))]
async fn cache_invalidate(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<Invalidate>,
) -> Result<Json<Value>, AppError> {
    let removed =
        super::service::invalidate(&app, req.key.as_deref(), req.prefix.as_deref()).await?;
    Ok(Json(json!({ "removed": removed })))
}

/// `?limit=` of the invalidation log.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// 1-100, default 100.
    #[serde(default)]
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/admin/cache/invalidations", tag = "admin", params(LogQuery),
    responses((status = 200, body = crate::api::bodies::InvalidationsBody, description = "newest first"),
        (status = 400, body = crate::api::extract::ErrorBody), (status = 401, body = crate::api::extract::ErrorBody)),
    security(("admin_key" = [])))]
async fn cache_invalidations(
    State(app): State<AppState>,
    q: Result<axum::extract::Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, AppError> {
    let q = q.map_err(|e| AppError::invalid(e.body_text()))?;
    let limit = q.limit.unwrap_or(super::service::INVALIDATIONS_KEPT);
    if !(1..=super::service::INVALIDATIONS_KEPT).contains(&limit) {
        return Err(AppError::invalid("limit must be 1-100"));
    }
    let list = super::service::invalidations(&app, limit).await?;
    Ok(Json(json!({ "invalidations": list })))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(cache_stats))
        .routes(routes!(cache_invalidate))
        .routes(routes!(cache_invalidations))
}
