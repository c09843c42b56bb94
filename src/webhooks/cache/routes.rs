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
    responses((status = 200, description = "`{ hits, misses, stale, entries }` across the cluster"),
        (status = 401, body = crate::api::extract::ErrorBody)),
    security(("admin_key" = [])))]
async fn stats(State(app): State<AppState>) -> Result<Json<Value>, AppError> {
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
    responses((status = 200, description = "`{ removed }`"),
        (status = 400, body = crate::api::extract::ErrorBody), (status = 401, body = crate::api::extract::ErrorBody)),
    security(("admin_key" = [])))]
async fn invalidate(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<Invalidate>,
) -> Result<Json<Value>, AppError> {
    let removed =
        super::service::invalidate(&app, req.key.as_deref(), req.prefix.as_deref()).await?;
    Ok(Json(json!({ "removed": removed })))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(stats))
        .routes(routes!(invalidate))
}
