//! The real `switchboard` binary as a child process: a fresh metrics
//! registry, its own trace exporter and resource, its real stdout.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::app::SECRET;

/// The real binary on a free port, its stdout collected line by line.
pub struct Process {
    child: Child,
    pub url: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Process {
    pub fn start(env: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        cmd.env_clear()
            .env("SB_HOST", "127.0.0.1")
            .env("SB_PORT", port.to_string())
            .env("SB_JWT_SECRET", SECRET)
            .env("SB_ENV", "production")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("the switchboard binary starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            lines,
        }
    }

    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        let r = reqwest::get(format!("{}{path}", self.url)).await.ok()?;
        Some((r.status().as_u16(), r.text().await.unwrap()))
    }

    /// Waits until `path` answers `status`; returns the body.
    pub async fn wait_for(&self, path: &str, status: u16, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            match self.get(path).await {
                Some((s, body)) if s == status => return body,
                other if Instant::now() > deadline => {
                    panic!("{path}: wanted {status}, last {other:?}")
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Sends a signal (`STOP`, `CONT`, `KILL`, ...) to the process.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -{sig}");
    }

    /// SIGTERM, then the collected stdout once the process has exited.
    pub fn stop(mut self) -> Vec<String> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "the node did not exit on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(100));
        let lines = self.lines.lock().unwrap().clone();
        lines
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
