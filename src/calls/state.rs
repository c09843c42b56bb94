//! The call state machine: every protocol step as a pure change of a
//! [`Call`], with no I/O. `service.rs` loads the call, applies one of these
//! and stores the result with a compare-and-set (retrying on a lost race).
//!
//! ```text
//! call      Ringing ──answer──▶ Active ──end / last leg leaves──▶ Ended
//!              └──reject by the last ringing callee / cancel / timeout──▶ Ended
//! leg       Ringing ──answer──▶ Joined ──end──▶ Left
//!              ├──reject──▶ Rejected
//!              └──timeout / caller ends──▶ Missed
//! ```

use super::{Call, CallError, CallState, LegState};

/// `call:answer` by `user` from `socket`: its leg joins and the call is
/// active. Only a ringing leg of a call that has not ended may answer.
pub fn answer(c: &mut Call, user: &str, socket: &str, now_ms: i64) -> Result<(), CallError> {
    let leg = c.leg_mut(user).ok_or(CallError::NotParticipant)?;
    match leg.state {
        LegState::Ringing => {}
        LegState::Joined => return Err(CallError::Conflict("already answered")),
        _ => {
            return Err(CallError::Conflict(
                "this call is no longer ringing for you",
            ))
        }
    }
    if c.state == CallState::Ended {
        return Err(CallError::Conflict("the call has ended"));
    }
    let leg = c.leg_mut(user).expect("checked");
    leg.state = LegState::Joined;
    leg.socket_id = Some(socket.to_string());
    c.state = CallState::Active;
    c.answered_ms.get_or_insert(now_ms);
    Ok(())
}

/// `call:reject` by a ringing callee; the call ends when nobody is left.
pub fn reject(c: &mut Call, user: &str, now_ms: i64) -> Result<(), CallError> {
    let ended = c.state == CallState::Ended;
    let leg = c.leg_mut(user).ok_or(CallError::NotParticipant)?;
    if leg.state != LegState::Ringing || ended {
        return Err(CallError::Conflict("this call is not ringing for you"));
    }
    leg.state = LegState::Rejected;
    if !c.anyone_left() {
        end_now(c, "rejected", now_ms);
    }
    Ok(())
}

/// `call:end` by `user` with reason `why`: the caller ends the call for
/// everybody (`cancelled` while it still rings); a callee in the call leaves
/// it, and the call ends when nobody is left. Ending twice changes nothing.
pub fn end(c: &mut Call, user: &str, why: &str, now_ms: i64) -> Result<(), CallError> {
    if c.state == CallState::Ended {
        return Ok(());
    }
    if c.caller_id == user {
        let why = if c.state == CallState::Ringing && why == "ended" {
            "cancelled"
        } else {
            why
        };
        end_now(c, why, now_ms);
    } else {
        let leg = c.leg_mut(user).ok_or(CallError::NotParticipant)?;
        if leg.state == LegState::Joined {
            leg.state = LegState::Left;
        }
        if !c.anyone_left() {
            end_now(c, why, now_ms);
        }
    }
    Ok(())
}

/// The ring deadline passed: a call nobody answered ends with `timeout`;
/// in an answered call, the callees still ringing missed it.
pub fn ring_timeout(c: &mut Call, now_ms: i64) {
    if c.state == CallState::Ended {
        return;
    }
    if c.legs.iter().any(|l| l.state == LegState::Joined) {
        for l in &mut c.legs {
            if l.state == LegState::Ringing {
                l.state = LegState::Missed;
            }
        }
    } else {
        end_now(c, "timeout", now_ms);
    }
}

