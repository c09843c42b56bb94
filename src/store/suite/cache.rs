//! The `cache` behaviour suite, run on memory and on Redis.

pub(super) async fn cache_suite(s: &dyn crate::webhooks::cache::ReplyCacheStore) {
    use crate::webhooks::cache::{Counter, Freshness, Waiter};
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
    assert_eq!(s.cache_put(k, "[1]", ttl, stale, 1000).await.unwrap(), 0);
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
        s.cache_put(key, "[]", long, long, 1000).await.unwrap();
    }
    let st = s.cache_stats().await.unwrap();
    assert_eq!((st.hits, st.misses, st.stale, st.entries), (2, 1, 1, 3));
    assert_eq!(s.cache_invalidate(Some("b2:g:-:a"), None).await.unwrap(), 1);
    assert_eq!(s.cache_invalidate(None, Some("b1:")).await.unwrap(), 2);
    assert_eq!(s.cache_get("b1:g:-:a").await.unwrap(), None);
    assert_eq!(s.cache_stats().await.unwrap().entries, 0);
    // The bound: storing past `max` evicts the least recently used; a
    // read counts as a use.
    for key in ["lru:1", "lru:2", "lru:3"] {
        assert_eq!(s.cache_put(key, "[]", long, long, 3).await.unwrap(), 0);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(s.cache_get("lru:1").await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(s.cache_put("lru:4", "[]", long, long, 3).await.unwrap(), 1);
    assert!(
        s.cache_get("lru:2").await.unwrap().is_none(),
        "the least recently used went"
    );
    for key in ["lru:1", "lru:3", "lru:4"] {
        assert!(s.cache_get(key).await.unwrap().is_some(), "{key} stays");
    }
    assert_eq!(s.cache_stats().await.unwrap().entries, 3);
    assert_eq!(s.cache_invalidate(None, Some("lru:")).await.unwrap(), 3);
}
