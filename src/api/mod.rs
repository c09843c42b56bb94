//! The server-to-server HTTP API (`/api/v1/*`, PROTOCOL §11) and the admin
//! API (`/admin/*`): keys, the error envelope, body limits, and the OpenAPI
//! document built from the same handler annotations as the router.
//!
//! Each domain owns its routes (`<domain>/routes.rs`); this module joins
//! them. `POST /api/v1/webhooks/inbound` is authenticated by its HMAC
//! signature instead of the integration key (PROTOCOL §12).

use axum::extract::{FromRequest, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::error::{AppError, ErrorCode};

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
            Err(rejection) => {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    Err(AppError::too_large("the request body is too large"))
                } else {
                    Err(AppError::invalid(rejection.body_text()))
                }
            }
        }
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
        return Err(AppError::new(
            ErrorCode::Unauthorized,
            format!("the {what} key is not configured on this server"),
        ));
    };
    match bearer(&req) {
        Some(given) if key_matches(given, key) => Ok(next.run(req).await),
        Some(_) => Err(AppError::new(
            ErrorCode::Unauthorized,
            format!("wrong {what} key"),
        )),
        None => Err(AppError::new(
            ErrorCode::Unauthorized,
            format!("send the {what} key as Authorization: Bearer <key>"),
        )),
    }
}

async fn require_api_key(
    State(app): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    check_key(app.config.api.api_key.as_deref(), "integration", req, next).await
}

async fn require_admin_key(
    State(app): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    check_key(app.config.api.admin_key.as_deref(), "admin", req, next).await
}

/// Unknown paths under the API prefixes.
async fn no_route() -> AppError {
    AppError::not_found("no such route")
}

struct Keys;

impl Modify for Keys {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        c.add_security_scheme(
            "admin_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard HTTP API",
        description = "Server-to-server and admin API of Switchboard (PROTOCOL §11). \
Errors are `{ error: { code, message } }` with the matching HTTP status."
    ),
    modifiers(&Keys),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

/// The error envelope, for the document.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// `{ code, message }`
    #[schema(value_type = Object)]
    error: (),
}

/// The keyed API routes and their OpenAPI document.
fn parts(app: &AppState) -> (Router<AppState>, Router<AppState>, utoipa::openapi::OpenApi) {
    let (api, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::messages::routes::router())
        .merge(crate::chat::routes::router())
        .merge(crate::notifications::routes::router())
        .merge(crate::presence::routes::router())
        .merge(crate::channels::routes::router())
        .merge(crate::inbox::routes::router())
        .split_for_parts();
    let (admin, admin_doc) = OpenApiRouter::new()
        .merge(crate::admin::routes::router())
        .split_for_parts();
    let (open, open_doc) = OpenApiRouter::new()
        .merge(crate::webhooks::routes::router())
        .split_for_parts();
    doc.merge(admin_doc);
    doc.merge(open_doc);
    let api = api.route_layer(middleware::from_fn_with_state(app.clone(), require_api_key));
    let admin = admin.route_layer(middleware::from_fn_with_state(
        app.clone(),
        require_admin_key,
    ));
    (api.merge(open), admin, doc)
}

/// The OpenAPI document (also served at `/api/v1/openapi.json`).
pub fn openapi(app: &AppState) -> utoipa::openapi::OpenApi {
    parts(app).2
}

/// `/api/v1/*` and `/admin/*`, with the body limit and the envelope for
/// unknown routes.
pub fn routes(app: AppState) -> Router {
    let (api, admin, doc) = parts(&app);
    let doc_json = doc.to_json().unwrap_or_else(|_| "{}".into());
    let limit = app.config.api.max_body_bytes;
    Router::new()
        .merge(api)
        .merge(admin)
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    doc_json,
                )
            }),
        )
        .route("/api/{*rest}", axum::routing::any(no_route))
        .route("/admin/{*rest}", axum::routing::any(no_route))
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(app)
}

/// For handlers: `201 Created` with a JSON body.
pub fn created(body: serde_json::Value) -> Response {
    (axum::http::StatusCode::CREATED, axum::Json(body)).into_response()
}
