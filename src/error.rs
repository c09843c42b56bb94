//! The one place where domain errors become protocol errors.
//!
//! Every domain returns its own error enum; this module maps each of them to
//! the closed list of client error codes of PROTOCOL §2 ([`ErrorCode`]) and to
//! HTTP statuses. Conversions have no side effects: an unexpected failure
//! (`INTERNAL`, `UNAVAILABLE`) keeps its cause in [`AppError::cause`], never
//! sent to a client, and the edge that answers (the socket ack in
//! `realtime/reply.rs`, the HTTP response in `api/extract.rs`) logs it once
//! with [`AppError::log`].

use serde::Serialize;

use crate::store::error::StoreError;

/// The closed list of error codes a client can receive (PROTOCOL §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    InvalidPayload,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    RateLimited,
    PayloadTooLarge,
    Unavailable,
    Internal,
}

impl ErrorCode {
    /// The wire name, e.g. `INVALID_PAYLOAD`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidPayload => "INVALID_PAYLOAD",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::Conflict => "CONFLICT",
            Self::RateLimited => "RATE_LIMITED",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::Unavailable => "UNAVAILABLE",
            Self::Internal => "INTERNAL",
        }
    }

    /// Whether retrying the same request later may succeed.
    pub fn temporary(self) -> bool {
        matches!(self, Self::RateLimited | Self::Unavailable | Self::Internal)
    }

    /// The HTTP status used by the HTTP API for this code.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidPayload => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::Conflict => 409,
            Self::PayloadTooLarge => 413,
            Self::RateLimited => 429,
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }
}

/// A protocol error: what a client sees in a failed ack, an `error` event or
/// an HTTP error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("{code:?}: {message}")]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// The internal cause of an `INTERNAL` or `UNAVAILABLE` error, for the
    /// log only: never serialized.
    #[serde(skip)]
    pub cause: Option<String>,
    /// An HTTP status more precise than the code's (415 for a body that is
    /// not JSON); never serialized.
    #[serde(skip)]
    pub http_status: Option<u16>,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_ms: None,
            cause: None,
            http_status: None,
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidPayload, message)
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PayloadTooLarge, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }
    pub fn rate_limited(retry_after_ms: u64) -> Self {
        Self {
            code: ErrorCode::RateLimited,
            message: "rate limit exceeded".into(),
            retry_after_ms: Some(retry_after_ms),
            cause: None,
            http_status: None,
        }
    }

    /// Logs an unexpected failure with its cause; client errors are the
    /// client's business and are not logged. Called once, by the edge that
    /// answers the request (`what` names it: an event or a route).
    pub fn log(&self, what: &str) {
        let cause = self.cause.as_deref().unwrap_or(&self.message);
        match self.code {
            ErrorCode::Unavailable => tracing::warn!(what, error = %cause, "unavailable"),
            ErrorCode::Internal => tracing::error!(what, error = %cause, "internal error"),
            _ => {}
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(detail) => AppError {
                cause: Some(format!("storage unavailable: {detail}")),
                ..AppError::unavailable("storage is unavailable, retry later")
            },
            StoreError::Internal(detail) => AppError {
                cause: Some(format!("storage failure: {detail}")),
                ..AppError::new(ErrorCode::Internal, "internal error")
            },
        }
    }
}

impl From<crate::ids::IdError> for AppError {
    fn from(e: crate::ids::IdError) -> Self {
        use crate::ids::IdError as E;
        match e {
            E::Invalid(m) => AppError::invalid(m),
            E::TooMany(m) => AppError::too_large(m),
        }
    }
}

impl From<crate::bots::BotError> for AppError {
    fn from(e: crate::bots::BotError) -> Self {
        use crate::bots::BotError as E;
        match e {
            E::UnknownBot => AppError::not_found("unknown bot"),
            E::UnknownTopic => AppError::not_found("unknown topic for this bot"),
            E::NotForGuests => AppError::forbidden("guests may not talk to this bot"),
            E::Invalid(m) => AppError::invalid(m),
            E::Chat(c) => c.into(),
        }
    }
}

impl From<crate::chat::ChatError> for AppError {
    fn from(e: crate::chat::ChatError) -> Self {
        use crate::chat::ChatError as E;
        match e {
            E::Invalid(m) => AppError::invalid(m),
            E::TooLarge(m) => AppError::too_large(m),
            E::NotFound => AppError::not_found("chat not found"),
            E::NotMember => AppError::forbidden("not a member of this chat"),
            E::NotOwner => AppError::forbidden("only an owner of this chat may do that"),
            E::Exists => AppError::conflict("a chat with this id already exists"),
            E::Completed => {
                AppError::conflict("this bot session is completed; bot:start begins a new one")
            }
            E::Store(s) => s.into(),
        }
    }
}

impl From<crate::messages::MessageError> for AppError {
    fn from(e: crate::messages::MessageError) -> Self {
        use crate::messages::MessageError as E;
        match e {
            E::Invalid(m) => AppError::invalid(m),
            E::TooLarge(m) => AppError::too_large(m),
            E::NotFound => AppError::not_found("message not found"),
            E::Chat(c) => c.into(),
            E::Store(s) => s.into(),
        }
    }
}

