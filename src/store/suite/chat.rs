//! The `chat` behaviour suite, run on memory and on Redis.

use crate::chat::ChatStore;

use super::{chat, ids};

pub(super) async fn chat_suite(s: &dyn ChatStore) {
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

/// Bot sessions (§13): metadata and topic round-trip, completion happens
/// once and stops appends, a replace keeps the completion, and the per-user
/// record of the newest session.
pub(super) async fn bot_session_suite(s: &dyn ChatStore, m: &dyn crate::messages::MessageStore) {
    use crate::messages::Appended;
    let mut c = chat("bs1", &["alice", "bot"]);
    c.kind = crate::chat::ChatKind::Bot;
    c.bots = ids(&["bot"]);
    c.topic = Some("nda".into());
    c.metadata = Some(serde_json::json!({ "page": "/", "n": 1 }));
    assert!(s.create_chat(&c).await.unwrap());
    assert_eq!(s.get_chat("bs1").await.unwrap().unwrap(), c, "round trip");

    let now = crate::time::now_ms();
    let new = |content: &str| super::msg("bs1", "alice", content, None, now);
    // The append tells the after-store listeners what they need of the
    // chat (no second lookup): its bots, kind, topic and metadata.
    match m.append(new("before")).await.unwrap() {
        Appended::Stored(_, context) => assert_eq!(
            context,
            Some(crate::messages::ChatContext {
                bots: ids(&["bot"]),
                kind: Some(crate::chat::ChatKind::Bot),
                topic: Some("nda".into()),
                metadata: c.metadata.clone(),
            })
        ),
        other => panic!("expected Stored, got {other:?}"),
    }
    let result = serde_json::json!({ "document": "x.pdf" });
    let (done, first) = s
        .complete_chat("bs1", "2026-01-02T00:00:00.000Z", Some(&result))
        .await
        .unwrap()
        .unwrap();
    assert!(first);
    assert_eq!(
        done.completed_at.as_deref(),
        Some("2026-01-02T00:00:00.000Z")
    );
    assert_eq!(done.result, Some(result.clone()));
    let (again, first) = s
        .complete_chat("bs1", "2027-01-01T00:00:00.000Z", None)
        .await
        .unwrap()
        .unwrap();
    assert!(!first, "completed once");
    assert_eq!(again, done, "a repeat changes nothing");
    assert!(s.complete_chat("nope", "t", None).await.unwrap().is_none());
    assert!(matches!(
        m.append(new("after")).await.unwrap(),
        Appended::Completed
    ));

    // A replace that does not name the completion keeps it.
    let mut replaced = c.clone();
    replaced.members.push("agent".into());
    replaced.topic = None;
    s.put_chat(&replaced).await.unwrap();
    replaced.completed_at = done.completed_at.clone();
    replaced.result = done.result.clone();
    assert_eq!(s.get_chat("bs1").await.unwrap().unwrap(), replaced);
    // Only bot sessions complete.
    s.create_chat(&chat("bs-group", &["alice"])).await.unwrap();
    assert!(s
        .complete_chat("bs-group", "t", None)
        .await
        .unwrap()
        .is_none());
    assert!(s
        .get_chat("bs-group")
        .await
        .unwrap()
        .unwrap()
        .completed_at
        .is_none());

    assert_eq!(s.bot_session("alice", "bot\nnda").await.unwrap(), None);
    s.set_bot_session("alice", "bot\nnda", "bs1").await.unwrap();
    s.set_bot_session("alice", "bot\nnda", "bs2").await.unwrap();
    s.set_bot_session("alice", "bot\n", "bs3").await.unwrap();
    assert_eq!(
        s.bot_session("alice", "bot\nnda").await.unwrap().as_deref(),
        Some("bs2")
    );
    assert_eq!(
        s.bot_session("alice", "bot\n").await.unwrap().as_deref(),
        Some("bs3")
    );
    assert_eq!(s.bot_session("bob", "bot\nnda").await.unwrap(), None);
}
