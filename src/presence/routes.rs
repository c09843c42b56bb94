//! HTTP routes of the presence domain.

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::AppState;
use crate::error::AppError;

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct Users {
    /// Comma-separated user ids.
    user_ids: String,
}

#[utoipa::path(get, path = "/api/v1/presence", tag = "presence", params(Users),
    responses((status = 200, body = crate::api::bodies::PresencesBody),
        (status = 400, body = crate::api::extract::ErrorBody), (status = 401, body = crate::api::extract::ErrorBody),
        (status = 413, body = crate::api::extract::ErrorBody)),
    security(("api_key" = [])))]
async fn get_presence(
    State(app): State<AppState>,
    Query(q): Query<Users>,
) -> Result<Json<Value>, AppError> {
    let ids: Vec<String> = q
        .user_ids
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let ids = crate::ids::validate_user_ids(&ids, app.config.chat.max_ids_per_request)?;
    let presences = super::service::presences(&app, &ids).await?;
    Ok(Json(json!({ "presences": presences })))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_presence))
}
