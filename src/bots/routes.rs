//! `POST /api/v1/guest-sessions` (PROTOCOL §14): public (no key), off
//! unless `SB_GUEST_SESSIONS=true`, limited per client IP
//! (`SB_RATE_GUEST`). Mints a guest token and, with `botId`, starts the
//! guest's bot session at once.

use axum::extract::{FromRequest, Request, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::StartRequest;
use crate::api::extract::{created, ApiJson, ErrorBody};
use crate::app::AppState;
use crate::error::AppError;

/// Longest guest `name`.
const MAX_NAME_LEN: usize = 100;

/// The body of `POST /api/v1/guest-sessions`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({ "botId": "helpbot", "name": "Visitor", "metadata": { "page": "/pricing" } }))]
pub struct GuestRequest {
    /// Start a session with this bot (one of `SB_GUEST_BOTS`).
    #[serde(default)]
    pub bot_id: Option<String>,
    #[serde(default)]
    pub topic: Option<String>,
    /// The guest's display name (the token's `name`).
    #[serde(default)]
    pub name: Option<String>,
    /// The session chat's `metadata` (a JSON object of at most 4 KB), e.g.
    /// the page the widget is on.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

#[utoipa::path(post, path = "/api/v1/guest-sessions", tag = "guests",
    request_body = GuestRequest,
    responses(
        (status = 201, body = crate::api::bodies::GuestSessionBody, description = "a guest token (and the started session)"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "guests are disabled, or an unknown bot or topic"),
        (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn create_guest_session(
    State(app): State<AppState>,
    req: Request,
) -> Result<Response, AppError> {
    let guests = &app.config.guests;
    let Some(keys) = app.verifier.guests().filter(|_| guests.enabled) else {
        return Err(AppError::not_found("guest sessions are not enabled"));
    };
    let (parts, body) = req.into_parts();
    let ip = crate::security::request_ip(&app, &parts)
        .map_or_else(|| "unknown".to_string(), crate::security::network_of);
    let req = Request::from_parts(parts, body);
    // Empty bodies are a guest without a session.
    let body: GuestRequest = if req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .is_some_and(|v| v == "0")
    {
        GuestRequest::default()
    } else {
        ApiJson::<GuestRequest>::from_request(req, &app).await?.0
    };
    let name = body
        .name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    if name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NAME_LEN || n.chars().any(char::is_control))
    {
        return Err(AppError::invalid(format!(
            "name must be at most {MAX_NAME_LEN} characters"
        )));
    }
    if body.bot_id.is_none() && (body.topic.is_some() || body.metadata.is_some()) {
        return Err(AppError::invalid("topic and metadata need a botId"));
    }
    // Checked before the budget is spent: a bad request costs nothing.
    if let Some(bot) = &body.bot_id {
        if !app.config.bots.knows(bot) {
            return Err(super::BotError::UnknownBot.into());
        }
        if !guests.bots.contains(bot) {
            return Err(super::BotError::NotForGuests.into());
        }
        if !app.config.bots.allows_topic(bot, body.topic.as_deref()) {
            return Err(super::BotError::UnknownTopic.into());
        }
    }
    crate::rate_limit::service::check(&app, crate::rate_limit::Action::Guest, &ip).await?;
    let ttl = guests.ttl.as_secs() as i64;
    let (user_id, token, exp) = keys.mint(name.as_deref(), ttl);
    let chat = match body.bot_id {
        Some(bot_id) => {
            let start = StartRequest {
                bot_id,
                topic: body.topic,
                metadata: body.metadata,
            };
            Some(super::service::start(&app, &user_id, true, start).await?.0)
        }
        None => None,
    };
    let mut out = json!({
        "token": token,
        "userId": user_id,
        "expiresAt": crate::time::rfc3339_from_ms(exp * 1000),
    });
    if let Some(chat) = chat {
        out["chat"] = json!(chat);
    }
    Ok(created(out))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_guest_session))
}
