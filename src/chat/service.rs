//! Chat service functions: validation, authorization, storage, fan-out.
//! Socket handlers and HTTP routes both call these (one path per behaviour).

use serde::Deserialize;
use serde_json::json;

use super::{
    validate_chat_id, validate_user_ids, Chat, ChatError, ChatKind, MembershipChange, PutChat,
    MAX_TITLE_LEN,
};
use crate::app::App;
use crate::rooms;

/// `chat:create` payload.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateChat {
    pub kind: ChatKind,
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub chat_id: Option<String>,
    /// A JSON object of at most 4 KB.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}

/// The id of the direct chat between two users: the same whoever creates it.
pub fn direct_chat_id(a: &str, b: &str) -> String {
    let (x, y) = if a <= b { (a, b) } else { (b, a) };
    let name = format!("{}:{x}{y}", x.len());
    let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes());
    format!("dm_{}", id.simple())
}

/// `chat:create`: the creator becomes a member and an owner. A direct chat
/// has exactly two members; creating one that exists returns it.
pub async fn create(app: &App, actor: &str, req: CreateChat) -> Result<Chat, ChatError> {
    let cfg = &app.config.chat;
    if req.kind == ChatKind::Bot {
        return Err(ChatError::Invalid(
            "bot sessions are started with bot:start".into(),
        ));
    }
    let mut members = validate_user_ids(&req.members, cfg.max_ids_per_request)?;
    no_guests(&members)?;
    if !members.iter().any(|m| m == actor) {
        members.insert(0, actor.to_string());
    }
    if members.len() > cfg.max_members {
        return Err(ChatError::TooLarge(format!(
            "a chat has at most {} members",
            cfg.max_members
        )));
    }
    let title = match req.title.map(|t| t.trim().to_string()) {
        Some(t) if t.chars().count() > MAX_TITLE_LEN => {
            return Err(ChatError::Invalid(format!(
                "title is longer than {MAX_TITLE_LEN} characters"
            )))
        }
        Some(t) if t.is_empty() => None,
        other => other,
    };
    let id = match (&req.chat_id, req.kind) {
        (Some(id), _) => {
            validate_chat_id(id)?;
            if id.starts_with(crate::bots::SESSION_PREFIX) {
                return Err(ChatError::Invalid(
                    "chat ids starting with bot_ are reserved for bot sessions".into(),
                ));
            }
            id.clone()
        }
        (None, ChatKind::Direct) => {
            if members.len() != 2 {
                return Err(ChatError::Invalid(
                    "a direct chat has exactly one other member".into(),
                ));
            }
            direct_chat_id(&members[0], &members[1])
        }
        (None, _) => format!("ch_{}", uuid::Uuid::now_v7().simple()),
    };
    if req.kind == ChatKind::Direct && members.len() != 2 {
        return Err(ChatError::Invalid(
            "a direct chat has exactly one other member".into(),
        ));
    }
    let owners = match req.kind {
        ChatKind::Direct => members.clone(),
        _ => vec![actor.to_string()],
    };
    let chat = Chat {
        id,
        kind: req.kind,
        title,
        members,
        owners,
        bots: Vec::new(),
        created_at: crate::time::now_rfc3339(),
        topic: None,
        metadata: super::validate_metadata(req.metadata)?,
        completed_at: None,
        result: None,
    };
    if !app.stores.chats.create_chat(&chat).await? {
        let existing = app.stores.chats.get_chat(&chat.id).await?;
        return match existing {
            Some(e)
                if e.kind == ChatKind::Direct
                    && chat.kind == ChatKind::Direct
                    && e.is_member(actor) =>
            {
                Ok(e)
            }
            _ => Err(ChatError::Exists),
        };
    }
    // Every member's sockets join the room; members hear `chat:updated`
    // (no `chat:member-joined` per founding member).
    let fanout = app.fanout();
    let room = rooms::chat(&chat.id);
    for user in &chat.members {
        fanout.join_user(user, vec![room.clone()]).await;
    }
    fanout
        .emit(vec![room], vec![], "chat:updated", &json!({ "chat": chat }))
        .await;
    crate::notifications::service::on_added(app, &chat, &chat.members, Some(actor)).await;
    Ok(chat)
}

