//! The `cluster` behaviour suite, run on memory and on Redis.

use crate::cluster::ClusterStore;

use super::{ids, sess};

pub(super) async fn cluster_suite(s: &dyn ClusterStore) {
    use std::time::Duration;
    let long = Duration::from_secs(600);
    s.ping().await.unwrap();
    assert_eq!(s.record_peak(5).await.unwrap(), 5);
    assert_eq!(s.record_peak(3).await.unwrap(), 5, "a peak never drops");
    assert_eq!(s.record_peak(7).await.unwrap(), 7);
    s.publish_channels("n1", "[[\"news\",2]]", long)
        .await
        .unwrap();
    s.publish_channels("n1", "[[\"news\",3]]", long)
        .await
        .unwrap();
    assert_eq!(
        s.node_channels(&ids(&["n1", "n9"])).await.unwrap(),
        vec![Some("[[\"news\",3]]".to_string()), None]
    );
    s.add_session(&sess("s1", "alice", "n1")).await.unwrap();
    s.add_session(&sess("s2", "alice", "n2")).await.unwrap();
    s.add_session(&sess("s3", "{bob}*", "n1")).await.unwrap();
    assert_eq!(
        s.online(&ids(&["alice", "{bob}*", "carol"])).await.unwrap(),
        vec![true, true, false]
    );
    let mut list = s.sessions_of("alice").await.unwrap();
    list.sort_by(|a, b| a.socket_id.cmp(&b.socket_id));
    assert_eq!(
        list,
        vec![sess("s1", "alice", "n1"), sess("s2", "alice", "n2")]
    );
    // The node index the reconciliation reads.
    let mut on_n1 = s.node_sessions("n1").await.unwrap();
    on_n1.sort();
    assert_eq!(
        on_n1,
        vec![
            ("alice".to_string(), "s1".to_string()),
            ("{bob}*".to_string(), "s3".to_string())
        ]
    );
    assert_eq!(
        s.remove_session("alice", "s2", "n2", long).await.unwrap(),
        1
    );
    assert!(s.node_sessions("n2").await.unwrap().is_empty());
    assert_eq!(
        s.remove_session("alice", "s2", "n2", long).await.unwrap(),
        1,
        "idempotent"
    );
    assert!(s.heartbeat("n1", long).await.unwrap(), "first beat");
    assert!(!s.heartbeat("n1", long).await.unwrap(), "renewal");
    s.heartbeat("n2", Duration::from_millis(300)).await.unwrap();
    let mut nodes = s.live_nodes().await.unwrap();
    nodes.sort();
    assert_eq!(nodes, ids(&["n1", "n2"]));
    // Nothing is dead yet: the reaper does nothing.
    assert!(s.reap_dead_nodes("me", long).await.unwrap().is_empty());
    // A clean shutdown of n1 drops its sessions.
    assert_eq!(s.remove_node("n1", long).await.unwrap(), 2);
    assert_eq!(
        s.online(&ids(&["alice", "{bob}*"])).await.unwrap(),
        vec![false, false]
    );
    assert_eq!(s.live_nodes().await.unwrap(), ids(&["n2"]));
    // n2 dies with a session: once its heartbeat expires, one reaper
    // removes the session; the node is gone from the registry.
    s.add_session(&sess("s4", "dave", "n2")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(s.live_nodes().await.unwrap().is_empty());
    assert_eq!(s.online(&ids(&["dave"])).await.unwrap(), vec![true]);
    assert_eq!(s.reap_dead_nodes("me", long).await.unwrap(), ids(&["n2"]));
    assert!(s.reap_dead_nodes("other", long).await.unwrap().is_empty());
    assert_eq!(s.online(&ids(&["dave"])).await.unwrap(), vec![false]);
    // A reaped node that comes back learns it from its heartbeat.
    assert!(s.heartbeat("n2", long).await.unwrap());
}
