//! Test support: real `redis-server` processes on free loopback ports (a
//! single server, a Redis Cluster, a Sentinel setup) and a fault-injecting
//! TCP proxy ([`TcpProxy`]).
//!
//! Used by the storage behaviour suites and the integration tests. It never
//! silently skips: without `redis-server` installed it panics and says how
//! to install it (the README's test command does).

mod proxy;

pub use proxy::{Mode as ProxyMode, TcpProxy};

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// A redis-server child process, killed on drop.
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    persistent: bool,
    /// The full argument list of a server launched by `spawn_with`, to
    /// start it again the same way.
    args: Option<Vec<String>>,
    child: Mutex<Option<Child>>,
}

impl RedisServer {
    /// Starts a server without persistence.
    pub fn start() -> Self {
        Self::launch(false)
    }

    /// Starts a server that keeps its data across `stop`/`start_again`
    /// (append-only file, fsync always), for outage tests.
    pub fn start_persistent() -> Self {
        Self::launch(true)
    }

    fn launch(persistent: bool) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("sb-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir for redis");
        let server = Self {
            port,
            dir,
            persistent,
            args: None,
            child: Mutex::new(None),
        };
        server.start_again();
        server
    }

    /// One server shared by every test of this process that holds it at the
    /// same time; it stops when the last holder drops it (a `static` would
    /// never be dropped and would leave the process behind).
    pub fn shared() -> Arc<Self> {
        static SHARED: Mutex<Weak<RedisServer>> = Mutex::new(Weak::new());
        let mut guard = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(server) = guard.upgrade() {
            return server;
        }
        let server = Arc::new(Self::start());
        *guard = Arc::downgrade(&server);
        server
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (an outage). Persistent servers keep their data.
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and waits until it answers.
    pub fn start_again(&self) {
        let mut guard = self.child.lock().unwrap();
        if guard.is_some() {
            return;
        }
        if let Some(args) = &self.args {
            let child = Command::new("redis-server")
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server starts again");
            *guard = Some(child);
            drop(guard);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && !ping(self.port) {
                std::thread::sleep(Duration::from_millis(20));
            }
            return;
        }
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(&self.dir)
            .arg("--save")
            .arg("")
            .arg("--protected-mode")
            .arg("no")
            // The fault tests stall the server with DEBUG SLEEP (loopback).
            .arg("--enable-debug-command")
            .arg("local")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.persistent {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start redis-server ({e}). The tests need Redis 7+: \
                 install it with `apt-get install redis-server` (scripts/test.sh does)"
            )
        });
        *guard = Some(child);
        drop(guard);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if ping(self.port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not answer PING", self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    // NOAUTH: up, with a password.
    matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG") || buf[..n].starts_with(b"-NOAUTH"))
}

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
            let o = Command::new("redis-cli")
                .args(["-p", &n.port.to_string(), "CLUSTER", "NODES"])
                .output()
                .ok()?;
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
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
        let id = |port: u16| {
            let o = Command::new("redis-cli")
                .args(["-p", &port.to_string(), "CLUSTER", "MYID"])
                .output()
                .expect("redis-cli");
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        };
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
    Command::new("redis-cli")
        .args(["-p", &port.to_string(), "INFO", "replication"])
        .output()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout);
            text.contains("role:master")
                || (text.contains("master_link_status:up")
                    && text.contains("master_sync_in_progress:0"))
        })
        .unwrap_or(false)
}

fn cluster_ok(port: u16) -> bool {
    Command::new("redis-cli")
        .args(["-p", &port.to_string(), "CLUSTER", "INFO"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("cluster_state:ok"))
        .unwrap_or(false)
}

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
            let synced = Command::new("redis-cli")
                .args(["-p", &s.replica.port.to_string(), "INFO", "replication"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains("master_link_status:up"))
                .unwrap_or(false);
            let ready = synced
                && s.sentinels.iter().all(|x| {
                    Command::new("redis-cli")
                        .args([
                            "-p",
                            &x.port.to_string(),
                            "SENTINEL",
                            "replicas",
                            "sbmaster",
                        ])
                        .output()
                        .map(|o| String::from_utf8_lossy(&o.stdout).contains("slave"))
                        .unwrap_or(false)
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
            let o = Command::new("redis-cli")
                .args(["-p", &port.to_string(), "INFO", "replication"])
                .output()
                .ok()?;
            String::from_utf8_lossy(&o.stdout)
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
        let o = Command::new("redis-cli")
            .args([
                "-p",
                &sentinel.to_string(),
                "SENTINEL",
                "get-master-addr-by-name",
                "sbmaster",
            ])
            .output()
            .ok()?;
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .nth(1)?
            .trim()
            .parse()
            .ok()
    }
}

impl RedisServer {
    /// A `redis-server` process on a free port, in a directory of its own
    /// (`args` gets both), waited for until it answers PING.
    fn spawn_with(label: &str, args: impl FnOnce(u16, &std::path::Path) -> Vec<String>) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("sb-{label}-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir for redis");
        let args = args(port, &dir);
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("redis-server ({label}): {e}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && !ping(port) {
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            port,
            dir,
            persistent: false,
            args: Some(args),
            child: Mutex::new(Some(child)),
        }
    }

    /// A plain server without persistence, plus `extra` arguments.
    fn launch_with(extra: &[&str]) -> Self {
        Self::spawn_with("redis", |port, dir| {
            let mut args: Vec<String> =
                ["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
            args.push(dir.display().to_string());
            args.extend(
                ["--save", "", "--appendonly", "no", "--protected-mode", "no"]
                    .iter()
                    .chain(extra)
                    .map(|s| s.to_string()),
            );
            args
        })
    }

    /// A server that takes TLS connections on the returned port (with
    /// `certs/{server.pem,server.key,ca.pem}`, client certificates
    /// required) and a password; plain TCP on [`Self::port`] only for the
    /// readiness check.
    pub fn start_tls(certs: &std::path::Path, password: &str) -> (Self, u16) {
        let tls_port = free_port();
        let file = |f: &str| certs.join(f).display().to_string();
        let server = Self::launch_with(&[
            "--tls-port",
            &tls_port.to_string(),
            "--tls-cert-file",
            &file("server.pem"),
            "--tls-key-file",
            &file("server.key"),
            "--tls-ca-cert-file",
            &file("ca.pem"),
            "--tls-auth-clients",
            "yes",
            "--requirepass",
            password,
        ]);
        (server, tls_port)
    }

    /// A Redis Cluster node (its `nodes.conf` in its own directory).
    fn launch_cluster_node() -> Self {
        // The bus port defaults to port + 10000, which is past 65535 for a
        // port above 55535: give it a free port of its own.
        let bus = free_port().to_string();
        Self::launch_with(&[
            "--cluster-port",
            &bus,
            "--cluster-enabled",
            "yes",
            "--cluster-node-timeout",
            "2000",
            "--cluster-config-file",
            "nodes.conf",
        ])
    }

    /// A sentinel watching the master on `master_port` as `sbmaster`.
    fn launch_sentinel(master_port: u16) -> Self {
        Self::spawn_with("sentinel", |port, dir| {
            let conf = dir.join("sentinel.conf");
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {}\n\
                     sentinel monitor sbmaster 127.0.0.1 {master_port} 2\n\
                     sentinel down-after-milliseconds sbmaster 1000\n\
                     sentinel failover-timeout sbmaster 5000\n\
                     sentinel parallel-syncs sbmaster 1\n",
                    dir.display()
                ),
            )
            .expect("sentinel.conf");
            vec![conf.display().to_string(), "--sentinel".into()]
        })
    }
}