/// Users cannot put guests (PROTOCOL §14) into chats: a guest stays in its
/// bot sessions (the HTTP API, the operator, may add one elsewhere).
fn no_guests(ids: &[String]) -> Result<(), ChatError> {
    match ids.iter().find(|u| crate::ids::is_guest(u)) {
        Some(g) => Err(ChatError::Invalid(format!(
            "{g} is a guest: guests can only be in their bot sessions"
        ))),
        None => Ok(()),
    }
}

/// Loads a chat and, when `actor` is a user (not the server), checks that
/// it is a member.
async fn load_chat(app: &App, actor: Option<&str>, chat_id: &str) -> Result<Chat, ChatError> {
    validate_chat_id(chat_id)?;
    let chat = app
        .stores
        .chats
        .get_chat(chat_id)
        .await?
        .ok_or(ChatError::NotFound)?;
    if actor.is_some_and(|a| !chat.is_member(a)) {
        return Err(ChatError::NotMember);
    }
    Ok(chat)
}

/// Loads a chat and checks that `actor` is a member.
pub async fn member_chat(app: &App, actor: &str, chat_id: &str) -> Result<Chat, ChatError> {
    load_chat(app, Some(actor), chat_id).await
}

/// Checks that `user` is a member of `chat_id` (one set look-up, without
/// loading the chat): `NOT_FOUND` is not distinguished from not a member.
pub async fn require_member(app: &App, user: &str, chat_id: &str) -> Result<(), ChatError> {
    validate_chat_id(chat_id)?;
    if !app.stores.chats.is_member(chat_id, user).await? {
        return Err(ChatError::NotMember);
    }
    Ok(())
}

/// The common start of a membership change: valid, non-empty user ids and
/// a chat the actor (when a user, not the server) is a member of.
async fn load_for_change(
    app: &App,
    actor: Option<&str>,
    chat_id: &str,
    user_ids: &[String],
) -> Result<(Chat, Vec<String>), ChatError> {
    let ids = validate_user_ids(user_ids, app.config.chat.max_ids_per_request)?;
    if ids.is_empty() {
        return Err(ChatError::Invalid("userIds must not be empty".into()));
    }
    Ok((load_chat(app, actor, chat_id).await?, ids))
}

/// `chat:add-members`: owners only. `actor` is `None` for the server.
pub async fn add_members(
    app: &App,
    actor: Option<&str>,
    chat_id: &str,
    user_ids: &[String],
) -> Result<Chat, ChatError> {
    let (chat, ids) = load_for_change(app, actor, chat_id, user_ids).await?;
    if actor.is_some_and(|a| !chat.is_owner(a)) {
        return Err(ChatError::NotOwner);
    }
    if actor.is_some() {
        no_guests(&ids)?;
        if chat.kind == ChatKind::Bot {
            return Err(ChatError::Invalid(
                "a bot session's members are managed by the server (HTTP API)".into(),
            ));
        }
    }
    if chat.kind == ChatKind::Direct {
        return Err(ChatError::Invalid(
            "a direct chat's members cannot change".into(),
        ));
    }
    let max = app.config.chat.max_members;
    let new = ids.iter().filter(|u| !chat.is_member(u)).count();
    if chat.members.len() + new > max {
        return Err(ChatError::TooLarge(format!(
            "a chat has at most {max} members"
        )));
    }
    let change = app
        .stores
        .chats
        .add_members(chat_id, &ids)
        .await?
        .ok_or(ChatError::NotFound)?;
    announce(app, &change).await;
    crate::notifications::service::on_added(app, &change.chat, &change.added, actor).await;
    Ok(change.chat)
}

