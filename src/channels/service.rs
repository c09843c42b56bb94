//! The channels service: the logic behind `events.rs` and `routes.rs`.

use serde_json::json;

use super::{rule_for, validate_channel, ChannelError};
use crate::app::App;
use crate::auth::Identity;
pub use crate::config::chat::{parse_rules, Rule, Who};

/// May this user subscribe to / publish on `channel`?
pub fn check(app: &App, who: &Identity, channel: &str, publish: bool) -> Result<(), ChannelError> {
    validate_channel(channel)?;
    let rule = rule_for(&app.config.channels.rules, channel).ok_or(ChannelError::Forbidden)?;
    let allowed = if publish {
        &rule.publish
    } else {
        &rule.subscribe
    };
    if allowed.allows(who) {
        Ok(())
    } else {
        Err(ChannelError::Forbidden)
    }
}

/// May the server (the HTTP API) publish on `channel`? Any channel a rule
/// matches, unless its publishers are `none`.
pub fn check_server(app: &App, channel: &str) -> Result<(), ChannelError> {
    validate_channel(channel)?;
    match rule_for(&app.config.channels.rules, channel) {
        Some(rule) if rule.publish != Who::Nobody => Ok(()),
        _ => Err(ChannelError::Forbidden),
    }
}

/// Delivers `data` to the channel's subscribers on every node. Callers
/// check permissions first (the server, via the HTTP API, needs none).
pub async fn publish(
    app: &App,
    channel: &str,
    data: &serde_json::Value,
) -> Result<(), ChannelError> {
    validate_channel(channel)?;
    let size = crate::messages::validate::json_len(data);
    let max = app.config.messages.max_content_bytes;
    if size > max {
        return Err(ChannelError::TooLarge(format!(
            "data is larger than {max} bytes"
        )));
    }
    let msg =
        json!({ "channel": channel, "data": data, "publishedAt": crate::time::now_rfc3339() });
    app.fanout()
        .emit(
            vec![crate::rooms::channel(channel)],
            vec![],
            "channel:message",
            &msg,
        )
        .await;
    Ok(())
}
