//! The server-to-server HTTP API (`/api/v1/*`, PROTOCOL §11) and the admin
//! API (`/admin/*`): keys, the error envelope, body limits, and the OpenAPI
//! document built from the same handler annotations as the router.
//!
//! Each domain owns its routes (`<domain>/routes.rs`); this module joins
//! them. What the routes share (the JSON extractor, the key checks, the
//! error body) is in `extract.rs`, so routes never import this file. `POST /api/v1/webhooks/inbound` is authenticated by its HMAC
//! signature instead of the integration key (PROTOCOL §12).

pub mod extract;

use axum::middleware;
use axum::Router;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::error::AppError;
use extract::{require_admin_key, require_api_key, ErrorBody};

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
