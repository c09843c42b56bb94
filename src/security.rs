//! Who is asking: the client IP behind trusted proxies, and the browser
//! origin allow-list (cross-site WebSocket hijacking, CORS).
//!
//! - The client IP is the TCP peer, unless the peer is one of
//!   `SB_TRUSTED_PROXIES`: then it is the right-most `X-Forwarded-For` entry
//!   that is not itself a trusted proxy. A spoofed header from anyone else
//!   is ignored.
//! - With `SB_ALLOWED_ORIGINS` set, a request carrying an `Origin` header
//!   that is not listed — a Socket.IO handshake (WebSocket upgrade or
//!   polling) or an API call — is refused with 403 before anything else
//!   runs, and CORS headers name only listed origins. Requests without
//!   `Origin` (servers, mobile apps) are not browsers and pass.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{Request, State};
use axum::http::header::ORIGIN;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;

use crate::app::AppState;
pub use crate::config::security::Cidr;
use crate::error::AppError;

/// The client's IP (see the module doc).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for v in headers.get_all("x-forwarded-for") {
        let Ok(v) = v.to_str() else { return peer };
        for part in v.split(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) => hops.push(ip),
                Err(_) => return peer,
            }
        }
    }
    hops.into_iter()
        .rev()
        .find(|ip| !is_trusted(*ip))
        .unwrap_or(peer)
}

/// The client IP of a request whose peer address the server recorded.
pub fn request_ip(app: &AppState, parts: &http::request::Parts) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()?
        .0
        .ip();
    Some(client_ip(
        peer,
        &parts.headers,
        &app.config.security.trusted_proxies,
    ))
}

/// The budget key of a client address: an IPv4 address (also one mapped
/// into IPv6) as it is, an IPv6 address by its /64, which one host
/// commonly holds whole.
pub fn network_of(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        v4 => v4.to_string(),
    }
}

/// Refuses requests from browser origins that are not allowed.
pub async fn check_origin(
    State(app): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    let allowed = &app.config.security.allowed_origins;
    if !allowed.is_empty() {
        if let Some(origin) = req.headers().get(ORIGIN) {
            let ok = origin
                .to_str()
                .is_ok_and(|o| allowed.iter().any(|a| a.eq_ignore_ascii_case(o)));
            if !ok {
                crate::telemetry::metrics::handshake("ORIGIN");
                return Err(AppError::forbidden("this origin is not allowed"));
            }
        }
    }
    Ok(next.run(req).await)
}

/// CORS: the allowed origins, with credentials. With no list, development
/// mode allows any origin (`*`, without credentials) so that a local web
/// app works out of the box (every request carries its token or key itself,
/// never a cookie); production sends no CORS headers (and warns at start).
pub fn cors(app: &AppState) -> Option<tower_http::cors::CorsLayer> {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let list = &app.config.security.allowed_origins;
    let dev = app.config.server.mode == crate::config::Mode::Development;
    if list.is_empty() && !dev {
        tracing::warn!(
            "SB_ALLOWED_ORIGINS is unset: browsers on any origin may open sockets, and the HTTP API sends no CORS headers; set it to your web app's origins"
        );
        return None;
    }
    let layer = CorsLayer::new()
        .allow_methods([
            http::Method::GET,
            http::Method::POST,
            http::Method::PUT,
            http::Method::DELETE,
        ])
        .allow_headers([http::header::AUTHORIZATION, http::header::CONTENT_TYPE])
        .expose_headers([http::header::RETRY_AFTER]);
    if list.is_empty() {
        return Some(layer.allow_origin(AllowOrigin::any()));
    }
    let origins: Vec<http::HeaderValue> = list.iter().filter_map(|o| o.parse().ok()).collect();
    Some(
        layer
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap(), "::1".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Untrusted peer: the header is ignored.
        assert_eq!(
            client_ip(ip("203.0.113.9"), &xff("1.2.3.4"), &trusted),
            ip("203.0.113.9")
        );
        // Trusted peer: the right-most untrusted hop.
        assert_eq!(
            client_ip(ip("10.1.2.3"), &xff("6.6.6.6, 1.2.3.4, 10.9.9.9"), &trusted),
            ip("1.2.3.4")
        );
        // Trusted peer without the header, or with garbage: the peer.
        assert_eq!(
            client_ip(ip("10.1.2.3"), &HeaderMap::new(), &trusted),
            ip("10.1.2.3")
        );
        assert_eq!(
            client_ip(ip("10.1.2.3"), &xff("nonsense"), &trusted),
            ip("10.1.2.3")
        );
        assert_eq!(
            client_ip(ip("::1"), &xff("2001:db8::1"), &trusted),
            ip("2001:db8::1")
        );
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("x".parse::<Cidr>().is_err());
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        assert!(all.contains(ip("::ffff:8.8.8.8")));
    }

    #[test]
    fn budgets_key_ipv6_by_its_64() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(network_of(ip("203.0.113.9")), "203.0.113.9");
        assert_eq!(network_of(ip("::ffff:203.0.113.9")), "203.0.113.9");
        assert_eq!(
            network_of(ip("2001:db8:1:2:aaaa::1")),
            network_of(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            network_of(ip("2001:db8:1:2::1")),
            network_of(ip("2001:db8:1:3::1"))
        );
    }
}
