//! The `call` behaviour suite, run on memory and on Redis.

use crate::calls::CallStore;

use super::ids;

pub(super) async fn call_suite(s: &dyn CallStore) {
    use crate::calls::{Call, CallState, HistoryEntry, Leg, LegState, Media};
    use std::time::Duration;
    let long = Duration::from_secs(600);
    let call = Call {
        id: "call-{1}*".into(),
        caller_id: "alice".into(),
        caller_socket: "s1".into(),
        chat_id: None,
        media: Media::Video,
        state: CallState::Ringing,
        legs: vec![Leg {
            user_id: "bob".into(),
            state: LegState::Ringing,
            socket_id: None,
        }],
        created_ms: 1,
        answered_ms: None,
        ended_ms: None,
        end_reason: None,
        version: 0,
    };
    assert!(s.get_call(&call.id).await.unwrap().is_none());
    assert!(s.create_call(&call, long).await.unwrap());
    assert!(!s.create_call(&call, long).await.unwrap(), "ids are unique");
    let got = s.get_call(&call.id).await.unwrap().unwrap();
    assert_eq!((got.version, &got), (0, &call));
    // Compare-and-set: the first writer of version 0 wins.
    let mut a = got.clone();
    a.state = CallState::Active;
    let mut b = got.clone();
    b.state = CallState::Ended;
    assert!(s.update_call(&a, long).await.unwrap());
    assert!(!s.update_call(&b, long).await.unwrap(), "stale version");
    let now = s.get_call(&call.id).await.unwrap().unwrap();
    assert_eq!((now.version, now.state), (1, CallState::Active));
    // Calls expire.
    let mut short = call.clone();
    short.id = "short".into();
    s.create_call(&short, Duration::from_millis(100))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(s.get_call("short").await.unwrap().is_none());
    assert!(!s.update_call(&short, long).await.unwrap());
    // Deadlines: due ones are claimed once per lease.
    s.schedule_call("t1", Duration::ZERO).await.unwrap();
    s.schedule_call("t2", long).await.unwrap();
    let lease = Duration::from_millis(300);
    assert_eq!(s.take_due_calls(10, lease).await.unwrap(), ids(&["t1"]));
    assert!(
        s.take_due_calls(10, lease).await.unwrap().is_empty(),
        "claimed"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        s.take_due_calls(10, lease).await.unwrap(),
        ids(&["t1"]),
        "an unfinished claim comes back after its lease"
    );
    s.unschedule_call("t1").await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(s.take_due_calls(10, lease).await.unwrap().is_empty());
    // History: newest first, bounded.
    let entry = |i: usize| HistoryEntry {
        call_id: format!("c{i}"),
        caller_id: "alice".into(),
        chat_id: None,
        media: Media::Audio,
        user_ids: ids(&["alice", "bob"]),
        outcome: "missed".into(),
        end_reason: "timeout".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        answered_at: None,
        ended_at: "2026-01-01T00:00:45Z".into(),
        duration_secs: 0,
    };
    for i in 0..5 {
        s.push_history("b{o}b", &entry(i), 3).await.unwrap();
    }
    let h = s.history("b{o}b", 10).await.unwrap();
    assert_eq!(
        h.iter().map(|e| e.call_id.as_str()).collect::<Vec<_>>(),
        vec!["c4", "c3", "c2"]
    );
    assert_eq!(s.history("b{o}b", 1).await.unwrap().len(), 1);
    assert!(s.history("nobody", 10).await.unwrap().is_empty());
}
