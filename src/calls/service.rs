//! The call service: each protocol step as one compare-and-set transition,
//! then the events it causes.

use std::time::Duration;

use serde_json::{json, Value};

use super::state;
use super::{
    Actor, Answer, Call, CallError, CallState, Candidate, Hangup, HistoryEntry, Initiate, Leg,
    LegState, MAX_CANDIDATE_BYTES, MAX_GROUP_CALLEES, MAX_SDP_BYTES,
};
use crate::app::App;
use crate::notifications::{self, Kind};
use crate::rooms;

/// Longest `reason`.
const MAX_REASON: usize = 64;
/// Retries of a transition that lost a race.
const CAS_ATTEMPTS: usize = 8;

fn size_ok(v: &Value, max: usize, what: &str) -> Result<(), CallError> {
    if v.is_null() {
        return Err(CallError::Invalid(format!("{what} is required")));
    }
    if crate::messages::validate::json_len(v) > max {
        return Err(CallError::TooLarge(format!(
            "{what} is larger than {max} bytes"
        )));
    }
    Ok(())
}

fn reason(r: Option<String>, default: &str) -> Result<String, CallError> {
    match r {
        None => Ok(default.to_string()),
        Some(r)
            if !r.is_empty()
                && r.len() <= MAX_REASON
                && r.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Ok(r)
        }
        Some(_) => Err(CallError::Invalid(format!(
            "reason must be 1-{MAX_REASON} characters of a-z, 0-9, - or _"
        ))),
    }
}

fn validate_call_id(id: &str) -> Result<(), CallError> {
    if id.is_empty() || id.len() > 64 {
        return Err(CallError::Invalid("callId is not valid".into()));
    }
    Ok(())
}

/// Loads the call (or starts from `loaded`, read just before), applies `f`
/// and stores it if nobody changed it meanwhile (retrying on a lost race).
/// Returns the call before and after.
async fn transition<T>(
    app: &App,
    id: &str,
    mut loaded: Option<Call>,
    mut f: impl FnMut(&mut Call) -> Result<T, CallError>,
) -> Result<(Call, Call, T), CallError> {
    validate_call_id(id)?;
    let ttl = app.config.calls.max_duration;
    for _ in 0..CAS_ATTEMPTS {
        let before = match loaded.take() {
            Some(c) => c,
            None => app
                .stores
                .calls
                .get_call(id)
                .await?
                .ok_or(CallError::NotFound)?,
        };
        let mut after = before.clone();
        let out = f(&mut after)?;
        if after == before {
            return Ok((before, after, out));
        }
        if app.stores.calls.update_call(&after, ttl).await? {
            return Ok((before, after, out));
        }
    }
    Err(CallError::Conflict("the call is changing; retry"))
}

async fn to(app: &App, room: String, event: &str, data: Value) {
    app.fanout().emit(vec![room], vec![], event, &data).await;
}