/// `chat:remove-members`: owners, or a user removing itself.
pub async fn remove_members(
    app: &App,
    actor: Option<&str>,
    chat_id: &str,
    user_ids: &[String],
) -> Result<Chat, ChatError> {
    let (chat, ids) = load_for_change(app, actor, chat_id, user_ids).await?;
    if let Some(actor) = actor {
        let only_self = ids.len() == 1 && ids[0] == actor;
        if !only_self && !chat.is_owner(actor) {
            return Err(ChatError::NotOwner);
        }
    }
    let change = app
        .stores
        .chats
        .remove_members(chat_id, &ids)
        .await?
        .ok_or(ChatError::NotFound)?;
    announce(app, &change).await;
    Ok(change.chat)
}

/// Tells every node about a membership change: added users' sockets join
/// the chat's room and removed users' sockets leave it, everywhere; members
/// get `chat:updated`, `chat:member-joined` and `chat:member-left`.
pub async fn announce(app: &App, change: &MembershipChange) {
    let fanout = app.fanout();
    let room = rooms::chat(&change.chat.id);
    let chat_id = &change.chat.id;
    for user in &change.removed {
        fanout
            .emit(
                vec![room.clone(), rooms::user(user)],
                vec![],
                "chat:member-left",
                &json!({ "chatId": chat_id, "userId": user }),
            )
            .await;
        fanout.leave_user(user, vec![room.clone()]).await;
    }
    for user in &change.added {
        fanout.join_user(user, vec![room.clone()]).await;
    }
    fanout
        .emit(
            vec![room.clone()],
            vec![],
            "chat:updated",
            &json!({ "chat": change.chat }),
        )
        .await;
    for user in &change.added {
        fanout
            .emit(
                vec![room.clone()],
                vec![],
                "chat:member-joined",
                &json!({ "chatId": chat_id, "userId": user }),
            )
            .await;
    }
}

/// One entry of `chat:list`.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatSummary {
    pub chat: Chat,
    pub last_seq: u64,
    pub read_seq: u64,
    pub unread: u64,
}

/// Most chats returned by `chat:list`.
pub const LIST_LIMIT: usize = 1000;

/// `chat:list`: the user's chats with their last `seq`, read cursor and
/// unread count.
pub async fn list(app: &App, user: &str) -> Result<Vec<ChatSummary>, ChatError> {
    let ids = app.stores.chats.chats_of_user(user, LIST_LIMIT).await?;
    let loads = ids.iter().map(|id| async move {
        let chat = app.stores.chats.get_chat(id).await?;
        let Some(chat) = chat.filter(|c| c.is_member(user)) else {
            return Ok::<_, ChatError>(None);
        };
        let last_seq = app.stores.messages.last_seq(id).await?;
        let read_seq = app
            .stores
            .messages
            .read_cursor(id, user)
            .await?
            .min(last_seq);
        Ok(Some(ChatSummary {
            chat,
            last_seq,
            read_seq,
            unread: last_seq - read_seq,
        }))
    });
    let loaded = futures::future::try_join_all(loads).await?;
    Ok(loaded.into_iter().flatten().collect())
}

/// `chat:get-active-members`: members with a live connection, cluster-wide,
/// with the presence status others see. Invisible members (shown as
/// offline to others) are left out.
pub async fn active_members(
    app: &App,
    actor: &str,
    chat_id: &str,
) -> Result<Vec<(String, crate::presence::Shown)>, ChatError> {
    let chat = member_chat(app, actor, chat_id).await?;
    let online = app.stores.cluster.online(&chat.members).await?;
    let connected: Vec<String> = chat
        .members
        .into_iter()
        .zip(online)
        .filter_map(|(u, on)| on.then_some(u))
        .collect();
    if connected.is_empty() {
        return Ok(Vec::new());
    }
    let shown = app.stores.presence.presences(&connected).await?;
    Ok(shown
        .into_iter()
        .filter(|p| p.status != crate::presence::Shown::Offline)
        .map(|p| (p.user_id, p.status))
        .collect())
}

