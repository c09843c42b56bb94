//! Validation of `message:new` payloads: pure functions, unit-tested here.

use serde::Deserialize;

use super::{Media, MessageError, MessageType};
use crate::config::MessageConfig;

/// Longest `clientId`, `replyTo` and media `mime`/`caption`/`url`.
pub const MAX_CLIENT_ID_LEN: usize = 128;
pub const MAX_REF_LEN: usize = 128;
pub const MAX_URL_LEN: usize = 2048;
pub const MAX_MIME_LEN: usize = 127;
pub const MAX_CAPTION_BYTES: usize = 4096;
/// Largest `forwardedFrom` value, serialized.
pub const MAX_FORWARDED_BYTES: usize = 1024;

/// `message:new` payload. `senderId`, `id`, `seq` and `createdAt` are not
/// fields of it: whatever a client puts there is ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendMessage {
    pub chat_id: String,
    #[serde(default)]
    pub content: String,
    #[serde(default, rename = "type")]
    pub kind: MessageType,
    #[serde(default)]
    pub media: Option<Media>,
    #[serde(default)]
    pub reply_to: Option<String>,
    #[serde(default)]
    pub forwarded_from: Option<serde_json::Value>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub encrypted: bool,
}

/// The size of a value as JSON, in bytes (`usize::MAX` if it cannot be
/// encoded): the one measure of every free-form payload's size limit.
pub fn json_len<T: serde::Serialize + ?Sized>(v: &T) -> usize {
    serde_json::to_vec(v).map_or(usize::MAX, |b| b.len())
}

/// Checks sizes, kinds and URLs of a message before anything is stored.
pub fn validate(req: &SendMessage, cfg: &MessageConfig) -> Result<(), MessageError> {
    crate::ids::validate_chat_id(&req.chat_id)?;
    if req.content.len() > cfg.max_content_bytes {
        return Err(MessageError::TooLarge(format!(
            "content is larger than {} bytes",
            cfg.max_content_bytes
        )));
    }
    match (&req.media, req.kind) {
        (None, MessageType::Text) | (None, MessageType::Link) => {
            if req.content.trim().is_empty() {
                return Err(MessageError::Invalid("content must not be empty".into()));
            }
        }
        (None, kind) => {
            return Err(MessageError::Invalid(format!(
                "a message of type {} needs media",
                serde_json::to_value(kind).unwrap_or_default()
            )))
        }
        (Some(media), _) => validate_media(media, cfg)?,
    }
    if let Some(id) = &req.client_id {
        if id.is_empty() || id.len() > MAX_CLIENT_ID_LEN || id.chars().any(char::is_control) {
            return Err(MessageError::Invalid(format!(
                "clientId must be 1-{MAX_CLIENT_ID_LEN} characters"
            )));
        }
    }
    if let Some(r) = &req.reply_to {
        if r.is_empty() || r.len() > MAX_REF_LEN {
            return Err(MessageError::Invalid(format!(
                "replyTo must be a message id of 1-{MAX_REF_LEN} characters"
            )));
        }
    }
    if let Some(f) = &req.forwarded_from {
        if !(f.is_string() || f.is_object()) {
            return Err(MessageError::Invalid(
                "forwardedFrom must be a string or an object".into(),
            ));
        }
        if json_len(f) > MAX_FORWARDED_BYTES {
            return Err(MessageError::TooLarge(format!(
                "forwardedFrom is larger than {MAX_FORWARDED_BYTES} bytes"
            )));
        }
    }
    Ok(())
}

