//! What every HTTP route shares: the JSON body extractor (one mapping of
//! JSON rejections to the error envelope), the key checks, the error body
//! of PROTOCOL §11 and the `201 Created` helper.

use axum::extract::{FromRequest, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::AppState;
use crate::error::AppError;

/// A JSON body whose rejections (malformed, wrong type, too large) answer
/// with the error envelope.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(r) => Err(rejection(r.status(), r.body_text())),
        }
    }
}

/// The one mapping of a body rejection (JSON or raw bytes) to the error
/// envelope: too large → `PAYLOAD_TOO_LARGE`, anything else →
/// `INVALID_PAYLOAD` with axum's explanation.
pub fn rejection(status: axum::http::StatusCode, text: String) -> AppError {
    match status {
        axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            AppError::too_large("the request body is too large")
        }
        // A missing or wrong Content-Type: 415, still INVALID_PAYLOAD.
        axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError {
            http_status: Some(415),
            ..AppError::invalid("send the body as JSON with Content-Type: application/json")
        },
        _ => AppError::invalid(text),
    }
}

/// Constant-time comparison of a presented key with the configured one
/// (hashed first, so that the lengths do not leak either).
pub fn key_matches(presented: &str, configured: &str) -> bool {
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(configured.as_bytes());
    a.ct_eq(&b).into()
}

/// Who reads: the integration key (`None`: the server, any chat) or a
/// user's JWT (`Some(user)`). A missing credential, or one that is
/// neither, is 401 with `WWW-Authenticate`.
pub async fn key_or_member(
    app: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<Option<String>, AppError> {
    let given = bearer(headers).filter(|t| !t.is_empty()).ok_or_else(|| {
        AppError::unauthorized(
            "send the integration key or a member's token as Authorization: Bearer <...>",
        )
    })?;
    if let Some(key) = app.config.api.api_key.as_deref() {
        if key_matches(given, key) {
            return Ok(None);
        }
    }
    match app.verifier.verify(given).await {
        Ok(identity) => Ok(Some(identity.user_id)),
        Err(e) => Err(AppError::unauthorized(format!(
            "neither the integration key nor a valid token ({})",
            e.code()
        ))),
    }
}

fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The request carries the configured key (`what` names it in errors).
fn check_key(configured: Option<&str>, what: &str, req: &Request) -> Result<(), AppError> {
    let Some(key) = configured else {
        return Err(AppError::unauthorized(format!(
            "the {what} key is not configured on this server"
        )));
    };
    match bearer(req.headers()) {
        Some(given) if key_matches(given, key) => Ok(()),
        Some(_) => Err(AppError::unauthorized(format!("wrong {what} key"))),
        None => Err(AppError::unauthorized(format!(
            "send the {what} key as Authorization: Bearer <key>"
        ))),
    }
}

pub(super) async fn require_api_key(
    State(app): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    check_key(app.config.api.api_key.as_deref(), "integration", &req)?;
    // Only a request with the right key spends the key's budget.
    api_budget(&app, req.uri().path()).await?;
    Ok(next.run(req).await)
}

/// Spends one request of the integration key's budget for the route class
/// of `path`: its first segment after `/api/v1/` (`messages`, `chats`,
/// `users`, ...), so that a flood of one kind does not starve the others.
/// The budget's key is a short hash of the integration key (the key itself
/// never reaches the store).
pub(crate) async fn api_budget(app: &AppState, path: &str) -> Result<(), AppError> {
    let Some(key) = app.config.api.api_key.as_deref() else {
        return Ok(());
    };
    let class = path
        .strip_prefix("/api/v1/")
        .and_then(|p| p.split('/').next())
        .filter(|c| !c.is_empty())
        .unwrap_or("other");
    let h = Sha256::digest(key.as_bytes());
    let subject = format!("{}:{class}", hex::encode(&h[..6]));
    crate::rate_limit::service::check(app, crate::rate_limit::Action::Api, &subject).await?;
    Ok(())
}

pub(super) async fn require_admin_key(
    State(app): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    check_key(app.config.api.admin_key.as_deref(), "admin", &req)?;
    Ok(next.run(req).await)
}

/// The HTTP error body of PROTOCOL §11: `{ error: { code, message } }`.
/// A `429` also says when to retry in `Retry-After` (whole seconds,
/// rounded up), as HTTP clients expect.
impl axum::response::IntoResponse for AppError {
    fn into_response(self) -> axum::response::Response {
        self.log("http");
        let status =
            axum::http::StatusCode::from_u16(self.http_status.unwrap_or(self.code.http_status()))
                .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        let retry = self.retry_after_ms.map(|ms| ms.div_ceil(1000).max(1));
        let mut r = (status, axum::Json(serde_json::json!({ "error": self }))).into_response();
        if let Some(secs) = retry {
            r.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        if status == axum::http::StatusCode::UNAUTHORIZED {
            // RFC 9110: a 401 names the scheme it wants.
            r.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"switchboard\""),
            );
        }
        r
    }
}

/// The error envelope, for the document.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// `{ code, message }`
    #[schema(value_type = Object)]
    error: (),
}

/// For handlers: `201 Created` with a JSON body.
pub fn created(body: serde_json::Value) -> Response {
    (axum::http::StatusCode::CREATED, axum::Json(body)).into_response()
}
