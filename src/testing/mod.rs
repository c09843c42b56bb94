//! Test support: real `redis-server` processes on free loopback ports (a
//! single server, a Redis Cluster, a Sentinel setup) and a fault-injecting
//! TCP proxy ([`TcpProxy`]).
//!
//! Used by the storage behaviour suites and the integration tests. It never
//! silently skips: without `redis-server` installed it panics and says how
//! to install it (the README's test command does).

mod cluster;
mod proxy;
mod sentinel;

pub use cluster::RedisCluster;
pub use proxy::{Mode as ProxyMode, TcpProxy};
pub use sentinel::RedisSentinel;

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

/// `redis-cli -p PORT ARGS...`: its standard output (empty when it cannot
/// run or connect).
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
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
