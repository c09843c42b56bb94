//! HTTP routes of the chats domain.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::PutChat;
use crate::api::extract::ApiJson;
use crate::app::AppState;
use crate::error::AppError;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddMembers {
    pub user_ids: Vec<String>,
}

type Api = Result<Json<Value>, AppError>;

#[utoipa::path(put, path = "/api/v1/chats/{chatId}", tag = "chats",
    params(("chatId" = String, Path)), request_body = PutChat,
    responses((status = 200, body = crate::api::bodies::PutChatBody),
        (status = 400, body = crate::api::extract::ErrorBody), (status = 401, body = crate::api::extract::ErrorBody),
        (status = 413, body = crate::api::extract::ErrorBody)),
    security(("api_key" = [])))]
async fn put_chat(
    State(app): State<AppState>,
    Path(chat_id): Path<String>,
    ApiJson(req): ApiJson<PutChat>,
) -> Api {
    let (chat, created) = super::service::put(&app, &chat_id, req).await?;
    Ok(Json(json!({ "chat": chat, "created": created })))
}

#[utoipa::path(post, path = "/api/v1/chats/{chatId}/members", tag = "chats",
    params(("chatId" = String, Path)), request_body = AddMembers,
    responses((status = 200, body = crate::api::bodies::ChatBody),
        (status = 400, body = crate::api::extract::ErrorBody), (status = 401, body = crate::api::extract::ErrorBody),
        (status = 404, body = crate::api::extract::ErrorBody), (status = 413, body = crate::api::extract::ErrorBody)),
    security(("api_key" = [])))]
async fn add_members(
    State(app): State<AppState>,
    Path(chat_id): Path<String>,
    ApiJson(req): ApiJson<AddMembers>,
) -> Api {
    let chat = super::service::add_members(&app, None, &chat_id, &req.user_ids).await?;
    Ok(Json(json!({ "chat": chat })))
}

#[utoipa::path(delete, path = "/api/v1/chats/{chatId}/members/{userId}", tag = "chats",
    params(("chatId" = String, Path), ("userId" = String, Path)),
    responses((status = 200, body = crate::api::bodies::ChatBody),
        (status = 400, body = crate::api::extract::ErrorBody), (status = 401, body = crate::api::extract::ErrorBody),
        (status = 404, body = crate::api::extract::ErrorBody)),
    security(("api_key" = [])))]
async fn remove_member(
    State(app): State<AppState>,
    Path((chat_id, user_id)): Path<(String, String)>,
) -> Api {
    let chat = super::service::remove_members(&app, None, &chat_id, &[user_id]).await?;
    Ok(Json(json!({ "chat": chat })))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_chat))
        .routes(routes!(add_members))
        .routes(routes!(remove_member))
}
