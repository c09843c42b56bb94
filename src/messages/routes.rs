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
#[schema(example = json!({ "chatId": "support-42", "senderId": "helpbot", "content": "Welcome!", "clientId": "welcome-1" }))]
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
        (status = 201, body = crate::api::bodies::MessageBody, description = "stored and delivered"),
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

/// `GET /api/v1/chats/{chatId}/messages` query: as `chat:history`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Messages before this `seq` (exclusive), newest first taken.
    pub before_seq: Option<u64>,
    /// Messages after this `seq` (exclusive), oldest first taken.
    pub after_seq: Option<u64>,
    /// Page size, 1 to `SB_HISTORY_PAGE_MAX` (default 50).
    pub limit: Option<usize>,
}

/// A page of history, ascending by `seq`.
#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPage {
    pub messages: Vec<super::Message>,
    /// More messages exist in the direction of paging.
    pub has_more: bool,
}

/// History over HTTP (PROTOCOL §11): for servers with the integration key,
/// and for web widgets with the JWT of a member, before they open a socket.
#[utoipa::path(get, path = "/api/v1/chats/{chatId}/messages", tag = "messages",
    params(("chatId" = String, Path), HistoryQuery),
    responses(
        (status = 200, body = HistoryPage, description = "`{ messages, hasMore }`, ascending by `seq`"),
        (status = 400, body = crate::api::extract::ErrorBody), (status = 401, body = crate::api::extract::ErrorBody),
        (status = 403, body = crate::api::extract::ErrorBody, description = "the token's user is not a member"),
        (status = 404, body = crate::api::extract::ErrorBody, description = "no such chat")),
    security(("api_key" = []), ("member_jwt" = [])))]
async fn history(
    State(app): State<AppState>,
    axum::extract::Path(chat_id): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
    query: Result<axum::extract::Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<HistoryPage>, AppError> {
    let reader = crate::api::extract::key_or_member(&app, &headers).await?;
    let axum::extract::Query(q) = query.map_err(|e| AppError::invalid(e.body_text()))?;
    match &reader {
        // A member's own budget, as for the socket event.
        Some(user) => {
            crate::rate_limit::service::check(&app, crate::rate_limit::Action::Other, user).await?
        }
        // The integration key's budget, as for every keyed route.
        None => crate::api::extract::api_budget(&app, "/api/v1/chats").await?,
    }
    crate::chat::validate_chat_id(&chat_id)?;
    // One lookup answers both: the chat exists (404), the token's user is
    // a member (403).
    let chat = app
        .stores
        .chats
        .get_chat(&chat_id)
        .await?
        .ok_or_else(|| AppError::not_found("no such chat"))?;
    if reader.is_some_and(|u| !chat.members.contains(&u)) {
        return Err(crate::chat::ChatError::NotMember.into());
    }
    let req = super::service::HistoryRequest {
        chat_id,
        before_seq: q.before_seq,
        after_seq: q.after_seq,
        limit: q.limit,
    };
    let page = super::service::page(&app, req).await?;
    Ok(axum::Json(HistoryPage {
        messages: page.messages,
        has_more: page.has_more,
    }))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(post_message))
}

/// Routes that authenticate themselves (the integration key or a member's
/// JWT).
pub fn open_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(history))
}
