//! HTTP routes of the channels domain.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::api::extract::ApiJson;
use crate::app::AppState;
use crate::error::AppError;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "data": { "score": "2-1" } }))]
pub struct Publish {
    #[schema(value_type = Object)]
    pub data: Value,
}

#[utoipa::path(post, path = "/api/v1/channels/{channel}/publish", tag = "channels",
    params(("channel" = String, Path)), request_body = Publish,
    responses((status = 200, body = crate::api::bodies::Empty, description = "published on every node"),
        (status = 400, body = crate::api::extract::ErrorBody), (status = 401, body = crate::api::extract::ErrorBody),
        (status = 403, body = crate::api::extract::ErrorBody), (status = 413, body = crate::api::extract::ErrorBody)),
    security(("api_key" = [])))]
async fn publish(
    State(app): State<AppState>,
    Path(channel): Path<String>,
    ApiJson(req): ApiJson<Publish>,
) -> Result<Json<Value>, AppError> {
    super::service::check_server(&app, &channel)?;
    super::service::publish(&app, &channel, &req.data).await?;
    Ok(Json(json!({})))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(publish))
}
