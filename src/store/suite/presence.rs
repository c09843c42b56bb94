//! The `presence` behaviour suite, run on memory and on Redis.

use crate::cluster::ClusterStore;
use crate::presence::PresenceStore;

use super::{ids, sess};

pub(super) async fn presence_suite(c: &dyn ClusterStore, p: &dyn PresenceStore) {
    use crate::presence::{Shown, Status};
    use std::time::Duration;
    let (grace, lease) = (Duration::from_millis(300), Duration::from_secs(5));
    let u = "p{ü}*";
    // The cluster suite reaped a dead node's user: that one is due now.
    let reaped = p.settle_due(100, lease).await.unwrap();
    assert_eq!(reaped.len(), 1);
    assert_eq!(
        (reaped[0].user_id.as_str(), reaped[0].status),
        ("dave", Shown::Offline)
    );
    // Never seen: offline, no lastSeen.
    let never = p.presences(&ids(&[u])).await.unwrap();
    assert_eq!(never[0].status, Shown::Offline);
    assert_eq!(never[0].last_seen, None);
    // The first connection announces online, the second nothing.
    let on = c.add_session(&sess("a", u, "n1")).await.unwrap().unwrap();
    assert_eq!((on.status, on.user_id.as_str()), (Shown::Online, u));
    assert!(on.last_seen.is_some());
    assert_eq!(c.add_session(&sess("b", u, "n2")).await.unwrap(), None);
    // Status and custom status: announced when what others see changes.
    let (away, changed) = p
        .set_status(u, Status::Away, Some(Some("lunch".into())))
        .await
        .unwrap();
    assert!(changed);
    assert_eq!(away.status, Shown::Away);
    assert_eq!(away.custom_status.as_deref(), Some("lunch"));
    let (_, changed) = p.set_status(u, Status::Away, None).await.unwrap();
    assert!(!changed, "same status, custom kept");
    let (same, changed) = p
        .set_status(u, Status::Away, Some(Some("coffee".into())))
        .await
        .unwrap();
    assert!(changed, "custom status changed");
    assert_eq!(same.custom_status.as_deref(), Some("coffee"));
    // Invisible is offline to others, without its custom status.
    let (inv, changed) = p.set_status(u, Status::Invisible, None).await.unwrap();
    assert!(changed);
    assert_eq!((inv.status, inv.custom_status), (Shown::Offline, None));
    let (_, changed) = p
        .set_status(u, Status::Invisible, Some(Some("hidden".into())))
        .await
        .unwrap();
    assert!(!changed, "nothing visible changed");
    let (back, changed) = p.set_status(u, Status::Online, Some(None)).await.unwrap();
    assert!(changed);
    assert_eq!((back.status, back.custom_status), (Shown::Online, None));
    // One device leaves: still online; nothing is due.
    assert_eq!(c.remove_session(u, "a", "n1", grace).await.unwrap(), 1);
    tokio::time::sleep(grace + Duration::from_millis(100)).await;
    assert!(p.settle_due(100, lease).await.unwrap().is_empty());
    // The last leaves and comes back within the grace period: no change.
    assert_eq!(c.remove_session(u, "b", "n2", grace).await.unwrap(), 0);
    assert!(
        p.settle_due(100, lease).await.unwrap().is_empty(),
        "not due yet"
    );
    assert_eq!(
        p.presences(&ids(&[u])).await.unwrap()[0].status,
        Shown::Online
    );
    assert_eq!(c.add_session(&sess("c", u, "n1")).await.unwrap(), None);
    tokio::time::sleep(grace + Duration::from_millis(100)).await;
    assert!(
        p.settle_due(100, lease).await.unwrap().is_empty(),
        "reconnected"
    );
    // Gone for good: offline once, with lastSeen, whoever settles.
    assert_eq!(c.remove_session(u, "c", "n1", grace).await.unwrap(), 0);
    tokio::time::sleep(grace + Duration::from_millis(100)).await;
    let off = p.settle_due(100, lease).await.unwrap();
    assert_eq!(off.len(), 1);
    assert_eq!(
        (off[0].status, off[0].user_id.as_str()),
        (Shown::Offline, u)
    );
    assert!(off[0].last_seen.is_some());
    assert!(p.settle_due(100, lease).await.unwrap().is_empty(), "once");
    assert_eq!(p.presences(&ids(&[u])).await.unwrap()[0], off[0]);
    // A retried removal (the registry repair, after a first attempt that
    // ran late) queues another check; offline is still announced once.
    assert_eq!(
        c.remove_session(u, "c", "n1", Duration::ZERO)
            .await
            .unwrap(),
        0
    );
    assert!(
        p.settle_due(100, lease).await.unwrap().is_empty(),
        "still once"
    );
    // An invisible user's connection announces nothing.
    p.set_status("ghost", Status::Invisible, None)
        .await
        .unwrap();
    assert_eq!(
        c.add_session(&sess("g", "ghost", "n1")).await.unwrap(),
        None
    );
    c.remove_session("ghost", "g", "n1", Duration::ZERO)
        .await
        .unwrap();
    // Many users due at once are settled in batches, each exactly once.
    let many: Vec<String> = (0..30).map(|i| format!("m{i}")).collect();
    for m in &many {
        c.add_session(&sess(&format!("s-{m}"), m, "n1"))
            .await
            .unwrap();
        c.remove_session(m, &format!("s-{m}"), "n1", Duration::ZERO)
            .await
            .unwrap();
    }
    let mut settled = Vec::new();
    loop {
        let batch = p.settle_due(7, lease).await.unwrap();
        if batch.is_empty() {
            break;
        }
        settled.extend(batch.into_iter().map(|p| p.user_id));
    }
    settled.sort();
    let mut want = many.clone();
    want.sort();
    assert_eq!(settled, want);
}
