//! HTTP routes of the messages domain.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{service::Origin, validate::SendMessage, MessageType};
use crate::api::extract::{created, ApiJson};
use crate::app::AppState;
use crate::error::AppError;

/// `POST /api/v1/messages`: a message from `senderId` (a member of the chat,
/// e.g. a bot), validated and delivered exactly like `message:new`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PostMessage {
    pub chat_id: String,
    pub sender_id: String,
    #[serde(default)]
    pub content: String,
    /// text | image | video | audio | file | location | link | system
    #[serde(default, rename = "type")]
    #[schema(value_type = Option<String>)]
    pub kind: MessageType,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub media: Option<super::Media>,
    #[serde(default)]
    pub reply_to: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub forwarded_from: Option<serde_json::Value>,
    /// Idempotency key: a retry with the same one stores nothing new.
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub encrypted: bool,
}

#[utoipa::path(post, path = "/api/v1/messages", tag = "messages",
    request_body = PostMessage,
    responses(
        (status = 201, description = "`{ message }`: stored and delivered"),
        (status = 400, body = crate::api::extract::ErrorBody), (status = 401, body = crate::api::extract::ErrorBody),
        (status = 403, body = crate::api::extract::ErrorBody), (status = 404, body = crate::api::extract::ErrorBody),
        (status = 413, body = crate::api::extract::ErrorBody)),
    security(("api_key" = [])))]
async fn post_message(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<PostMessage>,
) -> Result<Response, AppError> {
    crate::ids::validate_user_id(&req.sender_id)?;
    let send = SendMessage {
        chat_id: req.chat_id,
        content: req.content,
        kind: req.kind,
        media: req.media,
        reply_to: req.reply_to,
        forwarded_from: req.forwarded_from,
        client_id: req.client_id,
        encrypted: req.encrypted,
    };
    let message = super::service::send(&app, &req.sender_id, send, Origin::Server).await?;
    Ok(created(json!({ "message": message })))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(post_message))
}