fn validate_media(m: &Media, cfg: &MessageConfig) -> Result<(), MessageError> {
    if m.url.len() > MAX_URL_LEN || !m.url.starts_with("https://") || m.url.len() <= 8 {
        return Err(MessageError::Invalid(
            "media.url must be an https: URL".into(),
        ));
    }
    if m.url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(MessageError::Invalid("media.url is not a valid URL".into()));
    }
    let mime_ok = m.mime.len() <= MAX_MIME_LEN
        && m.mime.split_once('/').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && m.mime
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"/+-.;= ".contains(&c))
        });
    if !mime_ok {
        return Err(MessageError::Invalid(
            "media.mime must be a MIME type".into(),
        ));
    }
    if m.size.is_some_and(|s| s > cfg.max_media_bytes) {
        return Err(MessageError::TooLarge(format!(
            "media is larger than {} bytes",
            cfg.max_media_bytes
        )));
    }
    if m.caption
        .as_ref()
        .is_some_and(|c| c.len() > MAX_CAPTION_BYTES)
    {
        return Err(MessageError::TooLarge(format!(
            "media.caption is larger than {MAX_CAPTION_BYTES} bytes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use serde_json::json;

    fn req(v: serde_json::Value) -> SendMessage {
        serde_json::from_value(v).unwrap()
    }

    fn check(v: serde_json::Value) -> Result<(), MessageError> {
        validate(&req(v), &Config::defaults().messages)
    }

    #[test]
    fn plain_text_is_valid() {
        assert!(check(json!({"chatId": "c1", "content": "hi"})).is_ok());
    }

    #[test]
    fn empty_text_is_refused() {
        assert!(matches!(
            check(json!({"chatId": "c1", "content": "  "})),
            Err(MessageError::Invalid(_))
        ));
    }

    #[test]
    fn oversized_content_is_too_large() {
        let big = "x".repeat(Config::defaults().messages.max_content_bytes + 1);
        assert!(matches!(
            check(json!({"chatId": "c1", "content": big})),
            Err(MessageError::TooLarge(_))
        ));
    }

    #[test]
    fn media_needs_https_and_a_mime_type() {
        let ok = json!({"chatId": "c", "type": "image",
            "media": {"url": "https://cdn.example/a.png", "mime": "image/png", "size": 10}});
        assert!(check(ok).is_ok());
        for media in [
            json!({"url": "http://cdn.example/a.png", "mime": "image/png"}),
            json!({"url": "javascript:alert(1)", "mime": "image/png"}),
            json!({"url": "https://", "mime": "image/png"}),
            json!({"url": "https://x/a b", "mime": "image/png"}),
            json!({"url": "https://x/a", "mime": "png"}),
        ] {
            let r = check(json!({"chatId": "c", "type": "image", "media": media.clone()}));
            assert!(matches!(r, Err(MessageError::Invalid(_))), "{media}");
        }
        let huge = json!({"chatId": "c", "type": "video",
            "media": {"url": "https://x/v.mp4", "mime": "video/mp4", "size": u64::MAX / 4}});
        assert!(matches!(check(huge), Err(MessageError::TooLarge(_))));
    }

    #[test]
    fn media_types_need_media() {
        assert!(check(json!({"chatId": "c", "type": "image", "content": "x"})).is_err());
    }

    #[test]
    fn client_ids_and_references_are_bounded() {
        let long = "x".repeat(MAX_CLIENT_ID_LEN + 1);
        assert!(check(json!({"chatId": "c", "content": "x", "clientId": long})).is_err());
        assert!(check(json!({"chatId": "c", "content": "x", "clientId": ""})).is_err());
        assert!(check(json!({"chatId": "c", "content": "x", "forwardedFrom": 5})).is_err());
        let big = json!({"chatId": "c", "content": "x",
            "forwardedFrom": {"note": "y".repeat(MAX_FORWARDED_BYTES)}});
        assert!(matches!(check(big), Err(MessageError::TooLarge(_))));
    }

    #[test]
    fn wrong_types_do_not_decode() {
        let r: Result<SendMessage, _> =
            serde_json::from_value(json!({"chatId": 5, "content": "x"}));
        assert!(r.is_err());
        let r: Result<SendMessage, _> =
            serde_json::from_value(json!({"chatId": "c", "type": "sticker", "content": "x"}));
        assert!(r.is_err());
    }
}
