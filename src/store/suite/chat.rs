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