impl From<crate::reactions::ReactionError> for AppError {
    fn from(e: crate::reactions::ReactionError) -> Self {
        use crate::reactions::ReactionError as E;
        match e {
            E::Invalid(m) => AppError::invalid(m),
            E::MessageNotFound => AppError::not_found("message not found"),
            E::TooMany => AppError::too_large("this message has too many reactions"),
            E::Chat(c) => c.into(),
            E::Store(s) => s.into(),
        }
    }
}

impl From<crate::notifications::NotificationError> for AppError {
    fn from(e: crate::notifications::NotificationError) -> Self {
        use crate::notifications::NotificationError as E;
        match e {
            E::Invalid(m) => AppError::invalid(m),
            E::NotFound => AppError::not_found("notification not found"),
            E::Store(s) => s.into(),
        }
    }
}

impl From<crate::channels::ChannelError> for AppError {
    fn from(e: crate::channels::ChannelError) -> Self {
        use crate::channels::ChannelError as E;
        match e {
            E::Invalid(m) => AppError::invalid(m),
            E::Forbidden => AppError::forbidden("not allowed on this channel"),
            E::TooLarge(m) => AppError::too_large(m),
        }
    }
}

impl From<crate::presence::PresenceError> for AppError {
    fn from(e: crate::presence::PresenceError) -> Self {
        use crate::presence::PresenceError as E;
        match e {
            E::Invalid(m) => AppError::invalid(m),
            E::TooManySubscriptions(_) => AppError::conflict(e.to_string()),
            E::Store(s) => s.into(),
        }
    }
}

impl From<crate::inbox::InboxError> for AppError {
    fn from(e: crate::inbox::InboxError) -> Self {
        use crate::inbox::InboxError as E;
        match e {
            E::Invalid(m) => AppError::invalid(m),
        }
    }
}

impl From<crate::calls::CallError> for AppError {
    fn from(e: crate::calls::CallError) -> Self {
        use crate::calls::CallError as E;
        match e {
            E::Invalid(m) => AppError::invalid(m),
            E::TooLarge(m) => AppError::too_large(m),
            E::NotFound => AppError::not_found("call not found"),
            E::NotParticipant | E::NotContact => AppError::forbidden(e.to_string()),
            E::Conflict(m) => AppError::conflict(m),
            E::Chat(c) => c.into(),
            E::Store(s) => s.into(),
        }
    }
}

impl From<crate::rate_limit::RateLimitError> for AppError {
    fn from(e: crate::rate_limit::RateLimitError) -> Self {
        use crate::rate_limit::RateLimitError as E;
        match e {
            E::Limited { retry_after_ms } => AppError::rate_limited(retry_after_ms),
            E::Unavailable => AppError::unavailable("the rate limiter is unavailable; retry later"),
        }
    }
}

impl From<crate::auth::AuthError> for AppError {
    fn from(e: crate::auth::AuthError) -> Self {
        AppError::unauthorized(e.code())
    }
}

impl From<crate::webhooks::ReplyError> for AppError {
    fn from(e: crate::webhooks::ReplyError) -> Self {
        use crate::webhooks::ReplyError as E;
        match e {
            E::AlreadyAnswered => AppError::conflict("this correlationId was already answered"),
            E::UnknownCorrelation => AppError::not_found(e.to_string()),
            E::TooMany | E::ResultTooLarge => AppError::too_large(e.to_string()),
            E::Store(s) => s.into(),
        }
    }
}

impl From<crate::webhooks::sign::SignatureError> for AppError {
    fn from(e: crate::webhooks::sign::SignatureError) -> Self {
        AppError::unauthorized(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_to_wire_names() {
        for code in [
            ErrorCode::InvalidPayload,
            ErrorCode::Unauthorized,
            ErrorCode::Forbidden,
            ErrorCode::NotFound,
            ErrorCode::Conflict,
            ErrorCode::RateLimited,
            ErrorCode::PayloadTooLarge,
            ErrorCode::Unavailable,
            ErrorCode::Internal,
        ] {
            let v = serde_json::to_value(code).unwrap();
            assert_eq!(v, serde_json::Value::String(code.as_str().into()));
        }
    }

    #[test]
    fn rate_limited_carries_retry_after() {
        let v = serde_json::to_value(AppError::rate_limited(1500)).unwrap();
        assert_eq!(v["code"], "RATE_LIMITED");
        assert_eq!(v["retryAfterMs"], 1500);
        let v = serde_json::to_value(AppError::invalid("x")).unwrap();
        assert!(v.get("retryAfterMs").is_none());
    }

    #[test]
    fn store_failures_keep_their_cause_out_of_the_wire() {
        let e = AppError::from(StoreError::Unavailable(
            "connection refused 10.0.0.7".into(),
        ));
        assert_eq!(e.code, ErrorCode::Unavailable);
        assert!(e.cause.as_deref().unwrap().contains("10.0.0.7"));
        let wire = serde_json::to_string(&e).unwrap();
        assert!(!wire.contains("10.0.0.7"), "{wire}");
        let e = AppError::from(StoreError::Internal("bad json".into()));
        assert_eq!(e.code, ErrorCode::Internal);
        assert!(!serde_json::to_string(&e).unwrap().contains("bad json"));
    }
}
