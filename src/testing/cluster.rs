//! A local Redis Cluster for the tests (3 masters + 3 replicas).

use std::process::Command;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::{redis_cli, RedisServer};

/// A local Redis Cluster: 3 masters and 3 replicas on free loopback ports
/// (`redis-server --cluster-enabled yes`, then `redis-cli --cluster
/// create`), stopped on drop.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..6).map(|_| RedisServer::launch_cluster_node()).collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create");
        assert!(
            out.status.success(),
            "cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cluster = Self { nodes };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            // Ready when every node sees the cluster ok and every replica
            // has finished its first sync: before that, writes may live on
            // a master alone, and acks that wait for a replica time out.
            if cluster.nodes.iter().all(|n| cluster_ok(n.port))
                && cluster.masters().len() == 3
                && cluster
                    .nodes
                    .iter()
                    .all(|n| replica_synced_or_master(n.port))
            {
                return cluster;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the Redis Cluster did not reach cluster_state:ok");
    }

    /// `redis-cluster://127.0.0.1:P1?node=127.0.0.1:P2&...` (fred's form).
    pub fn url(&self) -> String {
        let mut url = format!("redis-cluster://127.0.0.1:{}", self.nodes[0].port);
        for (i, n) in self.nodes.iter().enumerate().skip(1) {
            url.push(if i == 1 { '?' } else { '&' });
            url.push_str(&format!("node=127.0.0.1:{}", n.port));
        }
        url
    }

    /// One cluster shared by the tests of this process that hold it at the
    /// same time (as [`RedisServer::shared`]).
    pub fn shared() -> Arc<Self> {
        static SHARED: Mutex<Weak<RedisCluster>> = Mutex::new(Weak::new());
        let mut guard = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cluster) = guard.upgrade() {
            return cluster;
        }
        let cluster = Arc::new(Self::start());
        *guard = Arc::downgrade(&cluster);
        cluster
    }

    /// Ports of the masters that hold slots, as a live node sees them.
    pub fn masters(&self) -> Vec<u16> {
        let Some(text) = self.cluster_nodes() else {
            return Vec::new();
        };
        let mut ports: Vec<u16> = text
            .lines()
            .filter(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                f.len() > 8 && f[2].contains("master") && !f[2].contains("fail")
            })
            .filter_map(|l| {
                let addr = l.split(' ').nth(1)?;
                addr.split(['@', ':']).nth(1)?.parse().ok()
            })
            .collect();
        ports.sort();
        ports
    }

    /// `CLUSTER NODES` from the first node that answers.
    fn cluster_nodes(&self) -> Option<String> {
        self.nodes.iter().find_map(|n| {
            let text = redis_cli(n.port, &["CLUSTER", "NODES"]);
            text.contains("myself").then_some(text)
        })
    }

    /// The node on `port` (to stop or restart it).
    pub fn node(&self, port: u16) -> &RedisServer {
        self.nodes
            .iter()
            .find(|n| n.port == port)
            .expect("a node of this cluster")
    }

    /// Moves `slots` hash slots, with their keys, from the master on `from`
    /// to the master on `to` (`redis-cli --cluster reshard`: MIGRATE, so
    /// clients meet `ASK` and then `MOVED`). Blocks until done.
    pub fn reshard(&self, from: u16, to: u16, slots: u32) {
        let id = |port: u16| redis_cli(port, &["CLUSTER", "MYID"]).trim().to_string();
        let out = Command::new("redis-cli")
            .args(["--cluster", "reshard", &format!("127.0.0.1:{from}")])
            .args(["--cluster-from", &id(from), "--cluster-to", &id(to)])
            .args(["--cluster-slots", &slots.to_string(), "--cluster-yes"])
            .args(["--cluster-pipeline", "10"])
            .output()
            .expect("redis-cli --cluster reshard");
        assert!(
            out.status.success(),
            "reshard failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn replica_synced_or_master(port: u16) -> bool {
    let text = redis_cli(port, &["INFO", "replication"]);
    text.contains("role:master")
        || (text.contains("master_link_status:up") && text.contains("master_sync_in_progress:0"))
}

fn cluster_ok(port: u16) -> bool {
    redis_cli(port, &["CLUSTER", "INFO"]).contains("cluster_state:ok")
}
