//! One short run of every scenario against a real node (in-memory store):
//! it checks what was received, never how fast.

use std::time::Duration;

use switchboard_loadtest::bot::{bot, Backend, BotRun};
use switchboard_loadtest::client::Target;
use switchboard_loadtest::scenarios;

const SECRET: &str = "loadtest-smoke-secret-0123456789abcdef";

async fn node() -> Target {
    node_with(|_| {}).await
}

async fn node_with(f: impl FnOnce(&mut switchboard::config::Config)) -> Target {
    let mut c = switchboard::config::Config::defaults();
    c.server.host = [127, 0, 0, 1].into();
    c.server.port = 0;
    c.auth.secret = Some(SECRET.into());
    // The load generator is one client IP sending in bulk: no rate limits.
    c.limits = Default::default();
    f(&mut c);
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

const HOOK_SECRET: &str = "loadtest-hook-secret-0123456789";

/// A node whose webhooks go to the scenario's backend on `listen`.
async fn bot_node(listen: std::net::SocketAddr) -> Target {
    node_with(|c| {
        c.webhooks.url = Some(format!("http://{listen}/hook"));
        c.webhooks.secret = Some(HOOK_SECRET.into());
        c.webhooks.backoff = Duration::from_millis(50);
        c.api.api_key = Some("lt-api-key-0123456789".into());
        c.api.admin_key = Some("lt-admin-key-0123456789".into());
    })
    .await
}

fn bot_run(listen: std::net::SocketAddr, error_rate: f64) -> BotRun {
    BotRun {
        users: 5,
        rate: 50.0,
        duration: Duration::from_millis(600),
        api_key: "lt-api-key-0123456789".into(),
        admin_key: Some("lt-admin-key-0123456789".into()),
        bot_id: "lt-bot".into(),
        backend: Backend {
            listen,
            secret: HOOK_SECRET.into(),
            delay: Duration::ZERO,
            error_rate,
        },
        connect_rate: 500.0,
        progress: false,
    }
}

fn free_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Every message comes back as one bot reply, every delivery signed and
/// sent once.
#[tokio::test]
async fn bot_round_trips_come_back_once_each() {
    let listen = free_addr();
    let t = bot_node(listen).await;
    let r = bot(&t, bot_run(listen, 0.0)).await;
    assert_eq!(r.connect_errors, 0, "{r:?}");
    assert!(r.sent >= 20, "{r:?}");
    assert_eq!((r.acked, r.ack_errors), (r.sent, 0), "{r:?}");
    assert_eq!(r.backend_received, r.sent, "{r:?}");
    assert_eq!((r.bad_signatures, r.duplicates), (0, 0));
    assert_eq!(r.delivered, r.sent, "{r:?}");
    assert_eq!(r.delivery_latency.count, r.sent);
    assert_eq!(r.errors(), 0);
}

/// A backend that refuses some requests gets them again (retries), and
/// every reply still arrives once.
#[tokio::test]
async fn bot_refusals_are_retried() {
    let listen = free_addr();
    let t = bot_node(listen).await;
    let r = bot(&t, bot_run(listen, 0.25)).await;
    assert!(r.backend_refused > 0, "{r:?}");
    assert_eq!(r.backend_received, r.sent + r.backend_refused, "{r:?}");
    assert_eq!(r.delivered, r.sent, "{r:?}");
    assert_eq!(r.errors(), 0);
}

/// A backend with the wrong secret refuses everything as bad signatures.
#[tokio::test]
async fn bot_bad_signatures_are_errors() {
    let listen = free_addr();
    let t = bot_node(listen).await;
    let mut run = bot_run(listen, 0.0);
    run.backend.secret = "not-the-nodes-secret-0123".into();
    let r = bot(&t, run).await;
    assert!(r.bad_signatures >= r.sent, "{r:?}");
    assert_eq!(r.delivered, 0);
    assert!(r.error_rate() > 0.1);
}
