//! A chat written by the Redis layout before the chat index (clientIds in a
//! `cids` hash, creation times in an `ms` hash) keeps its history, its
//! receipts and its clientIds after the upgrade, and trims as before.

use super::{chat, msg, redis_config, stored};
use crate::messages::{Appended, MessageStore};
use crate::store::Stores;
use crate::testing::{redis_cli, RedisServer};

#[tokio::test]
async fn a_chat_of_the_previous_layout_is_folded_into_the_index() {
    let server = RedisServer::shared();
    let cfg = redis_config(&server.url(), 0);
    let stores = Stores::from_redis(crate::store::redis::open(&cfg).await.unwrap());
    let s = stores.messages.as_ref();
    stores
        .chats
        .create_chat(&chat("old", &["alice", "bob"]))
        .await
        .unwrap();
    let now = crate::time::now_ms();

    // What the previous append script left: two messages, the first one
    // old and sent with a clientId.
    let tag = format!("{}{{c:old}}", cfg.prefix);
    let mut old = Vec::new();
    for (seq, (content, cid, at)) in [("first", Some("c-1"), now - 10_000), ("second", None, now)]
        .into_iter()
        .enumerate()
    {
        let mut m = msg("old", "alice", content, cid, at).message;
        m.seq = seq as u64 + 1;
        let json = serde_json::to_string(&m).unwrap();
        let seq = m.seq.to_string();
        redis_cli(
            server.port(),
            &["ZADD", &format!("{tag}:hist"), &seq, &json],
        );
        redis_cli(server.port(), &["HSET", &format!("{tag}:ids"), &m.id, &seq]);
        redis_cli(
            server.port(),
            &["HSET", &format!("{tag}:ms"), &seq, &at.to_string()],
        );
        old.push(m);
    }
    redis_cli(server.port(), &["SET", &format!("{tag}:seq"), "2"]);
    let cid = format!("{}|{}", old[0].id, now + 60_000);
    redis_cli(
        server.port(),
        &["HSET", &format!("{tag}:cids"), "alice\nc-1", &cid],
    );

    // A retry of the old clientId finds the stored message.
    match s
        .append(msg("old", "alice", "retry", Some("c-1"), now))
        .await
        .unwrap()
    {
        Appended::Duplicate(m) => assert_eq!((m.id.as_str(), m.seq), (old[0].id.as_str(), 1)),
        other => panic!("expected the old message back, got {other:?}"),
    }
    let exists = |key: &str| redis_cli(server.port(), &["EXISTS", &format!("{tag}:{key}")]);
    assert_eq!(
        exists("cids").trim(),
        "0",
        "the old clientIds are folded in"
    );
    assert_eq!(
        exists("ms").trim(),
        "0",
        "the old creation times are folded in"
    );
    assert_eq!(s.seq_of("old", &old[1].id).await.unwrap(), Some(2));

    // Trimming by age reads the folded creation times: the 10 s old first
    // message goes, with its id and its clientId; the second stays.
    let mut fresh = msg("old", "bob", "third", None, now);
    fresh.min_created_ms = now - 5_000;
    assert_eq!(stored(s, fresh).await.seq, 3);
    let slice = s.after("old", 0, 10).await.unwrap();
    let seqs: Vec<u64> = slice.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![2, 3]);
    assert_eq!(slice.messages[0].content, "second");
    assert_eq!(s.seq_of("old", &old[0].id).await.unwrap(), None);
    let again = stored(s, msg("old", "alice", "c-1 again", Some("c-1"), now)).await;
    assert_eq!(again.seq, 4, "a trimmed message's clientId is forgotten");
}

/// Appends renew the TTL of the history at most once per eighth of its
/// max age, and never let it fall below the max age.
#[tokio::test]
async fn the_history_ttl_is_set_when_written_not_on_every_append() {
    let server = RedisServer::shared();
    let cfg = redis_config(&server.url(), 0);
    let stores = Stores::from_redis(crate::store::redis::open(&cfg).await.unwrap());
    stores
        .chats
        .create_chat(&chat("ttl", &["alice"]))
        .await
        .unwrap();
    let now = crate::time::now_ms();
    let day = 86_400_000;
    let append = |at: i64| {
        let mut n = msg("ttl", "alice", "x", None, at);
        n.min_created_ms = at - day;
        let s: &dyn MessageStore = stores.messages.as_ref();
        async move { stored(s, n).await }
    };
    append(now).await;
    let tag = format!("{}{{c:ttl}}", cfg.prefix);
    let ttl = |key: &str| -> i64 {
        redis_cli(server.port(), &["TTL", &format!("{tag}:{key}")])
            .trim()
            .parse()
            .unwrap()
    };
    // One day of history: a TTL of a day and an eighth.
    assert!((86_400..=97_201).contains(&ttl("hist")), "{}", ttl("hist"));
    assert!((86_400..=97_201).contains(&ttl("ids")), "{}", ttl("ids"));
    redis_cli(server.port(), &["EXPIRE", &format!("{tag}:hist"), "90000"]);
    append(now + 1_000).await;
    assert!(
        ttl("hist") <= 90_000,
        "not renewed within an eighth of a day"
    );
}