/// `PUT /api/v1/chats/{chatId}`: create or replace a chat as the server.
/// Returns the chat and whether it was created. Membership changes are
/// announced like `chat:add-members` / `chat:remove-members`.
pub async fn put(app: &App, chat_id: &str, req: PutChat) -> Result<(Chat, bool), ChatError> {
    validate_chat_id(chat_id)?;
    let cfg = &app.config.chat;
    let owners = validate_user_ids(&req.owners, cfg.max_ids_per_request)?;
    let bots = validate_user_ids(&req.bots, cfg.max_ids_per_request)?;
    let mut members = validate_user_ids(&req.members, cfg.max_members)?;
    for u in owners.iter().chain(&bots) {
        if !members.contains(u) {
            members.push(u.clone());
        }
    }
    if members.is_empty() {
        return Err(ChatError::Invalid("members must not be empty".into()));
    }
    if members.len() > cfg.max_members {
        return Err(ChatError::TooLarge(format!(
            "a chat has at most {} members",
            cfg.max_members
        )));
    }
    if req.kind == ChatKind::Direct && members.len() != 2 {
        return Err(ChatError::Invalid(
            "a direct chat has exactly two members".into(),
        ));
    }
    let title = req
        .title
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    if title
        .as_ref()
        .is_some_and(|t| t.chars().count() > MAX_TITLE_LEN)
    {
        return Err(ChatError::Invalid(format!(
            "title is longer than {MAX_TITLE_LEN} characters"
        )));
    }
    let metadata = super::validate_metadata(req.metadata)?;
    let existing = app.stores.chats.get_chat(chat_id).await?;
    // A bot session's own state (topic, completion) survives a replace.
    let (created_at, topic, completed_at, result) = match existing {
        Some(c) => (c.created_at, c.topic, c.completed_at, c.result),
        None => (crate::time::now_rfc3339(), None, None, None),
    };
    let chat = Chat {
        id: chat_id.to_string(),
        kind: req.kind,
        title,
        members,
        owners,
        bots,
        created_at,
        topic,
        metadata,
        completed_at,
        result,
    };
    let before = app.stores.chats.put_chat(&chat).await?;
    let old = before
        .as_ref()
        .map(|c| c.members.clone())
        .unwrap_or_default();
    let change = MembershipChange {
        added: chat
            .members
            .iter()
            .filter(|m| !old.contains(m))
            .cloned()
            .collect(),
        removed: old.iter().filter(|m| !chat.is_member(m)).cloned().collect(),
        chat: chat.clone(),
    };
    announce(app, &change).await;
    crate::notifications::service::on_added(app, &chat, &change.added, None).await;
    Ok((chat, before.is_none()))
}

/// Chats per user considered by [`share_chat`].
const SHARE_SCAN_LIMIT: usize = 10_000;

/// For each of `others`, whether it is a member of at least one chat with
/// `user` (presence visibility). Costs 1 + `others.len()` reads of the
/// per-user chat index, issued concurrently.
pub async fn share_chat(app: &App, user: &str, others: &[String]) -> Result<Vec<bool>, ChatError> {
    let mine: std::collections::HashSet<String> = app
        .stores
        .chats
        .chats_of_user(user, SHARE_SCAN_LIMIT)
        .await?
        .into_iter()
        .collect();
    if mine.is_empty() {
        return Ok(vec![false; others.len()]);
    }
    let theirs = futures::future::join_all(
        others
            .iter()
            .map(|o| app.stores.chats.chats_of_user(o, SHARE_SCAN_LIMIT)),
    )
    .await;
    theirs
        .into_iter()
        .map(|r| Ok(r?.iter().any(|c| mine.contains(c))))
        .collect()
}
