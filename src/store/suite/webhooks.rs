//! The `webhook` behaviour suite, run on memory and on Redis.

pub(super) async fn webhook_suite(s: &dyn crate::webhooks::queue::WebhookQueue) {
    use crate::webhooks::queue::{Delivery, Depths};
    use std::time::Duration;
    let d = |id: &str| Delivery {
        session: None,
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
        traceparent: None,
    };
    let lease = Duration::from_millis(300);
    assert!(s.enqueue(&d("a"), 0).await.unwrap());
    assert!(s.enqueue(&d("b"), 2).await.unwrap());
    // The bound: two already wait, so a third is not queued.
    assert!(!s.enqueue(&d("x"), 2).await.unwrap(), "shed");
    tokio::time::sleep(Duration::from_millis(30)).await;
    let depths = s.depths().await.unwrap();
    assert_eq!(
        (depths.ready, depths.in_flight, depths.dead),
        (2, 0, 0),
        "{depths:?}"
    );
    // The oldest has been due since it was queued (the clocks are
    // milliseconds apart at most).
    assert!(depths.oldest_wait_ms >= 20, "{depths:?}");
    let got = s.claim(1, lease).await.unwrap();
    assert_eq!(got.len(), 1);
    let rest = s.claim(10, lease).await.unwrap();
    assert_eq!(rest.len(), 1, "each delivery claimed once");
    // Deliveries in flight count toward the bound too.
    assert!(
        !s.enqueue(&d("x"), 2).await.unwrap(),
        "shed while in flight"
    );
    assert_eq!(s.depths().await.unwrap().oldest_wait_ms, 0, "none waits");
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
            dead: 1,
            oldest_wait_ms: 0,
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
    assert!(!s.is_answered("corr-c").await.unwrap());
    assert!(s.mark_answered("corr-c", long).await.unwrap());
    assert!(!s.mark_answered("corr-c", long).await.unwrap());
    assert!(s.is_answered("corr-c").await.unwrap());
    assert_eq!(
        s.recall("corr-c").await.unwrap(),
        None,
        "an answered id keeps only its mark"
    );
    // Both records expire with the reply window.
    let window = Duration::from_millis(200);
    s.remember(&d("e"), window).await.unwrap();
    s.remember(&d("f"), window).await.unwrap();
    assert!(s.mark_answered("corr-f", window).await.unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.recall("corr-e").await.unwrap(), None, "expired");
    assert!(!s.is_answered("corr-f").await.unwrap(), "the mark expired");

    // A delivery its correlation id names is found without a record while
    // it is queued or in flight, and not once it was acked.
    let named = Delivery::new("message:new", Some("chat".into()), serde_json::json!({}));
    assert!(named.named_by_correlation());
    let corr = named.correlation_id.clone();
    assert_eq!(s.recall(&corr).await.unwrap(), None, "not queued yet");
    assert!(s.enqueue(&named, 0).await.unwrap());
    assert_eq!(
        s.recall(&corr).await.unwrap().map(|d| d.id),
        Some(named.id.clone()),
        "queued"
    );
    let claimed = s.claim(10, Duration::from_secs(30)).await.unwrap();
    assert!(claimed.iter().any(|d| d.id == named.id));
    assert!(s.recall(&corr).await.unwrap().is_some(), "in flight");
    s.ack(&named.id).await.unwrap();
    assert_eq!(
        s.recall(&corr).await.unwrap(),
        None,
        "acked, never remembered"
    );
    // The prefix with an id that is in no queue names nothing.
    assert_eq!(
        s.recall(&format!("corr_{}", d("g").id)).await.unwrap(),
        None
    );
}
