//! The admin console (`/admin/ui/`): a page for operators, served by every
//! node, that does everything through the admin API with the key the
//! operator types in (kept in `sessionStorage`, sent as a bearer header,
//! never in a URL). Plain HTML, CSS and ES modules embedded in the binary:
//! no build step. Served only when `SB_ADMIN_KEY` is set and `SB_ADMIN_UI`
//! is not `false`, under a strict Content-Security-Policy (no inline
//! script or style, nothing from elsewhere, no framing).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use crate::app::AppState;

/// The policy of every console response.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

const INDEX: &str = include_str!("ui/index.html");
const APP_JS: &str = include_str!("ui/app.js");
const API_JS: &str = include_str!("ui/api.js");
const STYLE: &str = include_str!("ui/style.css");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// The console's routes, or none when it is off.
pub fn routes(app: &AppState) -> Router {
    if app.config.api.admin_key.is_none() || !app.config.api.admin_ui {
        return Router::new();
    }
    Router::new()
        .route(
            "/admin/ui",
            get(|| async { Redirect::permanent("/admin/ui/") }),
        )
        .route(
            "/admin/ui/",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/admin/ui/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/admin/ui/api.js",
            get(|| async { asset("text/javascript; charset=utf-8", API_JS) }),
        )
        .route(
            "/admin/ui/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No inline script, no inline handler, no inline style: the policy
    /// would block them, so the page must not need them.
    #[test]
    fn the_page_has_nothing_inline() {
        let lower = INDEX.to_lowercase();
        let mut rest = lower.as_str();
        while let Some(i) = rest.find("<script") {
            let tag_end = rest[i..].find('>').unwrap() + i;
            assert!(rest[i..tag_end].contains("src="), "an inline script");
            rest = &rest[tag_end..];
        }
        assert!(!lower.contains("<style"), "an inline style element");
        assert!(!lower.contains(" style="), "an inline style attribute");
        for handler in [
            " onclick=",
            " onload=",
            " onsubmit=",
            " onerror=",
            " oninput=",
        ] {
            assert!(!lower.contains(handler), "an inline handler {handler}");
        }
        assert!(
            !APP_JS.contains("innerHTML"),
            "markup is built with the DOM"
        );
        assert!(
            !API_JS.contains("innerHTML"),
            "markup is built with the DOM"
        );
    }
}
