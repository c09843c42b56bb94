//! A TCP proxy for fault injection: it forwards a loopback port to a target
//! port and can, on command, delay traffic, black-hole it (hold every byte
//! in both directions, as a partition does, while the sockets stay open:
//! a half-open link that neither end notices), cut every connection (FIN),
//! reset them (RST), or refuse new ones.
//!
//! It runs on its own thread and runtime, so a test that stalls its own
//! runtime, or a node process, cannot stall the proxy.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward at once.
    Pass,
    /// Forward every chunk after this delay.
    Delay(Duration),
    /// Hold every byte (no error on either side) until the mode changes.
    BlackHole,
    /// Reset new connections at once (existing ones keep their mode).
    Refuse,
}

/// A running proxy, stopped on drop.
pub struct TcpProxy {
    port: u16,
    mode: watch::Sender<Mode>,
    kill: broadcast::Sender<bool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TcpProxy {
    /// A proxy from a free loopback port to `127.0.0.1:target`.
    pub fn start(target: u16) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("proxy port");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("addr").port();
        let (mode, _) = watch::channel(Mode::Pass);
        let (kill, _) = broadcast::channel(16);
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let (m, k) = (mode.clone(), kill.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("proxy runtime");
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("listener");
                tokio::select! {
                    _ = accept_loop(listener, target, m, k) => {}
                    _ = stopped => {}
                }
            });
        });
        Self {
            port,
            mode,
            kill,
            stop: Some(stop),
        }
    }

    /// The proxy's own port (point the client here).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// Closes every open connection with a FIN (both sides see EOF).
    pub fn cut(&self) {
        let _ = self.kill.send(false);
    }

    /// Closes every open connection with an RST (both sides see a reset).
    pub fn reset(&self) {
        let _ = self.kill.send(true);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.reset();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: u16,
    mode: watch::Sender<Mode>,
    kill: broadcast::Sender<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((client, _)) = listener.accept().await {
        if *mode.borrow() == Mode::Refuse {
            let _ = client.set_zero_linger();
            continue;
        }
        let (mode, kill) = (mode.subscribe(), kill.subscribe());
        connections.spawn(connection(client, target, mode, kill));
        while connections.try_join_next().is_some() {}
    }
}

async fn connection(
    client: TcpStream,
    target: u16,
    mode: watch::Receiver<Mode>,
    mut kill: broadcast::Receiver<bool>,
) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
        let _ = client.set_zero_linger();
        return;
    };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let reset = tokio::select! {
        _ = pump(&mut cr, &mut sw, mode.clone()) => false,
        _ = pump(&mut sr, &mut cw, mode) => false,
        k = kill.recv() => k.unwrap_or(true),
    };
    if reset {
        let _ = cr.as_ref().set_zero_linger();
        let _ = sr.as_ref().set_zero_linger();
    } else {
        let _ = cw.shutdown().await;
        let _ = sw.shutdown().await;
    }
}

/// Copies `from` to `to` under the current mode until either side closes.
async fn pump(from: &mut OwnedReadHalf, to: &mut OwnedWriteHalf, mut mode: watch::Receiver<Mode>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        loop {
            let now = *mode.borrow_and_update();
            match now {
                Mode::Pass | Mode::Refuse => break,
                Mode::Delay(d) => {
                    tokio::time::sleep(d).await;
                    break;
                }
                Mode::BlackHole => {
                    if mode.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
