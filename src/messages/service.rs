//! Message service functions: store first, then fan out. Socket handlers and
//! the HTTP API (bots, automations) call the same functions.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{validate::SendMessage, Appended, Cursor, Message, MessageError, NewMessage};
use crate::app::{App, AppState};
use crate::chat::{self, ChatError};
use crate::fanout::SocketOps;
use crate::rooms;
use crate::telemetry::metrics;

/// Where a message comes from: a socket (which does not get its own
/// `message:new` back; it gets the ack) or the server (HTTP API).
#[derive(Clone, Copy)]
pub enum Origin<'a> {
    Socket(&'a dyn SocketOps),
    Server,
}

impl Origin<'_> {
    /// Emits to rooms on every node, except the originating socket.
    pub async fn emit(&self, app: &App, rooms: Vec<String>, event: &str, data: &serde_json::Value) {
        match self {
            Origin::Socket(s) => s.emit_to_others(rooms, event, data).await,
            Origin::Server => app.fanout().emit(rooms, vec![], event, data).await,
        }
    }
}

/// `message:new`: validate, store (one atomic step), then deliver to every
/// member's sockets on every node. A retry with a known `clientId` returns
/// the stored message and delivers nothing.
pub async fn send(
    app: &AppState,
    sender: &str,
    req: SendMessage,
    origin: Origin<'_>,
) -> Result<Message, MessageError> {
    super::validate::validate(&req, &app.config.messages)?;
    let cfg = &app.config.messages;
    let now = crate::time::now_ms();
    let message = Message {
        id: format!("m_{}", uuid::Uuid::now_v7().simple()),
        chat_id: req.chat_id,
        seq: 0,
        sender_id: sender.to_string(),
        kind: req.kind,
        content: req.content,
        media: req.media,
        reply_to: req.reply_to,
        forwarded_from: req.forwarded_from,
        client_id: req.client_id,
        encrypted: req.encrypted,
        created_at: crate::time::rfc3339_from_ms(now),
        created_ms: now,
    };
    let appended = app
        .stores
        .messages
        .append(NewMessage {
            message,
            max_messages: cfg.history_max_messages,
            min_created_ms: now - cfg.history_max_age.as_millis() as i64,
            client_id_ttl_secs: cfg.client_id_ttl.as_secs(),
        })
        .await?;
    match appended {
        Appended::Stored(m, chat) => {
            metrics::message_stored();
            crate::telemetry::traces::record_message(&m.chat_id, &m.id);
            let room = rooms::chat(&m.chat_id);
            origin
                .emit(app, vec![room], "message:new", &json!({ "message": m }))
                .await;
            app.hooks.message_stored(app, &m, chat);
            Ok(m)
        }
        Appended::Duplicate(m) => Ok(m),
        Appended::NotMember => Err(MessageError::Chat(ChatError::NotMember)),
        Appended::Completed => Err(MessageError::Chat(ChatError::Completed)),
    }
}

/// `message:delivered` / `message:read` payload.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    pub chat_id: String,
    pub message_id: String,
}

/// Moves a cursor forward (never backward) and, when it moved, tells the
/// chat: `message:delivered` / `message:read { chatId, messageId, seq, userId, at }`.
pub async fn receipt(
    app: &App,
    user: &str,
    req: Receipt,
    cursor: Cursor,
    origin: Origin<'_>,
) -> Result<(), MessageError> {
    chat::validate_chat_id(&req.chat_id)?;
    if req.message_id.is_empty() || req.message_id.len() > super::validate::MAX_REF_LEN {
        return Err(MessageError::Invalid("messageId is not valid".into()));
    }
    let store = &app.stores.messages;
    if !app.stores.chats.is_member(&req.chat_id, user).await? {
        return Err(ChatError::NotMember.into());
    }
    let seq = store
        .seq_of(&req.chat_id, &req.message_id)
        .await?
        .ok_or(MessageError::NotFound)?;
    if store
        .advance_cursor(&req.chat_id, user, cursor, seq)
        .await?
    {
        let event = match cursor {
            Cursor::Delivered => "message:delivered",
            Cursor::Read => "message:read",
        };
        let data = json!({
            "chatId": req.chat_id,
            "messageId": req.message_id,
            "seq": seq,
            "userId": user,
            "at": crate::time::now_rfc3339(),
        });
        origin
            .emit(app, vec![rooms::chat(&req.chat_id)], event, &data)
            .await;
    }
    Ok(())
}

