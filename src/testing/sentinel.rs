//! A local Sentinel setup for the tests (1 master, 1 replica, 3 sentinels),
//! its replication link through a fault proxy.

use std::time::{Duration, Instant};

use super::{redis_cli, RedisServer, TcpProxy};

/// A local Sentinel setup: one master, one replica and three sentinels on
/// free loopback ports (service name `sbmaster`), stopped on drop.
pub struct RedisSentinel {
    pub master: RedisServer,
    pub replica: RedisServer,
    /// The replica's replication link to the master runs through this
    /// proxy, so a test can partition the two (black-hole it).
    pub link: TcpProxy,
    sentinels: Vec<RedisServer>,
}

impl RedisSentinel {
    pub fn start() -> Self {
        // No diskless-sync delay: the replica is in sync within moments.
        let master = RedisServer::launch_with(&["--repl-diskless-sync-delay", "0"]);
        let link = TcpProxy::start(master.port);
        let replica = RedisServer::launch_with(&[
            "--replicaof",
            "127.0.0.1",
            &link.port().to_string(),
            "--repl-diskless-sync-delay",
            "0",
        ]);
        let sentinels: Vec<RedisServer> = (0..3)
            .map(|_| RedisServer::launch_sentinel(master.port))
            .collect();
        let s = Self {
            master,
            replica,
            link,
            sentinels,
        };
        // Ready when the replica is in sync and every sentinel knows it.
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let synced = redis_cli(s.replica.port, &["INFO", "replication"])
                .contains("master_link_status:up");
            let ready = synced
                && s.sentinels.iter().all(|x| {
                    redis_cli(x.port, &["SENTINEL", "replicas", "sbmaster"]).contains("slave")
                });
            if ready {
                return s;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the sentinels did not see the replica");
    }

    /// `redis-sentinel://127.0.0.1:S1?sentinelServiceName=sbmaster&node=...`.
    pub fn url(&self) -> String {
        let mut url = format!(
            "redis-sentinel://127.0.0.1:{}?sentinelServiceName=sbmaster",
            self.sentinels[0].port
        );
        for s in &self.sentinels[1..] {
            url.push_str(&format!("&node=127.0.0.1:{}", s.port));
        }
        url
    }

    /// Waits until the replica has everything the master has (replication
    /// is asynchronous; a test of failover-following, not of durability,
    /// starts from a replica in sync).
    pub fn wait_in_sync(&self) {
        let offset = |port: u16, field: &str| -> Option<i64> {
            redis_cli(port, &["INFO", "replication"])
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().parse().ok())
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let master = offset(self.master.port, "master_repl_offset:");
            let replica = offset(self.replica.port, "slave_repl_offset:");
            if master.is_some() && master == replica {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the replica did not catch up with the master");
    }

    /// True when every sentinel names one master, and not `old`.
    pub fn all_agree_on_a_master_other_than(&self, old: u16) -> bool {
        let named: Vec<Option<u16>> = self
            .sentinels
            .iter()
            .map(|s| Self::master_named_by(s.port))
            .collect();
        named
            .iter()
            .all(|m| m.is_some() && *m == named[0] && *m != Some(old))
    }

    /// The port of the current master, as the sentinels say.
    pub fn master_port(&self) -> Option<u16> {
        Self::master_named_by(self.sentinels[0].port)
    }

    fn master_named_by(sentinel: u16) -> Option<u16> {
        redis_cli(
            sentinel,
            &["SENTINEL", "get-master-addr-by-name", "sbmaster"],
        )
        .lines()
        .nth(1)?
        .trim()
        .parse()
        .ok()
    }
}
