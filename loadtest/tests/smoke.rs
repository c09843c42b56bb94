//! One short run of every scenario against a real node (in-memory store):
//! it checks what was received, never how fast.

use std::time::Duration;

use switchboard_loadtest::client::Target;
use switchboard_loadtest::scenarios;

const SECRET: &str = "loadtest-smoke-secret-0123456789abcdef";

async fn node() -> Target {
    let mut c = switchboard::config::Config::defaults();
    c.server.host = [127, 0, 0, 1].into();
    c.server.port = 0;
    c.auth.secret = Some(SECRET.into());
    // The load generator is one client IP sending in bulk: no rate limits.
    c.limits = Default::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = switchboard::server::spawn(listener, c);
    running.wait_built().await;
    let url = format!("http://{}", running.addr);
    std::mem::forget(running);
    Target {
        urls: vec![url],
        sources: vec!["127.0.0.1".parse().unwrap()],
        secret: SECRET.into(),
        run_id: format!("{}", std::process::id()),
    }
}

#[tokio::test]
async fn connect_and_idle_hold_every_connection() {
    let t = node().await;
    let r = scenarios::connect(&t, 20, 500.0, false).await;
    assert_eq!((r.connections, r.connect_errors), (20, 0));
    assert_eq!(r.handshake.count, 20);
    let r = scenarios::idle(&t, 10, 500.0, Duration::from_millis(300), false).await;
    assert_eq!((r.connections, r.connect_errors, r.disconnects), (10, 0, 0));
}

#[tokio::test]
async fn fanout_delivers_every_message_to_every_member() {
    let t = node().await;
    let r = scenarios::fanout(&t, 2, 5, 40.0, Duration::from_millis(500), 500.0, false).await;
    assert_eq!(r.connect_errors, 0, "{r:?}");
    assert!(r.sent >= 10, "{r:?}");
    assert_eq!(r.acked, r.sent);
    assert_eq!(r.expected_deliveries, r.sent * 4);
    assert_eq!(r.delivered, r.expected_deliveries);
    assert_eq!(r.delivery_latency.count, r.delivered);
    assert_eq!(r.errors(), 0);
}

#[tokio::test]
async fn fanout_sets_up_chats_larger_than_one_request() {
    let t = node().await;
    let r = scenarios::fanout(&t, 1, 150, 10.0, Duration::from_millis(300), 1000.0, false).await;
    assert_eq!(r.connect_errors, 0, "{r:?}");
    assert!(r.sent >= 2, "{r:?}");
    assert_eq!(r.delivered, r.sent * 149);
}

#[tokio::test]
async fn direct_pairs_ack_and_deliver() {
    let t = node().await;
    let r = scenarios::direct(&t, 3, 60.0, Duration::from_millis(500), 500.0, false).await;
    assert!(r.sent >= 20, "{r:?}");
    assert_eq!((r.acked, r.ack_errors), (r.sent, 0));
    assert_eq!(r.delivered, r.sent);
    assert_eq!(r.errors(), 0);
}

#[tokio::test]
async fn churn_cycles_without_errors() {
    let t = node().await;
    let r = scenarios::churn(&t, 3, Duration::from_millis(400)).await;
    assert!(r.cycles >= 3, "{r:?}");
    assert_eq!(r.connect_errors, 0);
}

#[tokio::test]
async fn a_wrong_secret_counts_as_connect_errors() {
    let mut t = node().await;
    t.secret = "wrong".into();
    let r = scenarios::connect(&t, 3, 100.0, false).await;
    assert_eq!((r.connections, r.connect_errors), (0, 3));
    assert!(r.error_rate() > 0.5);
}