/// `call:initiate`.
pub async fn initiate(app: &App, by: Actor<'_>, req: Initiate) -> Result<Call, CallError> {
    size_ok(&req.offer, MAX_SDP_BYTES, "offer")?;
    let callees: Vec<String> = match (&req.callee_id, &req.chat_id) {
        (Some(callee), None) => {
            crate::ids::validate_user_id(callee)?;
            if callee == by.user {
                return Err(CallError::Invalid("you cannot call yourself".into()));
            }
            if !crate::chat::service::share_chat(app, by.user, std::slice::from_ref(callee)).await?
                [0]
            {
                return Err(CallError::NotContact);
            }
            vec![callee.clone()]
        }
        (None, Some(chat_id)) => {
            let chat = crate::chat::service::member_chat(app, by.user, chat_id).await?;
            let others: Vec<String> = chat.members.into_iter().filter(|m| m != by.user).collect();
            if others.is_empty() {
                return Err(CallError::Invalid("nobody else is in this chat".into()));
            }
            if others.len() > MAX_GROUP_CALLEES {
                return Err(CallError::Invalid(format!(
                    "group calls ring at most {MAX_GROUP_CALLEES} members"
                )));
            }
            others
        }
        _ => {
            return Err(CallError::Invalid(
                "give exactly one of calleeId and chatId".into(),
            ))
        }
    };
    let call = Call {
        id: format!("call_{}", uuid::Uuid::now_v7().simple()),
        caller_id: by.user.to_string(),
        caller_socket: by.socket.to_string(),
        chat_id: req.chat_id.clone(),
        media: req.media,
        state: CallState::Ringing,
        legs: callees
            .iter()
            .map(|u| Leg {
                user_id: u.clone(),
                state: LegState::Ringing,
                socket_id: None,
            })
            .collect(),
        created_ms: crate::time::now_ms(),
        answered_ms: None,
        ended_ms: None,
        end_reason: None,
        version: 0,
    };
    let store = &app.stores.calls;
    if !store
        .create_call(&call, app.config.calls.max_duration)
        .await?
    {
        return Err(CallError::Conflict("call id exists"));
    }
    store
        .schedule_call(&call.id, app.config.calls.ring_timeout)
        .await?;
    crate::telemetry::metrics::call_started(call.media.as_str());
    let mut incoming = json!({
        "callId": call.id,
        "callerId": call.caller_id,
        "media": call.media,
        "offer": req.offer,
    });
    if let Some(c) = &call.chat_id {
        incoming["chatId"] = json!(c);
    }
    app.fanout()
        .emit(
            callees.iter().map(|u| rooms::user(u)).collect(),
            vec![],
            "call:incoming",
            &incoming,
        )
        .await;
    // A push relay needs who calls whom, not the SDP (addresses).
    let pushed = json!({ "callId": call.id, "callerId": call.caller_id, "media": call.media, "chatId": call.chat_id });
    let to = callees
        .iter()
        .map(|u| (u.clone(), pushed.clone()))
        .collect();
    crate::webhooks::service::forward_to_users(app, "call:incoming", to).await;
    Ok(call)
}

/// `call:answer`: the first device of a callee to answer joins; the
/// callee's other devices stop ringing.
pub async fn answer(app: &App, by: Actor<'_>, req: Answer) -> Result<(), CallError> {
    size_ok(&req.answer, MAX_SDP_BYTES, "answer")?;
    let (_, call, ()) = transition(app, &req.call_id, None, |c| {
        state::answer(c, by.user, by.socket, crate::time::now_ms())
    })
    .await?;
    crate::telemetry::metrics::call_answered();
    to(
        app,
        rooms::socket(&call.caller_socket),
        "call:answer",
        json!({ "callId": call.id, "answer": req.answer, "userId": by.user }),
    )
    .await;
    stop_other_devices(app, by, &call.id, "answered-elsewhere").await;
    Ok(())
}

/// The callee's other devices stop ringing: `call:end { callId, reason }`.
async fn stop_other_devices(app: &App, by: Actor<'_>, call_id: &str, reason: &str) {
    app.fanout()
        .emit(
            vec![rooms::user(by.user)],
            vec![rooms::socket(by.socket)],
            "call:end",
            &json!({ "callId": call_id, "reason": reason }),
        )
        .await;
}

/// `call:reject` (and `call:end` by a callee whose phone is still ringing).
pub async fn reject(app: &App, by: Actor<'_>, req: Hangup) -> Result<(), CallError> {
    reject_from(app, by, req, None).await
}

async fn reject_from(
    app: &App,
    by: Actor<'_>,
    req: Hangup,
    loaded: Option<Call>,
) -> Result<(), CallError> {
    let why = reason(req.reason, "rejected")?;
    let (before, call, ()) = transition(app, &req.call_id, loaded, |c| {
        state::reject(c, by.user, crate::time::now_ms())
    })
    .await?;
    to(
        app,
        rooms::socket(&call.caller_socket),
        "call:reject",
        json!({ "callId": call.id, "userId": by.user, "reason": why }),
    )
    .await;
    stop_other_devices(app, by, &call.id, "rejected-elsewhere").await;
    after_change(app, &before, &call, None).await;
    Ok(())
}

/// `call:end`: the caller ends the call for everybody; a callee in the call
/// leaves it (the call ends when nobody is left); a ringing callee rejects.
pub async fn end(app: &App, by: Actor<'_>, req: Hangup) -> Result<(), CallError> {
    validate_call_id(&req.call_id)?;
    let Some(call) = app.stores.calls.get_call(&req.call_id).await? else {
        return Err(CallError::NotFound);
    };
    if call.caller_id != by.user {
        match call.leg(by.user).map(|l| l.state) {
            None => return Err(CallError::NotParticipant),
            Some(LegState::Ringing) if call.state != CallState::Ended => {
                return reject_from(app, by, req, Some(call)).await
            }
            _ => {}
        }
    }
    let why = reason(req.reason, "ended")?;
    let (before, after, ()) = transition(app, &req.call_id, Some(call), |c| {
        state::end(c, by.user, &why, crate::time::now_ms())
    })
    .await?;
    after_change(app, &before, &after, Some((by.user, &why))).await;
    Ok(())
}

