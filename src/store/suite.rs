//! Behaviour suites: one per storage trait, run against the memory backend
//! and against Redis (a real redis-server) on every test run.

use std::sync::Arc;

use crate::calls::CallStore;
use crate::chat::{Chat, ChatKind, ChatStore};
use crate::cluster::{ClusterStore, Session};
use crate::messages::{Appended, Cursor, Message, MessageStore, MessageType, NewMessage};
use crate::notifications::{Kind as NotificationKind, Notification, NotificationStore};
use crate::presence::PresenceStore;
use crate::reactions::ReactionStore;
use crate::store::Stores;
use crate::testing::RedisServer;

fn chat(id: &str, members: &[&str]) -> Chat {
    Chat {
        id: id.into(),
        kind: ChatKind::Group,
        title: Some("t".into()),
        members: members.iter().map(|s| s.to_string()).collect(),
        owners: vec![members[0].to_string()],
        bots: vec![],
        created_at: "2026-01-01T00:00:00Z".into(),
    }
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn msg(
    chat: &str,
    sender: &str,
    content: &str,
    client_id: Option<&str>,
    created_ms: i64,
) -> NewMessage {
    NewMessage {
        message: Message {
            id: format!("m_{}", uuid::Uuid::now_v7().simple()),
            chat_id: chat.into(),
            seq: 0,
            sender_id: sender.into(),
            kind: MessageType::Text,
            content: content.into(),
            media: None,
            reply_to: None,
            forwarded_from: Some(serde_json::json!({"seq": 0, "note": "\"seq\":0,"})),
            client_id: client_id.map(str::to_string),
            encrypted: false,
            created_at: crate::time::rfc3339_from_ms(created_ms),
            created_ms,
        },
        max_messages: 1000,
        min_created_ms: 0,
        client_id_ttl_secs: 60,
    }
}

async fn stored(s: &dyn MessageStore, new: NewMessage) -> Message {
    match s.append(new).await.unwrap() {
        Appended::Stored(m) => m,
        other => panic!("expected Stored, got {other:?}"),
    }
}

pub async fn chat_suite(s: &dyn ChatStore) {
    let odd = "{weird}*:\nid";
    let c = chat("c1", &["alice", "bob", odd]);
    assert!(s.create_chat(&c).await.unwrap());
    assert!(
        !s.create_chat(&chat("c1", &["mallory"])).await.unwrap(),
        "exists"
    );
    assert_eq!(
        s.get_chat("c1").await.unwrap().unwrap(),
        c,
        "round trip, order kept"
    );
    assert_eq!(s.get_chat("nope").await.unwrap(), None);
    assert!(s.is_member("c1", odd).await.unwrap());
    assert!(!s.is_member("c1", "mallory").await.unwrap());
    assert!(!s.is_member("nope", "alice").await.unwrap());

    let ch = s
        .add_members("c1", &ids(&["bob", "carol", "carol"]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ch.added, ids(&["carol"]), "only real changes are listed");
    assert_eq!(ch.chat.members, ids(&["alice", "bob", odd, "carol"]));
    assert!(s.add_members("nope", &ids(&["x"])).await.unwrap().is_none());

    let mut with_owner = chat("c2", &["alice", "bob"]);
    with_owner.owners = ids(&["alice", "bob"]);
    with_owner.bots = ids(&["bob"]);
    s.create_chat(&with_owner).await.unwrap();
    let ch = s
        .remove_members("c2", &ids(&["bob", "zed"]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ch.removed, ids(&["bob"]));
    assert_eq!(
        (ch.chat.owners.clone(), ch.chat.bots.clone()),
        (ids(&["alice"]), vec![])
    );

    assert_eq!(
        s.chats_of_user("alice", 10).await.unwrap(),
        ids(&["c1", "c2"])
    );
    assert_eq!(
        s.chats_of_user("alice", 1).await.unwrap(),
        ids(&["c2"]),
        "most recent"
    );
    assert_eq!(s.chats_of_user("bob", 10).await.unwrap(), ids(&["c1"]));
    assert_eq!(s.chats_of_user(odd, 10).await.unwrap(), ids(&["c1"]));

    let replaced = chat("c1", &["alice", "dave"]);
    let old = s.put_chat(&replaced).await.unwrap().unwrap();
    assert_eq!(old.members.len(), 4);
    assert_eq!(s.get_chat("c1").await.unwrap().unwrap(), replaced);
    assert!(s.chats_of_user("bob", 10).await.unwrap().is_empty());
    assert_eq!(s.chats_of_user("dave", 10).await.unwrap(), ids(&["c1"]));
}

pub async fn message_suite(chats: &dyn ChatStore, s: &dyn MessageStore) {
    chats
        .create_chat(&chat("m1", &["alice", "bob"]))
        .await
        .unwrap();
    let now = crate::time::now_ms();
    // Not a member, or no chat: nothing stored.
    assert_eq!(
        s.append(msg("m1", "mallory", "x", None, now))
            .await
            .unwrap(),
        Appended::NotMember
    );
    assert_eq!(
        s.append(msg("nope", "alice", "x", None, now))
            .await
            .unwrap(),
        Appended::NotMember
    );
    assert_eq!(s.last_seq("m1").await.unwrap(), 0);

    let first = stored(s, msg("m1", "alice", "hello", Some("c-1"), now)).await;
    assert_eq!(first.seq, 1);
    assert_eq!(
        first.forwarded_from,
        msg("m1", "a", "", None, 0).message.forwarded_from
    );
    // Same clientId from the same sender: the stored message, no new seq.
    match s
        .append(msg("m1", "alice", "hello again", Some("c-1"), now))
        .await
        .unwrap()
    {
        Appended::Duplicate(m) => assert_eq!((m.id, m.seq), (first.id.clone(), 1)),
        other => panic!("expected Duplicate, got {other:?}"),
    }
    let bobs = stored(
        s,
        msg("m1", "bob", "same cid, other sender", Some("c-1"), now),
    )
    .await;
    assert_eq!(bobs.seq, 2);

    // Concurrent appends get gap-free, unique seqs.
    let futs = (0..50).map(|i| s.append(msg("m1", "bob", &format!("{i}"), None, now)));
    let mut seqs: Vec<u64> = futures::future::join_all(futs)
        .await
        .into_iter()
        .map(|r| match r.unwrap() {
            Appended::Stored(m) => m.seq,
            other => panic!("{other:?}"),
        })
        .collect();
    seqs.sort();
    assert_eq!(seqs, (3..=52).collect::<Vec<_>>());
    assert_eq!(s.last_seq("m1").await.unwrap(), 52);
    assert_eq!(s.seq_of("m1", &first.id).await.unwrap(), Some(1));
    assert_eq!(s.seq_of("m1", "m_unknown").await.unwrap(), None);

    // Paging.
    let page = s.before("m1", None, 5).await.unwrap();
    assert_eq!(
        page.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![48, 49, 50, 51, 52]
    );
    assert!(page.has_more);
    let page = s.before("m1", Some(3), 5).await.unwrap();
    assert_eq!(
        page.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert!(!page.has_more);
    // What clients see is identical (created_ms is internal).
    let wire = |m: &Message| serde_json::to_value(m).unwrap();
    assert_eq!(wire(&page.messages[0]), wire(&first));
    let slice = s.after("m1", 50, 10).await.unwrap();
    assert_eq!(
        slice.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![51, 52]
    );
    assert!(slice.complete && !slice.has_more);
    let slice = s.after("m1", 0, 3).await.unwrap();
    assert!(slice.complete && slice.has_more);
    let empty = s.after("nothing-here", 0, 3).await.unwrap();
    assert!(empty.messages.is_empty() && empty.complete);

    // Cursors: the sender has read its message; cursors never move back.
    assert_eq!(s.read_cursor("m1", "alice").await.unwrap(), 1);
    assert!(s
        .advance_cursor("m1", "alice", Cursor::Read, 10)
        .await
        .unwrap());
    assert!(!s
        .advance_cursor("m1", "alice", Cursor::Read, 5)
        .await
        .unwrap());
    assert!(!s
        .advance_cursor("m1", "alice", Cursor::Read, 10)
        .await
        .unwrap());
    assert_eq!(s.read_cursor("m1", "alice").await.unwrap(), 10);
    assert!(s
        .advance_cursor("m1", "alice", Cursor::Delivered, 7)
        .await
        .unwrap());
    assert_eq!(
        s.read_cursor("m1", "alice").await.unwrap(),
        10,
        "delivered is separate"
    );

    // Trimming by count: complete = false once the cursor's next is gone.
    chats.create_chat(&chat("m2", &["alice"])).await.unwrap();
    for i in 0..8 {
        let mut n = msg(
            "m2",
            "alice",
            &format!("{i}"),
            Some(&format!("cid{i}")),
            now,
        );
        n.max_messages = 5;
        stored(s, n).await;
    }
    let slice = s.after("m2", 0, 100).await.unwrap();
    assert_eq!(
        slice.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![4, 5, 6, 7, 8]
    );
    assert!(!slice.complete);
    assert!(s.after("m2", 3, 100).await.unwrap().complete);
    assert_eq!(
        s.seq_of("m2", &slice.messages[0].id).await.unwrap(),
        Some(4)
    );
    let trimmed = s.before("m2", Some(2), 1).await.unwrap();
    assert!(trimmed.messages.is_empty());
    // A trimmed message's clientId no longer dedupes (it is forgotten).
    let mut again = msg("m2", "alice", "again", Some("cid0"), now);
    again.max_messages = 5;
    assert_eq!(stored(s, again).await.seq, 9);

    // Trimming by age.
    chats.create_chat(&chat("m3", &["alice"])).await.unwrap();
    for i in 0..3 {
        stored(
            s,
            msg("m3", "alice", &format!("old{i}"), None, now - 10_000),
        )
        .await;
    }
    let mut fresh = msg("m3", "alice", "fresh", None, now);
    fresh.min_created_ms = now - 5_000;
    stored(s, fresh).await;
    let slice = s.after("m3", 0, 100).await.unwrap();
    assert_eq!(
        slice
            .messages
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>(),
        vec!["fresh"]
    );
    assert!(!slice.complete);
}

fn sess(sock: &str, user: &str, node: &str) -> Session {
    Session {
        socket_id: sock.into(),
        user_id: user.into(),
        device_id: format!("dev-{sock}"),
        node_id: node.into(),
        since: "2026-01-01T00:00:00Z".into(),
    }
}

pub async fn cluster_suite(s: &dyn ClusterStore) {
    use std::time::Duration;
    let long = Duration::from_secs(600);
    s.ping().await.unwrap();
    s.add_session(&sess("s1", "alice", "n1")).await.unwrap();
    s.add_session(&sess("s2", "alice", "n2")).await.unwrap();
    s.add_session(&sess("s3", "{bob}*", "n1")).await.unwrap();
    assert_eq!(
        s.online(&ids(&["alice", "{bob}*", "carol"])).await.unwrap(),
        vec![true, true, false]
    );
    let mut list = s.sessions_of("alice").await.unwrap();
    list.sort_by(|a, b| a.socket_id.cmp(&b.socket_id));
    assert_eq!(
        list,
        vec![sess("s1", "alice", "n1"), sess("s2", "alice", "n2")]
    );
    assert_eq!(
        s.remove_session("alice", "s2", "n2", long).await.unwrap(),
        1
    );
    assert_eq!(
        s.remove_session("alice", "s2", "n2", long).await.unwrap(),
        1,
        "idempotent"
    );
    assert!(s.heartbeat("n1", long).await.unwrap(), "first beat");
    assert!(!s.heartbeat("n1", long).await.unwrap(), "renewal");
    s.heartbeat("n2", Duration::from_millis(300)).await.unwrap();
    let mut nodes = s.live_nodes().await.unwrap();
    nodes.sort();
    assert_eq!(nodes, ids(&["n1", "n2"]));
    // Nothing is dead yet: the reaper does nothing.
    assert!(s.reap_dead_nodes("me", long).await.unwrap().is_empty());
    // A clean shutdown of n1 drops its sessions.
    assert_eq!(s.remove_node("n1", long).await.unwrap(), 2);
    assert_eq!(
        s.online(&ids(&["alice", "{bob}*"])).await.unwrap(),
        vec![false, false]
    );
    assert_eq!(s.live_nodes().await.unwrap(), ids(&["n2"]));
    // n2 dies with a session: once its heartbeat expires, one reaper
    // removes the session; the node is gone from the registry.
    s.add_session(&sess("s4", "dave", "n2")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(s.live_nodes().await.unwrap().is_empty());
    assert_eq!(s.online(&ids(&["dave"])).await.unwrap(), vec![true]);
    assert_eq!(s.reap_dead_nodes("me", long).await.unwrap(), ids(&["n2"]));
    assert!(s.reap_dead_nodes("other", long).await.unwrap().is_empty());
    assert_eq!(s.online(&ids(&["dave"])).await.unwrap(), vec![false]);
    // A reaped node that comes back learns it from its heartbeat.
    assert!(s.heartbeat("n2", long).await.unwrap());
}

pub async fn presence_suite(c: &dyn ClusterStore, p: &dyn PresenceStore) {
    use crate::presence::{Shown, Status};
    use std::time::Duration;
    let (grace, lease) = (Duration::from_millis(300), Duration::from_secs(5));
    let u = "p{ü}*";
    // The cluster suite reaped a dead node's user: that one is due now.
    let reaped = p.settle_due(100, lease).await.unwrap();
    assert_eq!(reaped.len(), 1);
    assert_eq!(
        (reaped[0].user_id.as_str(), reaped[0].status),
        ("dave", Shown::Offline)
    );
    // Never seen: offline, no lastSeen.
    let never = p.presences(&ids(&[u])).await.unwrap();
    assert_eq!(never[0].status, Shown::Offline);
    assert_eq!(never[0].last_seen, None);
    // The first connection announces online, the second nothing.
    let on = c.add_session(&sess("a", u, "n1")).await.unwrap().unwrap();
    assert_eq!((on.status, on.user_id.as_str()), (Shown::Online, u));
    assert!(on.last_seen.is_some());
    assert_eq!(c.add_session(&sess("b", u, "n2")).await.unwrap(), None);
    // Status and custom status: announced when what others see changes.
    let (away, changed) = p
        .set_status(u, Status::Away, Some(Some("lunch".into())))
        .await
        .unwrap();
    assert!(changed);
    assert_eq!(away.status, Shown::Away);
    assert_eq!(away.custom_status.as_deref(), Some("lunch"));
    let (_, changed) = p.set_status(u, Status::Away, None).await.unwrap();
    assert!(!changed, "same status, custom kept");
    let (same, changed) = p
        .set_status(u, Status::Away, Some(Some("coffee".into())))
        .await
        .unwrap();
    assert!(changed, "custom status changed");
    assert_eq!(same.custom_status.as_deref(), Some("coffee"));
    // Invisible is offline to others, without its custom status.
    let (inv, changed) = p.set_status(u, Status::Invisible, None).await.unwrap();
    assert!(changed);
    assert_eq!((inv.status, inv.custom_status), (Shown::Offline, None));
    let (_, changed) = p
        .set_status(u, Status::Invisible, Some(Some("hidden".into())))
        .await
        .unwrap();
    assert!(!changed, "nothing visible changed");
    let (back, changed) = p.set_status(u, Status::Online, Some(None)).await.unwrap();
    assert!(changed);
    assert_eq!((back.status, back.custom_status), (Shown::Online, None));
    // One device leaves: still online; nothing is due.
    assert_eq!(c.remove_session(u, "a", "n1", grace).await.unwrap(), 1);
    tokio::time::sleep(grace + Duration::from_millis(100)).await;
    assert!(p.settle_due(100, lease).await.unwrap().is_empty());
    // The last leaves and comes back within the grace period: no change.
    assert_eq!(c.remove_session(u, "b", "n2", grace).await.unwrap(), 0);
    assert!(
        p.settle_due(100, lease).await.unwrap().is_empty(),
        "not due yet"
    );
    assert_eq!(
        p.presences(&ids(&[u])).await.unwrap()[0].status,
        Shown::Online
    );
    assert_eq!(c.add_session(&sess("c", u, "n1")).await.unwrap(), None);
    tokio::time::sleep(grace + Duration::from_millis(100)).await;
    assert!(
        p.settle_due(100, lease).await.unwrap().is_empty(),
        "reconnected"
    );
    // Gone for good: offline once, with lastSeen, whoever settles.
    assert_eq!(c.remove_session(u, "c", "n1", grace).await.unwrap(), 0);
    tokio::time::sleep(grace + Duration::from_millis(100)).await;
    let off = p.settle_due(100, lease).await.unwrap();
    assert_eq!(off.len(), 1);
    assert_eq!(
        (off[0].status, off[0].user_id.as_str()),
        (Shown::Offline, u)
    );
    assert!(off[0].last_seen.is_some());
    assert!(p.settle_due(100, lease).await.unwrap().is_empty(), "once");
    assert_eq!(p.presences(&ids(&[u])).await.unwrap()[0], off[0]);
    // An invisible user's connection announces nothing.
    p.set_status("ghost", Status::Invisible, None)
        .await
        .unwrap();
    assert_eq!(
        c.add_session(&sess("g", "ghost", "n1")).await.unwrap(),
        None
    );
    c.remove_session("ghost", "g", "n1", Duration::ZERO)
        .await
        .unwrap();
    // Many users due at once are settled in batches, each exactly once.
    let many: Vec<String> = (0..30).map(|i| format!("m{i}")).collect();
    for m in &many {
        c.add_session(&sess(&format!("s-{m}"), m, "n1"))
            .await
            .unwrap();
        c.remove_session(m, &format!("s-{m}"), "n1", Duration::ZERO)
            .await
            .unwrap();
    }
    let mut settled = Vec::new();
    loop {
        let batch = p.settle_due(7, lease).await.unwrap();
        if batch.is_empty() {
            break;
        }
        settled.extend(batch.into_iter().map(|p| p.user_id));
    }
    settled.sort();
    let mut want = many.clone();
    want.sort();
    assert_eq!(settled, want);
}

pub async fn call_suite(s: &dyn CallStore) {
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

pub async fn inbox_suite(s: &dyn crate::inbox::InboxStore) {
    use crate::inbox::Queued;
    let q = |i: i64| Queued {
        event: "e".into(),
        data: serde_json::json!(i),
    };
    assert!(s.take_inbox("u{1}").await.unwrap().is_empty());
    for i in 0..5 {
        s.push_inbox("u{1}", &q(i), 3, 60).await.unwrap();
    }
    assert_eq!(
        s.take_inbox("u{1}").await.unwrap(),
        vec![q(2), q(3), q(4)],
        "newest 3, in order"
    );
    assert!(s.take_inbox("u{1}").await.unwrap().is_empty(), "taken once");
    s.push_inbox("short", &q(1), 3, 1).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert!(s.take_inbox("short").await.unwrap().is_empty(), "expired");
}

pub async fn webhook_suite(s: &dyn crate::webhooks::WebhookQueue) {
    use crate::webhooks::{Delivery, Depths};
    use std::time::Duration;
    let d = |id: &str| Delivery {
        id: id.into(),
        correlation_id: format!("corr-{id}"),
        event: "message:new".into(),
        chat_id: Some("c".into()),
        bot_id: Some("bot".into()),
        sender_id: Some("u".into()),
        data: serde_json::json!({"x": id}),
        attempt: 0,
        created_ms: 1,
        cache_key: None,
        refresh: false,
    };
    let lease = Duration::from_millis(300);
    s.enqueue(&d("a")).await.unwrap();
    s.enqueue(&d("b")).await.unwrap();
    assert_eq!(
        s.depths().await.unwrap(),
        Depths {
            ready: 2,
            in_flight: 0,
            dead: 0
        }
    );
    let got = s.claim(1, lease).await.unwrap();
    assert_eq!(got.len(), 1);
    let rest = s.claim(10, lease).await.unwrap();
    assert_eq!(rest.len(), 1, "each delivery claimed once");
    assert_ne!(got[0].id, rest[0].id);
    assert!(s.claim(10, lease).await.unwrap().is_empty());
    s.ack(&got[0].id).await.unwrap();
    // The other one's claimer "dies": after the lease it is claimed again.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let again = s.claim(10, lease).await.unwrap();
    assert_eq!(again, rest, "taken over unchanged");
    // Retry later, with the attempt count kept.
    let mut r = again[0].clone();
    r.attempt = 1;
    s.retry(&r, Duration::from_millis(200)).await.unwrap();
    assert!(s.claim(10, lease).await.unwrap().is_empty(), "not due yet");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let due = s.claim(10, lease).await.unwrap();
    assert_eq!(due[0].attempt, 1);
    s.dead_letter(&due[0], "HTTP 500", 2).await.unwrap();
    assert_eq!(
        s.depths().await.unwrap(),
        Depths {
            ready: 0,
            in_flight: 0,
            dead: 1
        }
    );
    let dead = s.dead_letters(10).await.unwrap();
    assert_eq!(dead[0]["error"], "HTTP 500");
    assert_eq!(
        dead[0]["delivery"]["correlationId"],
        r.correlation_id.as_str()
    );
    // Correlation ids: recalled, answered once.
    let long = Duration::from_secs(60);
    s.remember(&d("c"), long).await.unwrap();
    assert_eq!(s.recall("corr-c").await.unwrap(), Some(d("c")));
    assert_eq!(s.recall("corr-none").await.unwrap(), None);
    assert!(s.mark_answered("corr-c", long).await.unwrap());
    assert!(!s.mark_answered("corr-c", long).await.unwrap());
}

pub async fn cache_suite(s: &dyn crate::cache::ReplyCacheStore) {
    use crate::cache::{Counter, Freshness, Waiter};
    use std::time::Duration;
    let (ttl, stale) = (Duration::from_millis(300), Duration::from_millis(300));
    let k = "bot:g:-:/menu {x}";
    assert_eq!(s.cache_get(k).await.unwrap(), None);
    // Single flight: one leader, the others wait, the leader's end hands
    // them over in order.
    assert!(s.cache_lead(k, Duration::from_secs(5)).await.unwrap());
    assert!(!s.cache_lead(k, Duration::from_secs(5)).await.unwrap());
    let w = |i: &str| Waiter {
        chat_id: format!("chat{i}"),
        bot_id: "bot".into(),
        request_id: i.into(),
    };
    assert!(s.cache_wait(k, &w("1")).await.unwrap());
    assert!(s.cache_wait(k, &w("2")).await.unwrap());
    s.cache_put(k, "[1]", ttl, stale).await.unwrap();
    assert_eq!(s.cache_finish(k).await.unwrap(), vec![w("1"), w("2")]);
    assert!(!s.cache_wait(k, &w("3")).await.unwrap(), "nobody leads now");
    assert!(s.cache_finish(k).await.unwrap().is_empty());
    // Fresh, then stale, then gone.
    assert_eq!(
        s.cache_get(k).await.unwrap(),
        Some(("[1]".into(), Freshness::Fresh))
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        s.cache_get(k).await.unwrap(),
        Some(("[1]".into(), Freshness::Stale))
    );
    assert!(s
        .cache_refresh_lock(k, Duration::from_secs(5))
        .await
        .unwrap());
    assert!(
        !s.cache_refresh_lock(k, Duration::from_secs(5))
            .await
            .unwrap(),
        "once"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(s.cache_get(k).await.unwrap(), None);
    // Stats and invalidation by key and by prefix.
    for c in [Counter::Hit, Counter::Hit, Counter::Miss, Counter::Stale] {
        s.cache_count(c).await.unwrap();
    }
    let long = Duration::from_secs(60);
    for key in ["b1:g:-:a", "b1:g:-:b", "b2:g:-:a"] {
        s.cache_put(key, "[]", long, long).await.unwrap();
    }
    let st = s.cache_stats().await.unwrap();
    assert_eq!((st.hits, st.misses, st.stale, st.entries), (2, 1, 1, 3));
    assert_eq!(s.cache_invalidate(Some("b2:g:-:a"), None).await.unwrap(), 1);
    assert_eq!(s.cache_invalidate(None, Some("b1:")).await.unwrap(), 2);
    assert_eq!(s.cache_get("b1:g:-:a").await.unwrap(), None);
    assert_eq!(s.cache_stats().await.unwrap().entries, 0);
}

pub async fn reaction_suite(s: &dyn ReactionStore) {
    let c = s
        .add_reaction("r1", "m1", "👍", "alice", 3, 60)
        .await
        .unwrap();
    assert!(c.changed && !c.full);
    let again = s
        .add_reaction("r1", "m1", "👍", "alice", 3, 60)
        .await
        .unwrap();
    assert!(!again.changed, "one user counts once per emoji");
    s.add_reaction("r1", "m1", "👍", "bob", 3, 60)
        .await
        .unwrap();
    let c = s
        .add_reaction("r1", "m1", "🇿🇦", "{odd}\nuser", 3, 60)
        .await
        .unwrap();
    assert_eq!(
        c.reactions["👍"],
        ids(&["alice", "bob"]),
        "in the order added"
    );
    assert_eq!(c.reactions["🇿🇦"], ids(&["{odd}\nuser"]));
    let full = s
        .add_reaction("r1", "m1", "🎉", "carol", 3, 60)
        .await
        .unwrap();
    assert!(full.full && !full.changed);
    assert!(!full.reactions.contains_key("🎉"));
    let c = s.remove_reaction("r1", "m1", "👍", "alice").await.unwrap();
    assert!(c.changed);
    assert_eq!(c.reactions["👍"], ids(&["bob"]));
    assert!(
        !s.remove_reaction("r1", "m1", "👍", "alice")
            .await
            .unwrap()
            .changed
    );
    assert_eq!(s.reactions("r1", "m1").await.unwrap(), c.reactions);
    assert!(s.reactions("r1", "other").await.unwrap().is_empty());
}

pub async fn notification_suite(s: &dyn NotificationStore) {
    let now = crate::time::now_ms();
    let n = |id: &str, ms: i64| Notification {
        id: id.into(),
        kind: NotificationKind::Mention,
        title: Some("t".into()),
        body: None,
        data: Some(serde_json::json!({"list": [], "empty": {}})),
        priority: Default::default(),
        sound: None,
        badge: Some(3),
        read: false,
        created_at: crate::time::rfc3339_from_ms(ms),
        created_ms: ms,
    };
    for i in 0..4 {
        s.push("u1", &n(&format!("n{i}"), now + i), 3, 60)
            .await
            .unwrap();
    }
    let list = s.list("u1", 10, 60).await.unwrap();
    let ids: Vec<&str> = list.iter().map(|x| x.id.as_str()).collect();
    assert_eq!(ids, vec!["n3", "n2", "n1"], "newest first, bounded to 3");
    assert_eq!(list[0].data, n("x", 0).data, "data round-trips");
    assert!(s.mark_read("u1", "n2").await.unwrap());
    assert!(
        !s.mark_read("u1", "n0").await.unwrap(),
        "dropped by the bound"
    );
    assert!(!s.mark_read("u2", "n2").await.unwrap(), "another user's id");
    assert!(!s.clear("u2", "n2").await.unwrap());
    let list = s.list("u1", 2, 60).await.unwrap();
    assert_eq!((list.len(), list[1].read, list[0].read), (2, true, false));
    assert!(s.clear("u1", "n3").await.unwrap());
    assert!(!s.clear("u1", "n3").await.unwrap());
    // Older than the TTL: forgotten.
    s.push("u1", &n("old", now - 120_000), 10, 60)
        .await
        .unwrap();
    let ids: Vec<String> = s
        .list("u1", 10, 60)
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.id)
        .collect();
    assert_eq!(ids, vec!["n2", "n1"]);
    assert_eq!(s.clear_all("u1").await.unwrap(), 2);
    assert!(s.list("u1", 10, 60).await.unwrap().is_empty());
}

async fn run_all(stores: Stores) {
    chat_suite(stores.chats.as_ref()).await;
    message_suite(stores.chats.as_ref(), stores.messages.as_ref()).await;
    cluster_suite(stores.cluster.as_ref()).await;
    presence_suite(stores.cluster.as_ref(), stores.presence.as_ref()).await;
    reaction_suite(stores.reactions.as_ref()).await;
    call_suite(stores.calls.as_ref()).await;
    inbox_suite(stores.inbox.as_ref()).await;
    webhook_suite(stores.webhooks.as_ref()).await;
    cache_suite(stores.cache.as_ref()).await;
    notification_suite(stores.notifications.as_ref()).await;
}

#[tokio::test]
async fn memory_backend_passes_every_suite() {
    run_all(Stores::memory()).await;
}

#[tokio::test]
async fn redis_backend_passes_every_suite() {
    let server = RedisServer::shared();
    let client = crate::store::redis::connect(&server.url(), std::time::Duration::from_secs(2))
        .await
        .unwrap();
    let prefix = format!("suite-{}:", uuid::Uuid::new_v4().simple());
    run_all(Stores::redis(client, prefix)).await;
}

#[allow(dead_code)]
fn _object_safe(_: Arc<dyn ChatStore>, _: Arc<dyn MessageStore>, _: Arc<dyn ClusterStore>) {}