/// Ends the call: ringing legs missed it, joined legs left it.
pub fn end_now(c: &mut Call, why: &str, now_ms: i64) {
    c.state = CallState::Ended;
    c.ended_ms = Some(now_ms);
    c.end_reason = Some(why.to_string());
    for leg in &mut c.legs {
        leg.state = match leg.state {
            LegState::Ringing => LegState::Missed,
            LegState::Joined => LegState::Left,
            s => s,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::{Leg, Media};
    use CallState::{Active, Ended, Ringing};
    use LegState::{Joined, Left, Missed, Rejected};

    const NOW: i64 = 1_000;

    /// A call from `a` to `b` and `c`, with the call and leg states given.
    fn call(state: CallState, b: LegState, c: LegState) -> Call {
        let leg = |u: &str, s| Leg {
            user_id: u.into(),
            state: s,
            socket_id: (s == Joined).then(|| format!("{u}-sock")),
        };
        Call {
            id: "call1".into(),
            caller_id: "a".into(),
            caller_socket: "a-sock".into(),
            chat_id: None,
            media: Media::Audio,
            state,
            legs: vec![leg("b", b), leg("c", c)],
            created_ms: 0,
            answered_ms: None,
            ended_ms: None,
            end_reason: None,
            version: 1,
        }
    }

    #[derive(Debug, Clone, Copy)]
    enum Step {
        Answer(&'static str),
        Reject(&'static str),
        End(&'static str),
        Timeout,
    }

    fn apply(c: &mut Call, step: Step) -> Result<(), CallError> {
        match step {
            Step::Answer(u) => answer(c, u, "dev", NOW),
            Step::Reject(u) => reject(c, u, NOW),
            Step::End(u) => end(c, u, "ended", NOW),
            Step::Timeout => {
                ring_timeout(c, NOW);
                Ok(())
            }
        }
    }

    /// What is expected after a step: the error (`None`: it succeeds), the
    /// call state, the two legs and the end reason.
    type Expect = (
        Option<&'static str>,
        CallState,
        LegState,
        LegState,
        Option<&'static str>,
    );

    #[test]
    fn every_step_from_every_state() {
        use LegState::Ringing as R;
        use Step::*;
        #[rustfmt::skip]
        let table: &[((CallState, LegState, LegState), Step, Expect)] = &[
            // Answering.
            ((Ringing, R, R),      Answer("b"), (None, Active, Joined, R, None)),
            ((Active, Joined, R),  Answer("c"), (None, Active, Joined, Joined, None)),
            ((Active, Joined, R),  Answer("b"), (Some("CONFLICT"), Active, Joined, R, None)),
            ((Ringing, Rejected, R), Answer("b"), (Some("CONFLICT"), Ringing, Rejected, R, None)),
            ((Ended, Missed, Missed), Answer("b"), (Some("CONFLICT"), Ended, Missed, Missed, None)),
            ((Ringing, R, R),      Answer("x"), (Some("NOT_PARTICIPANT"), Ringing, R, R, None)),
            ((Ringing, R, R),      Answer("a"), (Some("NOT_PARTICIPANT"), Ringing, R, R, None)),
            // Rejecting: the call ends with the last ringing callee.
            ((Ringing, R, R),      Reject("b"), (None, Ringing, Rejected, R, None)),
            ((Ringing, Rejected, R), Reject("c"), (None, Ended, Rejected, Rejected, Some("rejected"))),
            ((Active, Joined, R),  Reject("c"), (None, Active, Joined, Rejected, None)),
            ((Active, Joined, R),  Reject("b"), (Some("CONFLICT"), Active, Joined, R, None)),
            ((Ended, Missed, Missed), Reject("b"), (Some("CONFLICT"), Ended, Missed, Missed, None)),
            ((Ringing, R, R),      Reject("x"), (Some("NOT_PARTICIPANT"), Ringing, R, R, None)),
            // Ending: the caller cancels a ringing call, ends an active one.
            ((Ringing, R, R),      End("a"), (None, Ended, Missed, Missed, Some("cancelled"))),
            ((Active, Joined, R),  End("a"), (None, Ended, Left, Missed, Some("ended"))),
            ((Active, Joined, Joined), End("b"), (None, Active, Left, Joined, None)),
            ((Active, Joined, Left), End("b"), (None, Ended, Left, Left, Some("ended"))),
            ((Active, Joined, Rejected), End("b"), (None, Ended, Left, Rejected, Some("ended"))),
            ((Ended, Left, Left),  End("a"), (None, Ended, Left, Left, None)),
            ((Active, Joined, R),  End("x"), (Some("NOT_PARTICIPANT"), Active, Joined, R, None)),
            // The ring deadline.
            ((Ringing, R, R),      Timeout, (None, Ended, Missed, Missed, Some("timeout"))),
            ((Ringing, Rejected, R), Timeout, (None, Ended, Rejected, Missed, Some("timeout"))),
            ((Active, Joined, R),  Timeout, (None, Active, Joined, Missed, None)),
            ((Ended, Left, Missed), Timeout, (None, Ended, Left, Missed, None)),
        ];
        for &((state, b, c), step, (err, want_state, want_b, want_c, reason)) in table {
            let mut call = call(state, b, c);
            let before = call.clone();
            let out = apply(&mut call, step);
            let row = format!("{step:?} from ({state:?}, {b:?}, {c:?})");
            match (err, out) {
                (None, Ok(())) => {}
                (Some(want), Err(e)) => {
                    let got = match e {
                        CallError::Conflict(_) => "CONFLICT",
                        CallError::NotParticipant => "NOT_PARTICIPANT",
                        _ => "OTHER",
                    };
                    assert_eq!(got, want, "{row}");
                    assert_eq!(call, before, "{row}: a refused step changes nothing");
                }
                (want, got) => panic!("{row}: expected {want:?}, got {got:?}"),
            }
            assert_eq!(call.state, want_state, "{row}: call state");
            assert_eq!(call.legs[0].state, want_b, "{row}: leg b");
            assert_eq!(call.legs[1].state, want_c, "{row}: leg c");
            assert_eq!(call.end_reason.as_deref(), reason, "{row}: reason");
            if want_state == Ended && state != Ended {
                assert_eq!(call.ended_ms, Some(NOW), "{row}: ended_ms");
            }
        }
    }

    #[test]
    fn answering_records_the_device_and_the_first_answer_time() {
        let mut c = call(Ringing, LegState::Ringing, LegState::Ringing);
        answer(&mut c, "b", "b-phone", 5).unwrap();
        answer(&mut c, "c", "c-laptop", 9).unwrap();
        assert_eq!(c.legs[0].socket_id.as_deref(), Some("b-phone"));
        assert_eq!(c.legs[1].socket_id.as_deref(), Some("c-laptop"));
        assert_eq!(c.answered_ms, Some(5));
    }
}
