//! The `reaction` behaviour suite, run on memory and on Redis.

use crate::reactions::ReactionStore;

use super::ids;

pub(super) async fn reaction_suite(s: &dyn ReactionStore) {
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
