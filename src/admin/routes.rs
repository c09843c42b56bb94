//! HTTP routes of the admin API.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::api::extract::ApiJson;
use crate::app::AppState;
use crate::error::AppError;
use crate::rooms;

type Api = Result<Json<Value>, AppError>;

#[utoipa::path(get, path = "/admin/stats", tag = "admin",
    responses((status = 200, body = crate::api::bodies::StatsBody),
        (status = 401, body = crate::api::extract::ErrorBody)),
    security(("admin_key" = [])))]
async fn stats(State(app): State<AppState>) -> Api {
    Ok(Json(super::service::stats(&app).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct SessionsQuery {
    user_id: String,
}

#[utoipa::path(get, path = "/admin/sessions", tag = "admin", params(SessionsQuery),
    responses((status = 200, body = crate::api::bodies::SessionsBody),
        (status = 400, body = crate::api::extract::ErrorBody), (status = 401, body = crate::api::extract::ErrorBody)),
    security(("admin_key" = [])))]
async fn sessions(State(app): State<AppState>, Query(q): Query<SessionsQuery>) -> Api {
    let sessions = super::service::sessions_of(&app, &q.user_id).await?;
    Ok(Json(json!({ "sessions": sessions })))
}

#[utoipa::path(post, path = "/admin/users/{userId}/disconnect", tag = "admin",
    params(("userId" = String, Path)),
    responses((status = 200, body = crate::api::bodies::DisconnectedBody),
        (status = 400, body = crate::api::extract::ErrorBody), (status = 401, body = crate::api::extract::ErrorBody)),
    security(("admin_key" = [])))]
async fn disconnect(State(app): State<AppState>, Path(user): Path<String>) -> Api {
    let n = super::service::disconnect_user(&app, &user).await?;
    Ok(Json(json!({ "sessions": n })))
}

/// `POST /admin/broadcast`: to everyone, or to one chat, user or channel.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Broadcast {
    pub event: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Value,
    #[serde(default)]
    pub chat_id: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
}

#[utoipa::path(post, path = "/admin/broadcast", tag = "admin", request_body = Broadcast,
    responses((status = 200, body = crate::api::bodies::Empty, description = "emitted on every node"),
        (status = 400, body = crate::api::extract::ErrorBody), (status = 401, body = crate::api::extract::ErrorBody),
        (status = 413, body = crate::api::extract::ErrorBody)),
    security(("admin_key" = [])))]
async fn broadcast(State(app): State<AppState>, ApiJson(req): ApiJson<Broadcast>) -> Api {
    crate::inbox::validate_event(&req.event)?;
    if crate::messages::validate::json_len(&req.data) > app.config.messages.max_content_bytes {
        return Err(AppError::too_large("data is too large"));
    }
    let room = match (&req.chat_id, &req.user_id, &req.channel) {
        (None, None, None) => None,
        (Some(c), None, None) => {
            crate::ids::validate_chat_id(c)?;
            Some(rooms::chat(c))
        }
        (None, Some(u), None) => {
            crate::ids::validate_user_id(u)?;
            Some(rooms::user(u))
        }
        (None, None, Some(t)) => {
            crate::channels::validate_channel(t)?;
            Some(rooms::channel(t))
        }
        _ => {
            return Err(AppError::invalid(
                "give at most one of chatId, userId and channel",
            ))
        }
    };
    let fanout = app.fanout();
    match room {
        Some(r) => fanout.emit(vec![r], vec![], &req.event, &req.data).await,
        None => fanout.emit_all(&req.event, &req.data).await,
    }
    Ok(Json(json!({})))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DeadLettersQuery {
    /// Newest first, 1 to 1000 (default 100).
    limit: Option<usize>,
}

/// A delivery that ran out of attempts (or was refused for good).
#[derive(serde::Serialize, ToSchema)]
struct DeadLetter {
    /// The delivery id (replay and delete take it).
    id: String,
    #[schema(value_type = Object)]
    delivery: Value,
    /// The last attempt's failure (`HTTP 500`, `timed out`, ...).
    error: String,
    /// When it was dead-lettered (RFC 3339).
    at: String,
}

#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct DeadLetters {
    dead_letters: Vec<DeadLetter>,
}

