//! Every TCP connection the node accepted, each wrapped so that the drain
//! can close it on its own: a WebSocket then ends with a transport close,
//! which Socket.IO clients answer by reconnecting (through the load
//! balancer, to another node). socketioxide has no per-socket way to close
//! a transport without the `io server disconnect` that stops a client's
//! reconnection, so the node closes the TCP stream under it.
//!
//! A killed stream reads as end-of-file and refuses writes; its owner
//! (hyper, or the WebSocket after an upgrade) then drops it, which closes
//! the socket. Cost: one atomic load per read or write, and one small entry
//! per open connection.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::task::AtomicWaker;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[derive(Default)]
struct Kill {
    killed: AtomicBool,
    waker: AtomicWaker,
    /// The connection was upgraded to a WebSocket (a Socket.IO transport).
    websocket: AtomicBool,
}

/// The open connections, by peer address.
#[derive(Default)]
pub struct Transports {
    open: Mutex<HashMap<SocketAddr, Arc<Kill>>>,
}

impl Transports {
    /// Wraps an accepted stream and registers it.
    pub fn wrap<T>(self: &Arc<Self>, inner: T, peer: SocketAddr) -> Killable<T> {
        let kill = Arc::new(Kill::default());
        self.open.lock().insert(peer, kill.clone());
        Killable {
            inner,
            kill,
            peer,
            registry: self.clone(),
        }
    }

    /// Closes the connection from `peer`; `false` when there is none.
    pub fn kill(&self, peer: &SocketAddr) -> bool {
        let Some(kill) = self.open.lock().get(peer).cloned() else {
            return false;
        };
        kill.killed.store(true, Ordering::Release);
        kill.waker.wake();
        true
    }

    /// Marks the connection from `peer` as a WebSocket (its upgrade request
    /// was seen).
    pub fn mark_websocket(&self, peer: &SocketAddr) {
        if let Some(kill) = self.open.lock().get(peer) {
            kill.websocket.store(true, Ordering::Relaxed);
        }
    }

    /// The open WebSocket connections, not yet closed.
    pub fn websockets(&self) -> Vec<SocketAddr> {
        self.open
            .lock()
            .iter()
            .filter(|(_, k)| {
                k.websocket.load(Ordering::Relaxed) && !k.killed.load(Ordering::Relaxed)
            })
            .map(|(p, _)| *p)
            .collect()
    }

    /// Connections open now.
    pub fn len(&self) -> usize {
        self.open.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An accepted stream that [`Transports::kill`] can close.
pub struct Killable<T> {
    inner: T,
    kill: Arc<Kill>,
    peer: SocketAddr,
    registry: Arc<Transports>,
}

impl<T> Killable<T> {
    fn killed(&self) -> bool {
        self.kill.killed.load(Ordering::Acquire)
    }
}

impl<T> Drop for Killable<T> {
    fn drop(&mut self) {
        let mut open = self.registry.open.lock();
        // Only our own entry (a new connection may reuse the address).
        if open
            .get(&self.peer)
            .is_some_and(|k| Arc::ptr_eq(k, &self.kill))
        {
            open.remove(&self.peer);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Killable<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.killed() {
            return Poll::Ready(Ok(())); // end of file
        }
        this.kill.waker.register(cx.waker());
        if this.killed() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Killable<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.killed() {
            return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.killed() {
            return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into()));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_killed_stream_ends_and_leaves_the_registry() {
        let registry = Arc::new(Transports::default());
        let (a, mut b) = tokio::io::duplex(64);
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let mut s = registry.wrap(a, peer);
        assert_eq!(registry.len(), 1);
        assert!(registry.websockets().is_empty());
        registry.mark_websocket(&peer);
        assert_eq!(registry.websockets(), vec![peer]);
        b.write_all(b"hi").await.unwrap();
        let mut buf = [0u8; 2];
        s.read_exact(&mut buf).await.unwrap();
        // A read pending when the kill comes ends at once with EOF.
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            let n = s.read(&mut buf).await.unwrap();
            (n, s)
        });
        tokio::task::yield_now().await;
        assert!(registry.kill(&peer));
        assert!(
            registry.websockets().is_empty(),
            "a killed one is not listed"
        );
        let (n, mut s) = reader.await.unwrap();
        assert_eq!(n, 0);
        assert!(s.write_all(b"x").await.is_err());
        drop(s);
        assert!(registry.is_empty());
        assert!(!registry.kill(&peer));
    }
}
