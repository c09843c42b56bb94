//! The `message` behaviour suite, run on memory and on Redis.

use crate::chat::ChatStore;
use crate::messages::{Appended, Cursor, Message, MessageStore};

use super::{chat, msg, stored};

pub(super) async fn message_suite(chats: &dyn ChatStore, s: &dyn MessageStore) {
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

    let first = match s
        .append(msg("m1", "alice", "hello", Some("c-1"), now))
        .await
        .unwrap()
    {
        // A chat without bots: nothing more to read for the listeners.
        Appended::Stored(m, context) => {
            assert_eq!(context, Some(Default::default()), "no bots");
            m
        }
        other => panic!("expected Stored, got {other:?}"),
    };
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
            Appended::Stored(m, _) => m.seq,
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

    // A clientId reused after its record expired names the new message:
    // trimming the old one does not forget the new one's record.
    chats.create_chat(&chat("m4", &["alice"])).await.unwrap();
    let mut old = msg("m4", "alice", "old", Some("reused"), now);
    (old.client_id_ttl_secs, old.max_messages) = (0, 2);
    assert_eq!(stored(s, old).await.seq, 1);
    let mut new = msg("m4", "alice", "new", Some("reused"), now);
    new.max_messages = 2;
    let new = stored(s, new).await;
    assert_eq!(new.seq, 2, "the expired record does not dedupe");
    let mut filler = msg("m4", "alice", "filler", None, now);
    filler.max_messages = 2;
    assert_eq!(stored(s, filler).await.seq, 3);
    let mut retry = msg("m4", "alice", "new, retried", Some("reused"), now);
    retry.max_messages = 2;
    match s.append(retry).await.unwrap() {
        Appended::Duplicate(m) => assert_eq!((m.id, m.seq), (new.id, 2)),
        other => panic!("expected the second message back, got {other:?}"),
    }

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
