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
    responses((status = 200, description = "`{ nodeId, draining, connections: { node, cluster }, nodes: [{ nodeId, connections }], queues }`"),
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
    responses((status = 200, description = "`{ sessions: [{ socketId, userId, deviceId, nodeId, since }] }`"),
        (status = 400, body = crate::api::extract::ErrorBody), (status = 401, body = crate::api::extract::ErrorBody)),
    security(("admin_key" = [])))]
async fn sessions(State(app): State<AppState>, Query(q): Query<SessionsQuery>) -> Api {
    let sessions = super::service::sessions_of(&app, &q.user_id).await?;
    Ok(Json(json!({ "sessions": sessions })))
}

#[utoipa::path(post, path = "/admin/users/{userId}/disconnect", tag = "admin",
    params(("userId" = String, Path)),
    responses((status = 200, description = "`{ sessions }`: how many connections were registered"),
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
    responses((status = 200, description = "`{}`: emitted on every node"),
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

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(stats))
        .routes(routes!(sessions))
        .routes(routes!(disconnect))
        .routes(routes!(broadcast))
        .merge(crate::webhooks::cache::routes::router())
}