#[utoipa::path(get, path = "/admin/webhooks/dead-letters", tag = "admin", params(DeadLettersQuery),
    responses((status = 200, body = DeadLetters, description = "newest first"),
        (status = 400, body = crate::api::extract::ErrorBody), (status = 401, body = crate::api::extract::ErrorBody)),
    security(("admin_key" = [])))]
async fn dead_letters(
    State(app): State<AppState>,
    q: Result<Query<DeadLettersQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DeadLetters>, AppError> {
    let Query(q) = q.map_err(|e| AppError::invalid(e.body_text()))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::invalid("limit must be 1-1000"));
    }
    let entries = app.stores.webhooks.dead_letters(limit).await?;
    let dead_letters = entries
        .into_iter()
        .map(|e| DeadLetter {
            id: e["delivery"]["id"].as_str().unwrap_or_default().to_string(),
            error: e["error"].as_str().unwrap_or_default().to_string(),
            at: e["at"].as_str().unwrap_or_default().to_string(),
            delivery: e["delivery"].clone(),
        })
        .collect();
    Ok(Json(DeadLetters { dead_letters }))
}

fn dead_letter_id(id: &str) -> Result<(), AppError> {
    if !crate::webhooks::queue::is_delivery_id(id) {
        return Err(AppError::invalid(
            "a dead letter id is 1-64 letters and digits",
        ));
    }
    Ok(())
}

#[utoipa::path(post, path = "/admin/webhooks/dead-letters/{id}/replay", tag = "admin",
    params(("id" = String, Path)),
    responses((status = 200, body = crate::api::bodies::ReplayedBody, description = "queued again, attempts from 1"),
        (status = 400, body = crate::api::extract::ErrorBody), (status = 401, body = crate::api::extract::ErrorBody),
        (status = 404, body = crate::api::extract::ErrorBody)),
    security(("admin_key" = [])))]
async fn replay_dead_letter(State(app): State<AppState>, Path(id): Path<String>) -> Api {
    dead_letter_id(&id)?;
    match crate::webhooks::service::replay_dead(&app, &id).await? {
        Some(_) => Ok(Json(json!({ "replayed": id }))),
        None => Err(AppError::not_found("no such dead letter")),
    }
}

#[utoipa::path(delete, path = "/admin/webhooks/dead-letters/{id}", tag = "admin",
    params(("id" = String, Path)),
    responses((status = 200, body = crate::api::bodies::DeletedBody),
        (status = 400, body = crate::api::extract::ErrorBody), (status = 401, body = crate::api::extract::ErrorBody),
        (status = 404, body = crate::api::extract::ErrorBody)),
    security(("admin_key" = [])))]
async fn delete_dead_letter(State(app): State<AppState>, Path(id): Path<String>) -> Api {
    dead_letter_id(&id)?;
    match app.stores.webhooks.take_dead(&id).await? {
        Some(_) => Ok(Json(json!({ "deleted": id }))),
        None => Err(AppError::not_found("no such dead letter")),
    }
}

#[utoipa::path(get, path = "/admin/chats/{chatId}", tag = "admin",
    params(("chatId" = String, Path)),
    responses((status = 200, body = crate::api::bodies::ChatMessagesBody, description = "the chat and its last 20 messages"),
        (status = 400, body = crate::api::extract::ErrorBody), (status = 401, body = crate::api::extract::ErrorBody),
        (status = 404, body = crate::api::extract::ErrorBody)),
    security(("admin_key" = [])))]
async fn chat(State(app): State<AppState>, Path(chat_id): Path<String>) -> Api {
    Ok(Json(super::service::chat(&app, &chat_id).await?))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(chat))
        .routes(routes!(dead_letters))
        .routes(routes!(replay_dead_letter))
        .routes(routes!(delete_dead_letter))
        .routes(routes!(stats))
        .routes(routes!(sessions))
        .routes(routes!(disconnect))
        .routes(routes!(broadcast))
        .merge(crate::webhooks::cache::routes::router())
}