/// Events, notifications and history for a change of legs or state.
async fn after_change(app: &App, before: &Call, after: &Call, by: Option<(&str, &str)>) {
    if before == after {
        return;
    }
    let reason = after.end_reason.clone().unwrap_or_else(|| "ended".into());
    let mut data = json!({ "callId": after.id, "reason": reason });
    if let Some((user, why)) = by {
        data["userId"] = json!(user);
        if after.state != CallState::Ended {
            data["reason"] = json!(why);
        }
    }
    // Callees whose leg ended now: their devices stop ringing or hang up;
    // the caller hears of every change that is not its own. One emit.
    let mut missed = Vec::new();
    let mut targets = Vec::new();
    for (b, a) in before.legs.iter().zip(&after.legs) {
        if b.state == a.state || Some(a.user_id.as_str()) == by.map(|x| x.0) {
            continue;
        }
        if a.state == LegState::Missed {
            missed.push(a.user_id.clone());
        }
        if matches!(a.state, LegState::Missed | LegState::Left) {
            targets.push(match &b.socket_id {
                Some(s) => rooms::socket(s),
                None => rooms::user(&a.user_id),
            });
        }
    }
    if by.map(|x| x.0) != Some(after.caller_id.as_str())
        && (after.state == CallState::Ended || by.is_some())
    {
        targets.push(rooms::socket(&after.caller_socket));
    }
    if !targets.is_empty() {
        app.fanout().emit(targets, vec![], "call:end", &data).await;
    }
    let pushed = json!({ "callId": after.id, "callerId": after.caller_id, "media": after.media, "chatId": after.chat_id });
    let to = missed.iter().map(|u| (u.clone(), pushed.clone())).collect();
    crate::webhooks::service::forward_to_users(app, "call:missed", to).await;
    if !missed.is_empty() {
        let n = notifications::new(
            Kind::Call,
            format!(
                "Missed {} call from {}",
                after.media.as_str(),
                after.caller_id
            ),
            None,
            json!({ "callId": after.id, "callerId": after.caller_id, "chatId": after.chat_id }),
        );
        if let Err(e) = notifications::service::notify(app, &missed, &n).await {
            tracing::warn!(error = %e, "missed-call notifications failed");
        }
    }
    if before.state != CallState::Ended && after.state == CallState::Ended {
        finish(app, after).await;
    }
}

/// Once, when a call ends: metrics and every participant's history.
async fn finish(app: &App, c: &Call) {
    let reason = c.end_reason.clone().unwrap_or_else(|| "ended".into());
    crate::telemetry::metrics::call_ended(match reason.as_str() {
        "ended" => "ended",
        "cancelled" => "cancelled",
        "rejected" => "rejected",
        "timeout" => "timeout",
        "disconnected" => "disconnected",
        _ => "other",
    });
    let ended = c.ended_ms.unwrap_or_else(crate::time::now_ms);
    let mut users = vec![c.caller_id.clone()];
    users.extend(c.legs.iter().map(|l| l.user_id.clone()));
    let entry = |outcome: &str| HistoryEntry {
        call_id: c.id.clone(),
        caller_id: c.caller_id.clone(),
        chat_id: c.chat_id.clone(),
        media: c.media,
        user_ids: users.clone(),
        outcome: outcome.to_string(),
        end_reason: reason.clone(),
        started_at: crate::time::rfc3339_from_ms(c.created_ms),
        answered_at: c.answered_ms.map(crate::time::rfc3339_from_ms),
        ended_at: crate::time::rfc3339_from_ms(ended),
        duration_secs: c
            .answered_ms
            .map_or(0, |a| ((ended - a).max(0) / 1000) as u64),
    };
    let max = app.config.calls.history_max;
    let mut all = vec![(c.caller_id.clone(), entry("outgoing"))];
    for l in &c.legs {
        let outcome = match l.state {
            LegState::Rejected => "rejected",
            LegState::Missed | LegState::Ringing => "missed",
            LegState::Joined | LegState::Left => "answered",
        };
        all.push((l.user_id.clone(), entry(outcome)));
    }
    for (user, e) in all {
        if let Err(err) = app.stores.calls.push_history(&user, &e, max).await {
            tracing::warn!(error = %err, "could not store call history");
        }
    }
}

