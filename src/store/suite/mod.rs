//! Behaviour suites: one per storage trait, run against the memory backend
//! and against Redis (a real redis-server) on every test run.

mod cache;
mod calls;
mod chat;
mod cluster;
mod inbox;
mod messages;
mod notifications;
mod presence;
mod rate_limit;
mod reactions;
mod upgrade;
mod webhooks;

use std::sync::Arc;

use crate::chat::{Chat, ChatKind, ChatStore};
use crate::cluster::{ClusterStore, Session};
use crate::messages::{Appended, Message, MessageStore, MessageType, NewMessage};
use crate::store::Stores;
use crate::testing::RedisServer;

pub(super) fn chat(id: &str, members: &[&str]) -> Chat {
    Chat {
        id: id.into(),
        kind: ChatKind::Group,
        title: Some("t".into()),
        members: members.iter().map(|s| s.to_string()).collect(),
        owners: vec![members[0].to_string()],
        bots: vec![],
        created_at: "2026-01-01T00:00:00Z".into(),
        topic: None,
        metadata: None,
        completed_at: None,
        result: None,
    }
}

pub(super) fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

pub(super) fn msg(
    chat: &str,
    sender: &str,
    content: &str,
    client_id: Option<&str>,
    created_ms: i64,
) -> NewMessage {
    NewMessage {
        message: Message {
            id: format!("m_{}", uuid::Uuid::now_v7().simple()),
            chat_id: chat.into(),
            seq: 0,
            sender_id: sender.into(),
            kind: MessageType::Text,
            content: content.into(),
            media: None,
            reply_to: None,
            forwarded_from: Some(serde_json::json!({"seq": 0, "note": "\"seq\":0,"})),
            client_id: client_id.map(str::to_string),
            encrypted: false,
            created_at: crate::time::rfc3339_from_ms(created_ms),
            created_ms,
        },
        max_messages: 1000,
        min_created_ms: 0,
        client_id_ttl_secs: 60,
    }
}

pub(super) fn sess(sock: &str, user: &str, node: &str) -> Session {
    Session {
        socket_id: sock.into(),
        user_id: user.into(),
        device_id: format!("dev-{sock}"),
        node_id: node.into(),
        since: "2026-01-01T00:00:00Z".into(),
    }
}

pub(super) async fn stored(s: &dyn MessageStore, new: NewMessage) -> Message {
    match s.append(new).await.unwrap() {
        Appended::Stored(m, _) => m,
        other => panic!("expected Stored, got {other:?}"),
    }
}

async fn run_all(stores: Stores) {
    chat::chat_suite(stores.chats.as_ref()).await;
    chat::bot_session_suite(stores.chats.as_ref(), stores.messages.as_ref()).await;
    messages::message_suite(stores.chats.as_ref(), stores.messages.as_ref()).await;
    cluster::cluster_suite(stores.cluster.as_ref()).await;
    presence::presence_suite(stores.cluster.as_ref(), stores.presence.as_ref()).await;
    reactions::reaction_suite(stores.reactions.as_ref()).await;
    calls::call_suite(stores.calls.as_ref()).await;
    inbox::inbox_suite(stores.inbox.as_ref()).await;
    webhooks::webhook_suite(stores.webhooks.as_ref()).await;
    cache::cache_suite(stores.cache.as_ref()).await;
    notifications::notification_suite(stores.notifications.as_ref()).await;
    rate_limit::rate_limit_suite(stores.rate_limits.as_ref()).await;
}

#[tokio::test]
async fn memory_backend_passes_every_suite() {
    run_all(Stores::memory()).await;
}

/// Stores on the Redis at `url`, under a fresh prefix; with `wait`
/// replicas confirming every stored message.
async fn redis_stores(url: &str, wait: u32) -> Stores {
    let cfg = redis_config(url, wait);
    Stores::from_redis(crate::store::redis::open(&cfg).await.unwrap())
}

/// The Redis configuration of [`redis_stores`] (its `prefix` is fresh).
fn redis_config(url: &str, wait: u32) -> crate::config::RedisConfig {
    let mut cfg = crate::config::Config::defaults().redis;
    cfg.url = Some(url.to_string());
    cfg.command_timeout = std::time::Duration::from_secs(2);
    cfg.wait_replicas = wait;
    cfg.prefix = format!("suite-{}:", uuid::Uuid::new_v4().simple());
    cfg
}

#[tokio::test]
async fn redis_backend_passes_every_suite() {
    let server = RedisServer::shared();
    run_all(redis_stores(&server.url(), 0).await).await;
}

#[tokio::test]
async fn redis_cluster_backend_passes_every_suite() {
    let cluster = crate::testing::RedisCluster::start();
    run_all(redis_stores(&cluster.url(), 0).await).await;
    // Every master has a replica: acks that wait for one work across slots.
    run_all(redis_stores(&cluster.url(), 1).await).await;
}

#[tokio::test]
async fn redis_sentinel_backend_passes_every_suite() {
    let sentinel = crate::testing::RedisSentinel::start();
    run_all(redis_stores(&sentinel.url(), 0).await).await;
    run_all(redis_stores(&sentinel.url(), 1).await).await;
}

#[allow(dead_code)]
fn _object_safe(_: Arc<dyn ChatStore>, _: Arc<dyn MessageStore>, _: Arc<dyn ClusterStore>) {}
