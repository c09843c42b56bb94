//! The server-to-server HTTP API (`/api/v1/*`, PROTOCOL §11) and the admin
//! API (`/admin/*`): keys, the error envelope, body limits, and the OpenAPI
//! document built from the same handler annotations as the router.
//!
//! Each domain owns its routes (`<domain>/routes.rs`); this module joins
//! them. What the routes share (the JSON extractor, the key checks, the
//! error body) is in `extract.rs`, so routes never import this file. `POST /api/v1/webhooks/inbound` is authenticated by its HMAC
//! signature instead of the integration key (PROTOCOL §12).

pub mod bodies;
pub mod extract;

use axum::middleware;
use axum::Router;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::error::AppError;
use extract::{require_admin_key, require_api_key, ErrorBody};

/// Most of an oversized body read (and discarded) before the 413.
const MAX_DRAIN_BYTES: u64 = 64 * 1024 * 1024;
/// Longest time spent reading it.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// A body whose `Content-Length` is over the limit gets the 413 at once,
/// without reaching a handler, but only after the rest of the upload was
/// read and discarded (a lingering close): a client that sends its whole
/// body before it reads (Node's `fetch`, most HTTP libraries without
/// `Expect: 100-continue`) then reads the 413 instead of a reset
/// connection. Bodies over [`MAX_DRAIN_BYTES`], or slower than
/// [`DRAIN_TIME`], are cut off as before.
async fn early_413(
    axum::extract::State(limit): axum::extract::State<usize>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use futures::StreamExt;
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let Some(len) = declared.filter(|n| *n > limit as u64) else {
        return next.run(req).await;
    };
    if len <= MAX_DRAIN_BYTES {
        let mut body = req.into_body().into_data_stream();
        let _ = tokio::time::timeout(DRAIN_TIME, async {
            while let Some(Ok(_)) = body.next().await {}
        })
        .await;
    }
    let mut r = AppError::too_large(format!(
        "the request body is larger than {limit} bytes (SB_API_MAX_BODY_BYTES)"
    ))
    .into_response();
    r.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    r
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
        // A user's JWT, where a route accepts a member (§11 history).
        c.add_security_scheme(
            "member_jwt",
            SecurityScheme::Http(
                utoipa::openapi::security::HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
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
        .merge(crate::messages::routes::open_router())
        .merge(crate::bots::routes::router())
        .split_for_parts();
    doc.merge(admin_doc);
    doc.merge(open_doc);
    common_responses(&mut doc);
    let api = api.route_layer(middleware::from_fn_with_state(app.clone(), require_api_key));
    let admin = admin.route_layer(middleware::from_fn_with_state(
        app.clone(),
        require_admin_key,
    ));
    (api.merge(open), admin, doc)
}

/// The answers every route of a kind can give, added to each operation
/// that does not list them: `413` (too large) and `415` (not JSON) where
/// there is a body, `429` on `/api/v1/*` (every route there is limited).
fn common_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let error = |what: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(what)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build(),
        )
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
        ];
        for op in ops.into_iter().flatten() {
            let has_body = op.request_body.is_some();
            let responses = &mut op.responses.responses;
            if has_body {
                responses.entry("413".into()).or_insert_with(|| {
                    error("PAYLOAD_TOO_LARGE: the body is over SB_API_MAX_BODY_BYTES")
                });
                responses.entry("415".into()).or_insert_with(|| {
                    error("INVALID_PAYLOAD: the body is not sent as application/json")
                });
            }
            if path.starts_with("/api/v1/") {
                responses
                    .entry("429".into())
                    .or_insert_with(|| error("RATE_LIMITED, with Retry-After"));
            }
        }
    }
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
        .layer(middleware::from_fn_with_state(limit, early_413))
}
