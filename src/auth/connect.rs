//! Credentials of a connecting client (PROTOCOL §1), first found wins:
//! handshake `auth.token`, query `token`, header `Authorization: Bearer`.

use serde_json::Value;

use super::AuthError;

/// Why a connection was refused; its `Display` is the `connect_error`
/// message the client sees.
#[derive(Debug, thiserror::Error)]
pub enum ConnectRefusal {
    #[error("{}", .0.code())]
    Auth(AuthError),
    #[error("SERVER_DRAINING")]
    Draining,
    #[error("RATE_LIMITED")]
    RateLimited,
}

/// The token a client presented, if any.
pub fn credentials(auth: Option<&Value>, req: &http::request::Parts) -> Option<String> {
    if let Some(t) = auth
        .and_then(|a| a.get("token"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        return Some(t.to_string());
    }
    if let Some(t) = req.uri.query().and_then(query_token) {
        return Some(t);
    }
    req.headers
        .get(http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(bearer)
        .map(str::to_string)
}

/// `Bearer <token>` (scheme case-insensitive).
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn query_token(query: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "token" && !v.is_empty()).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parts(uri: &str, auth_header: Option<&str>) -> http::request::Parts {
        let mut b = http::Request::builder().uri(uri);
        if let Some(h) = auth_header {
            b = b.header("authorization", h);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn first_found_wins() {
        let p = parts(
            "/socket.io/?EIO=4&token=fromquery",
            Some("Bearer fromheader"),
        );
        let auth = json!({"token": "fromauth"});
        assert_eq!(credentials(Some(&auth), &p).as_deref(), Some("fromauth"));
        assert_eq!(credentials(None, &p).as_deref(), Some("fromquery"));
        let p = parts("/socket.io/?EIO=4", Some("bearer fromheader"));
        assert_eq!(credentials(None, &p).as_deref(), Some("fromheader"));
        let p = parts("/socket.io/?EIO=4", None);
        assert_eq!(credentials(Some(&json!({})), &p), None);
    }

    #[test]
    fn query_tokens_are_percent_decoded() {
        let p = parts("/socket.io/?token=a%2Eb.c&EIO=4", None);
        assert_eq!(credentials(None, &p).as_deref(), Some("a.b.c"));
        let p = parts("/socket.io/?token=%zz", None);
        assert_eq!(credentials(None, &p).as_deref(), Some("%zz"));
    }

    #[test]
    fn bearer_requires_the_scheme() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
    }
}
