//! The `notification` behaviour suite, run on memory and on Redis.

use crate::notifications::{Kind as NotificationKind, Notification, NotificationStore};

pub(super) async fn notification_suite(s: &dyn NotificationStore) {
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
