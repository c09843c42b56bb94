//! The id rules every domain shares: chat ids, user ids (a token's `sub`)
//! and lists of user ids. Each domain maps [`IdError`] into its own error.

pub const MAX_ID_LEN: usize = 128;

/// Every guest's user id starts with this (PROTOCOL §14); a user token
/// whose `sub` starts with it is refused, so nobody can pose as a guest.
pub const GUEST_PREFIX: &str = "guest_";

/// Whether `user_id` names a guest.
pub fn is_guest(user_id: &str) -> bool {
    user_id.starts_with(GUEST_PREFIX)
}
pub const MAX_USER_ID_LEN: usize = 256;

/// A malformed id, or too many ids in one request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    TooMany(String),
}

/// A chat id: 1–128 characters of `A-Z a-z 0-9 . _ : -`.
pub fn validate_chat_id(id: &str) -> Result<(), IdError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    ok.then_some(()).ok_or_else(|| {
        IdError::Invalid("chatId must be 1-128 characters of A-Z a-z 0-9 . _ : -".into())
    })
}

/// A user id as it appears in a token's `sub`: 1–256 characters, no
/// control characters.
pub fn validate_user_id(id: &str) -> Result<(), IdError> {
    let ok = !id.is_empty() && id.len() <= MAX_USER_ID_LEN && !id.chars().any(char::is_control);
    ok.then_some(())
        .ok_or_else(|| IdError::Invalid("user ids must be 1-256 characters".into()))
}

/// Validates a list of user ids, dropping duplicates (order kept).
pub fn validate_user_ids(ids: &[String], max: usize) -> Result<Vec<String>, IdError> {
    if ids.len() > max {
        return Err(IdError::TooMany(format!(
            "at most {max} user ids per request"
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        validate_user_id(id)?;
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    Ok(out)
}