/// `chat:history` payload.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryRequest {
    pub chat_id: String,
    #[serde(default)]
    pub before_seq: Option<u64>,
    #[serde(default)]
    pub after_seq: Option<u64>,
    #[serde(default)]
    pub limit: Option<usize>,
}

/// Default page size of `chat:history`.
pub const DEFAULT_PAGE: usize = 50;

/// `chat:history`: ascending by `seq`. With `afterSeq`, the oldest `limit`
/// after it; otherwise the newest `limit` before `beforeSeq` (or the end).
pub async fn history(
    app: &App,
    user: &str,
    req: HistoryRequest,
) -> Result<super::Page, MessageError> {
    chat::validate_chat_id(&req.chat_id)?;
    if !app.stores.chats.is_member(&req.chat_id, user).await? {
        return Err(ChatError::NotMember.into());
    }
    page(app, req).await
}

/// One page of a chat's history, for a reader already allowed to read it
/// (the socket event above, the HTTP route after its own checks).
pub async fn page(app: &App, req: HistoryRequest) -> Result<super::Page, MessageError> {
    if req.before_seq.is_some() && req.after_seq.is_some() {
        return Err(MessageError::Invalid(
            "give beforeSeq or afterSeq, not both".into(),
        ));
    }
    let max = app.config.messages.history_page_max;
    let limit = req.limit.unwrap_or(DEFAULT_PAGE.min(max));
    if limit == 0 || limit > max {
        return Err(MessageError::Invalid(format!("limit must be 1-{max}")));
    }
    let store = &app.stores.messages;
    Ok(match req.after_seq {
        Some(after) => {
            let s = store.after(&req.chat_id, after, limit).await?;
            super::Page {
                messages: s.messages,
                has_more: s.has_more,
            }
        }
        None => store.before(&req.chat_id, req.before_seq, limit).await?,
    })
}

/// One chat of a `chat:sync` request.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncCursor {
    pub chat_id: String,
    #[serde(default)]
    pub after_seq: u64,
}

/// `chat:sync` payload.
#[derive(Debug, Deserialize)]
pub struct SyncRequest {
    pub chats: Vec<SyncCursor>,
}

/// One chat of a `chat:sync` answer. A chat the user may not read has an
/// `error` and no messages.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncResult {
    pub chat_id: String,
    pub messages: Vec<Message>,
    /// Nothing more to fetch: every message after the cursor is in this
    /// answer. False when some were trimmed or when the answer was cut at
    /// `SB_SYNC_MAX_MESSAGES`.
    pub complete: bool,
    /// Cut at `SB_SYNC_MAX_MESSAGES`: ask again from the last `seq`.
    pub has_more: bool,
    /// Some messages after the cursor were trimmed (history retention) and
    /// can no longer be fetched.
    pub trimmed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::error::AppError>,
}

/// `chat:sync`: everything after each cursor, within retention.
pub async fn sync(
    app: &App,
    user: &str,
    req: SyncRequest,
) -> Result<Vec<SyncResult>, MessageError> {
    let max_chats = app.config.chat.max_ids_per_request;
    if req.chats.len() > max_chats {
        return Err(MessageError::TooLarge(format!(
            "at most {max_chats} chats per request"
        )));
    }
    let limit = app.config.messages.sync_max_messages;
    let one = |c: SyncCursor| async move {
        let result: Result<SyncResult, MessageError> = async {
            chat::validate_chat_id(&c.chat_id)?;
            if !app.stores.chats.is_member(&c.chat_id, user).await? {
                return Err(ChatError::NotMember.into());
            }
            let s = app
                .stores
                .messages
                .after(&c.chat_id, c.after_seq, limit)
                .await?;
            Ok(SyncResult {
                chat_id: c.chat_id.clone(),
                messages: s.messages,
                // The store's `complete` says nothing was trimmed.
                complete: s.complete && !s.has_more,
                has_more: s.has_more,
                trimmed: !s.complete,
                error: None,
            })
        }
        .await;
        match result {
            Ok(r) => Ok(r),
            Err(MessageError::Store(e)) => Err(MessageError::Store(e)),
            Err(e) => Ok(SyncResult {
                chat_id: c.chat_id,
                messages: Vec::new(),
                complete: false,
                has_more: false,
                trimmed: false,
                error: Some(e.into()),
            }),
        }
    };
    futures::future::try_join_all(req.chats.into_iter().map(one)).await
}
