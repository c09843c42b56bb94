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
    if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        AppError::too_large("the request body is too large")
    } else {
        AppError::invalid(text)
    }
}

/// Constant-time comparison of a presented key with the configured one
/// (hashed first, so that the lengths do not leak either).
pub fn key_matches(presented: &str, configured: &str) -> bool {
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(configured.as_bytes());
    a.ct_eq(&b).into()
}

fn bearer(req: &Request) -> Option<&str> {
    req.headers()
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

async fn check_key(
    configured: Option<&str>,
    what: &str,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    let Some(key) = configured else {
        return Err(AppError::unauthorized(format!(
            "the {what} key is not configured on this server"
        )));
    };
    match bearer(&req) {
        Some(given) if key_matches(given, key) => Ok(next.run(req).await),
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
    check_key(app.config.api.api_key.as_deref(), "integration", req, next).await
}

pub(super) async fn require_admin_key(
    State(app): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    check_key(app.config.api.admin_key.as_deref(), "admin", req, next).await
}

/// The HTTP error body of PROTOCOL §11: `{ error: { code, message } }`.
impl axum::response::IntoResponse for AppError {
    fn into_response(self) -> axum::response::Response {
        self.log("http");
        let status = axum::http::StatusCode::from_u16(self.code.http_status())
            .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(serde_json::json!({ "error": self }))).into_response()
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
