//! HTTP routes of the notifications domain.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Kind, Priority};
use crate::api::extract::{created, ApiJson};
use crate::app::AppState;
use crate::error::AppError;

/// Longest title and body, in bytes.
const MAX_TEXT: usize = 1024;

/// `POST /api/v1/notifications`: one notification for each of `userIds`,
/// stored and pushed live like the server's own.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({ "userIds": ["alice"], "title": "Your order shipped", "body": "Track it in the app", "type": "system" }))]
pub struct PostNotification {
    pub user_ids: Vec<String>,
    /// mention | reply | call | chat | system (default system)
    #[serde(default, rename = "type")]
    #[schema(value_type = Option<String>)]
    pub kind: Option<Kind>,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
    /// low | normal | high
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub priority: Priority,
    #[serde(default)]
    pub sound: Option<String>,
    #[serde(default)]
    pub badge: Option<u32>,
}

#[utoipa::path(post, path = "/api/v1/notifications", tag = "notifications",
    request_body = PostNotification,
    responses((status = 201, body = crate::api::bodies::NotifiedBody),
        (status = 400, body = crate::api::extract::ErrorBody), (status = 401, body = crate::api::extract::ErrorBody),
        (status = 413, body = crate::api::extract::ErrorBody)),
    security(("api_key" = [])))]
async fn post_notification(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<PostNotification>,
) -> Result<Response, AppError> {
    let users = crate::ids::validate_user_ids(&req.user_ids, app.config.chat.max_ids_per_request)?;
    if users.is_empty() {
        return Err(AppError::invalid("userIds must not be empty"));
    }
    let too_long = |s: &Option<String>| s.as_ref().is_some_and(|s| s.len() > MAX_TEXT);
    if req.title.trim().is_empty() || req.title.len() > MAX_TEXT || too_long(&req.body) {
        return Err(AppError::invalid(format!(
            "title is required; title and body are at most {MAX_TEXT} bytes"
        )));
    }
    if too_long(&req.sound) {
        return Err(AppError::invalid("sound is too long"));
    }
    let data = req.data.unwrap_or(serde_json::Value::Null);
    if crate::messages::validate::json_len(&data) > app.config.messages.max_content_bytes {
        return Err(AppError::too_large("data is too large"));
    }
    let mut n = super::new(req.kind.unwrap_or(Kind::System), req.title, req.body, data);
    n.priority = req.priority;
    n.sound = req.sound;
    n.badge = req.badge;
    super::service::notify(&app, &users, &n).await?;
    Ok(created(json!({ "notified": users.len() })))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(post_notification))
}
