//! The `inbox` behaviour suite, run on memory and on Redis.

pub(super) async fn inbox_suite(s: &dyn crate::inbox::InboxStore) {
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
