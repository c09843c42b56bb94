//! HTTP route of the user events.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
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
pub struct UserEvent {
    /// The Socket.IO event name the user's devices receive.
    pub event: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Value,
    /// Queue the event if the user is offline (delivered on its next
    /// connection, in order).
    #[serde(default)]
    pub persist: bool,
}

#[utoipa::path(post, path = "/api/v1/users/{userId}/events", tag = "users",
    params(("userId" = String, Path)), request_body = UserEvent,
    responses((status = 202, body = crate::api::bodies::OutcomeBody),
        (status = 400, body = crate::api::extract::ErrorBody), (status = 401, body = crate::api::extract::ErrorBody),
        (status = 413, body = crate::api::extract::ErrorBody)),
    security(("api_key" = [])))]
async fn post_event(
    State(app): State<AppState>,
    Path(user): Path<String>,
    ApiJson(req): ApiJson<UserEvent>,
) -> Result<Response, AppError> {
    let outcome = super::service::send(&app, &user, &req.event, req.data, req.persist).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "outcome": outcome }))).into_response())
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(post_event))
}
