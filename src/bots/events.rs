//! Socket handlers of the bot-session events: decode, call the service,
//! answer.

use serde_json::{json, Value};

use crate::realtime::cx::{parse, Cx};
use crate::realtime::reply::HandlerResult;

/// `bot:start { botId, topic?, metadata? }` → `{ chat, resumed }`.
pub async fn start(cx: &Cx, data: Value) -> HandlerResult {
    let guest = cx.conn.identity.guest;
    let (chat, resumed) = super::service::start(&cx.app, cx.user_id(), guest, parse(data)?).await?;
    // A new session was joined by every socket of the user; a resumed one
    // may be beyond the chats joined on connect.
    if resumed {
        cx.socket.join(vec![crate::rooms::chat(&chat.id)]);
    }
    Ok(json!({ "chat": chat, "resumed": resumed }))
}