/// `call:ice-candidate`: relayed between the caller's socket and the device
/// of each callee that answered (to every device of a callee still ringing).
pub async fn ice(app: &App, by: Actor<'_>, req: Candidate) -> Result<(), CallError> {
    validate_call_id(&req.call_id)?;
    size_ok(&req.candidate, MAX_CANDIDATE_BYTES, "candidate")?;
    let Some(c) = app.stores.calls.get_call(&req.call_id).await? else {
        return Err(CallError::NotFound);
    };
    let data = json!({ "callId": c.id, "candidate": req.candidate, "userId": by.user });
    let from_caller = c.caller_id == by.user && c.caller_socket == by.socket;
    let from_leg = c
        .leg(by.user)
        .is_some_and(|l| l.state == LegState::Joined && l.socket_id.as_deref() == Some(by.socket));
    if !(from_caller || from_leg) {
        return Err(CallError::NotParticipant);
    }
    if c.state == CallState::Ended {
        return Err(CallError::Conflict("the call has ended"));
    }
    if from_leg {
        to(
            app,
            rooms::socket(&c.caller_socket),
            "call:ice-candidate",
            data,
        )
        .await;
        return Ok(());
    }
    let mut targets = Vec::new();
    for l in &c.legs {
        if req.to_user_id.as_ref().is_some_and(|t| *t != l.user_id) {
            continue;
        }
        match (l.state, &l.socket_id) {
            (LegState::Joined, Some(s)) => targets.push(rooms::socket(s)),
            (LegState::Ringing, _) => targets.push(rooms::user(&l.user_id)),
            _ => {}
        }
    }
    if targets.is_empty() {
        return Err(CallError::Conflict("nobody to relay to"));
    }
    app.fanout()
        .emit(targets, vec![], "call:ice-candidate", &data)
        .await;
    Ok(())
}

/// `call:history`.
pub async fn history(
    app: &App,
    user: &str,
    limit: Option<usize>,
) -> Result<Vec<HistoryEntry>, CallError> {
    let max = app.config.calls.history_max;
    let limit = limit.unwrap_or(50);
    if limit == 0 || limit > max {
        return Err(CallError::Invalid(format!("limit must be 1-{max}")));
    }
    Ok(app.stores.calls.history(user, limit).await?)
}

/// A connection that closed: calls it started end (`disconnected`), calls
/// it answered are left.
pub async fn on_disconnect(app: &App, user: &str, socket: &str, calls: Vec<String>) {
    for id in calls {
        let req = Hangup {
            call_id: id,
            reason: Some("disconnected".into()),
        };
        match end(app, Actor { user, socket }, req).await {
            Ok(()) | Err(CallError::NotFound) => {}
            Err(e) => tracing::debug!(error = %e, "call clean-up on disconnect"),
        }
    }
}

/// Runs forever on every node: rings that timed out end (`timeout`).
pub async fn sweeper(app: crate::app::AppState) {
    let every = app.config.presence.sweep_interval;
    crate::time::every(every, || sweep_once(&app, every * 5)).await;
}

/// Handles every due ring deadline once.
pub async fn sweep_once(app: &App, lease: Duration) {
    let due = match app.stores.calls.take_due_calls(100, lease).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "could not read call deadlines");
            return;
        }
    };
    for id in due {
        let r = transition(app, &id, None, |c| {
            state::ring_timeout(c, crate::time::now_ms());
            Ok(())
        })
        .await;
        match r {
            Ok((before, mut after, ())) => {
                if after.end_reason.is_none() {
                    after.end_reason = Some("timeout".into());
                }
                after_change(app, &before, &after, None).await;
            }
            Err(CallError::NotFound) => {}
            Err(e) => {
                tracing::warn!(error = %e, call = %id, "ring timeout not handled; retried later");
                continue;
            }
        }
        if let Err(e) = app.stores.calls.unschedule_call(&id).await {
            tracing::warn!(error = %e, "could not drop a call deadline");
        }
    }
}
