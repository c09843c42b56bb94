//! The rate-limit behaviour suite, run on memory and on Redis: the same
//! GCRA on both (a burst of `count`, then one request per `period/count`;
//! a refused request costs nothing; keys are independent).

use std::time::Duration;

use crate::rate_limit::RateLimitStore;

pub(super) async fn rate_limit_suite(s: &dyn RateLimitStore) {
    let key = format!("suite:{}", uuid::Uuid::new_v4().simple());
    let other = format!("{key}:other");
    let minute = Duration::from_secs(60);
    for i in 0..3 {
        assert_eq!(
            s.hit(&key, 3, minute).await.unwrap(),
            None,
            "hit {i} of the burst"
        );
    }
    let wait = s
        .hit(&key, 3, minute)
        .await
        .unwrap()
        .expect("the 4th hit is refused");
    // One request per 20 s after the burst: the wait is at most that.
    assert!(
        wait > Duration::from_secs(19) && wait <= Duration::from_secs(20),
        "{wait:?}"
    );
    // A refused hit is not counted: the wait does not grow.
    let again = s
        .hit(&key, 3, minute)
        .await
        .unwrap()
        .expect("still refused");
    assert!(again <= wait, "{again:?} > {wait:?}");
    // Another key has its own budget.
    assert_eq!(s.hit(&other, 3, minute).await.unwrap(), None);

    // The budget comes back at the emission interval: 10 per second is one
    // per 100 ms after the burst.
    let fast = format!("{key}:fast");
    let second = Duration::from_secs(1);
    for _ in 0..10 {
        assert_eq!(s.hit(&fast, 10, second).await.unwrap(), None);
    }
    let wait = s
        .hit(&fast, 10, second)
        .await
        .unwrap()
        .expect("the 11th is refused");
    assert!(wait <= Duration::from_millis(100), "{wait:?}");
    tokio::time::sleep(wait + Duration::from_millis(30)).await;
    assert_eq!(
        s.hit(&fast, 10, second).await.unwrap(),
        None,
        "allowed again"
    );
    assert!(
        s.hit(&fast, 10, second).await.unwrap().is_some(),
        "one only"
    );
}
