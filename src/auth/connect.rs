//! Credentials of a connecting client (PROTOCOL §1), first found wins:
//! handshake `auth.token`, query `token`, header `Authorization: Bearer`.

use serde_json::Value;

use super::AuthError;

/// Why a connection was refused. Its `Display` is the whole
/// `connect_error` payload, `{ message: CODE, data: { code, message,
/// retryAfterMs? } }` (the vendored Socket.IO parser sends such an object
/// as it is): the client's `err.message` is the code, `err.data` the
/// details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectRefusal {
    Auth(AuthError),
    /// This node is shutting down: reconnect (the load balancer picks
    /// another node) after the delay.
    Draining {
        retry_after_ms: u64,
    },
    /// Over a connection limit; `why` is the human message.
    RateLimited {
        retry_after_ms: u64,
        why: &'static str,
    },
}

/// What a draining node tells clients to wait before reconnecting: enough
/// for the load balancer to have taken it out of rotation.
pub const DRAINING_RETRY_MS: u64 = 1_000;

impl ConnectRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Auth(e) => e.code(),
            Self::Draining { .. } => "SERVER_DRAINING",
            Self::RateLimited { .. } => "RATE_LIMITED",
        }
    }

    pub fn message(&self) -> &'static str {
        match self {
            Self::Auth(AuthError::Missing) => {
                "no token: send auth.token, a token query parameter or an Authorization: Bearer header"
            }
            Self::Auth(AuthError::Invalid) => {
                "the token was refused (signature, algorithm, audience, issuer or claims)"
            }
            Self::Auth(AuthError::Expired) => "the token has expired: refresh it and reconnect",
            Self::Draining { .. } => {
                "this node is shutting down: reconnect after retryAfterMs"
            }
            Self::RateLimited { why, .. } => why,
        }
    }

    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            Self::Auth(_) => None,
            Self::Draining { retry_after_ms } | Self::RateLimited { retry_after_ms, .. } => {
                Some(*retry_after_ms)
            }
        }
    }

    /// The `connect_error` payload.
    pub fn payload(&self) -> Value {
        let mut data = serde_json::json!({ "code": self.code(), "message": self.message() });
        if let Some(ms) = self.retry_after_ms() {
            data["retryAfterMs"] = ms.into();
        }
        serde_json::json!({ "message": self.code(), "data": data })
    }
}

impl std::fmt::Display for ConnectRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.payload().to_string())
    }
}

impl std::error::Error for ConnectRefusal {}

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
