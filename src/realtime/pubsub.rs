//! The Redis pub/sub driver of the Socket.IO adapter: sharded pub/sub on
//! fred's subscriber client, with metrics, the own-echo drop, the
//! cross-node trace carrier and an account of lost messages.
//!
//! **Lost messages.** fred hands every message of the connection to one
//! broadcast buffer (`SB_REDIS_PUBSUB_BUFFER`); the dispatcher moves each
//! to its channel's stream (`SB_ADAPTER_BUFFER`). A buffer that overflows
//! (a burst of connects on other nodes while this one is CPU-bound, say)
//! loses messages. Each one is counted
//! (`switchboard_pubsub_dropped_total{reason}`) and the node's clients are
//! sent `sync:needed`, as after a dropped connection: a stored message is
//! never lost, only its live delivery.
//!
//! **Metrics.** Every cross-node message is counted on the way out and in
//! (`switchboard_fanout_bytes_total{direction}`,
//! `switchboard_fanout_received_total`).
//!
//! **Own echoes.** Every node subscribes to the channel it broadcasts on, so
//! Redis hands each request back to the node that published it, and the
//! adapter would decode the whole request only to find its own node id and
//! drop it. The driver drops those echoes before decoding: a request is a
//! MessagePack array whose first element is the sender's node id, so the
//! first bytes of this node's requests (learnt from its first publish)
//! identify them.
//!
//! **Trace carrier.** When traces are exported and a message is published
//! inside a traced span (a `message:new` handler, say), the frame on the
//! Redis channel is `0xC1, len, traceparent, payload`. `0xC1` is a byte
//! MessagePack never uses, so a frame without a carrier (the adapter's own
//! heartbeats and requests, or any message when traces are off) is the
//! adapter's payload unchanged. The receiving node strips the carrier
//! before the adapter sees the payload and records a `deliver` span, a
//! child of the sender's span, with the message size and the number of
//! local recipients. Clients never see the carrier: it lives only between
//! nodes. Nodes of a cluster must all understand it (every version since
//! traces exist does); with traces off nothing is ever framed.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock, Weak};

use fred::clients::SubscriberClient;
use fred::interfaces::{EventInterface, PubsubInterface};
use fred::prelude::ClientLike;
use fred::types::Message;
use socketioxide_core::adapter::remote_packet::{RequestIn, RequestTypeIn};
use socketioxide_redis::drivers::fred::FredError;
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{broadcast, mpsc, watch};

use crate::app::App;
use crate::telemetry::{metrics, traces};

/// First byte of a frame with a trace carrier (never a MessagePack byte).
const CARRIER: u8 = 0xC1;

/// The adapter's pub/sub driver on fred's subscriber client. It shares
/// one connection and one dispatcher between every channel, like the fred
/// driver of `socketioxide-redis` it replaces, and does the metrics, the
/// echo drop and the trace carrier inline, without a task per channel.
#[derive(Clone)]
pub struct PubsubDriver {
    conn: SubscriberClient,
    handlers: Handlers,
    /// The first bytes of this node's requests (see "Own echoes").
    own: Arc<OnceLock<Vec<u8>>>,
}

type Handlers = Arc<RwLock<HashMap<String, mpsc::Sender<ChanItem>>>>;

impl PubsubDriver {
    /// Starts the dispatcher, then connects. `lost` counts the messages
    /// that could not be delivered (see [`Dispatcher::lost`]). `app` (weak:
    /// the app owns the adapter) counts local recipients for the delivery
    /// span.
    pub async fn new(
        conn: SubscriberClient,
        app: &Arc<App>,
        lost: watch::Sender<u64>,
    ) -> Result<Self, FredError> {
        let driver = Self {
            conn,
            handlers: Arc::default(),
            own: Arc::default(),
        };
        let dispatcher = Dispatcher {
            handlers: driver.handlers.clone(),
            own: driver.own.clone(),
            app: Arc::downgrade(app),
            lost,
        };
        tokio::spawn(dispatcher.run(driver.conn.message_rx()));
        driver.conn.init().await?;
        Ok(driver)
    }
}

/// Hands each message from the subscriber connection to the stream of its
/// channel.
struct Dispatcher {
    handlers: Handlers,
    own: Arc<OnceLock<Vec<u8>>>,
    app: Weak<App>,
    lost: watch::Sender<u64>,
}

impl Dispatcher {
    /// Runs until the client is dropped (fred keeps the receiver open
    /// across reconnections).
    async fn run(self, mut rx: broadcast::Receiver<Message>) {
        loop {
            match rx.recv().await {
                Ok(msg) => self.dispatch(msg),
                Err(broadcast::error::RecvError::Lagged(n)) => self.lost("lagged", n),
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    fn dispatch(&self, msg: Message) {
        let chan = msg.channel.to_string();
        let Some(item) = msg.value.into_owned_bytes() else {
            return;
        };
        metrics::fanout_received(item.len());
        let (carried, payload) = unframe(item);
        if is_request(&chan) && self.own.get().is_some_and(|o| origin(&payload) == Some(o)) {
            return;
        }
        if let Some(tp) = carried {
            record_delivery(&self.app, &tp, &payload);
        }
        let full = match self.handlers.read().unwrap().get(&chan) {
            // A stream that is not read (a namespace being removed) must
            // not hold up the other channels: never wait on one.
            Some(tx) => matches!(tx.try_send((chan, payload)), Err(TrySendError::Full(_))),
            None => false,
        };
        if full {
            self.lost("full", 1);
        }
    }

    /// Messages from other nodes that this node will never deliver:
    /// `lagged` when fred's buffer (`SB_REDIS_PUBSUB_BUFFER`) overflowed
    /// before the dispatcher read it, `full` when a channel's stream
    /// (`SB_ADAPTER_BUFFER`) was full. Counted, and the clients of this
    /// node are told to sync (`setup::ask_to_sync`).
    fn lost(&self, reason: &'static str, n: u64) {
        metrics::pubsub_dropped(reason, n);
        self.lost.send_modify(|c| *c += n);
    }
}

/// Request channels (`…-request#ns#` and `…-request#ns#node#`), as opposed
/// to the response channels.
fn is_request(chan: &str) -> bool {
    chan.contains("-request#")
}

/// The sender prefix of an adapter request: the array header and the node
/// id, a MessagePack fixstr (a `Uid` is 16 characters).
fn origin(payload: &[u8]) -> Option<&[u8]> {
    let (&array, rest) = payload.split_first()?;
    let (&tag, _) = rest.split_first()?;
    if array & 0xf0 != 0x90 || !(0xa1..=0xbf).contains(&tag) {
        return None;
    }
    payload.get(..2 + (tag & 0x1f) as usize)
}

/// `payload` framed with the trace context of the current span, when there
/// is one to carry.
fn frame(payload: Vec<u8>) -> Vec<u8> {
    match traces::current_traceparent() {
        Some(tp) if tp.len() <= u8::MAX as usize => {
            let mut out = Vec::with_capacity(2 + tp.len() + payload.len());
            out.push(CARRIER);
            out.push(tp.len() as u8);
            out.extend_from_slice(tp.as_bytes());
            out.extend_from_slice(&payload);
            out
        }
        _ => payload,
    }
}

/// Splits a received frame into its carrier (if any) and the payload.
fn unframe(mut item: Vec<u8>) -> (Option<String>, Vec<u8>) {
    if item.first() != Some(&CARRIER) || item.len() < 2 {
        return (None, item);
    }
    let len = item[1] as usize;
    if item.len() < 2 + len {
        return (None, item);
    }
    let tp = String::from_utf8(item[2..2 + len].to_vec()).ok();
    item.drain(..2 + len);
    (tp, item)
}

/// The delivery span on this node for a carried message.
fn record_delivery(app: &Weak<App>, traceparent: &str, payload: &[u8]) {
    let span = traces::continued("deliver", "consumer", Some(traceparent));
    if span.is_none() {
        return;
    }
    span.record("messaging.message.body.size", payload.len());
    if let Ok(req) = rmp_serde::from_slice::<RequestIn>(payload) {
        if let (RequestTypeIn::Broadcast(_) | RequestTypeIn::BroadcastWithAck(_), Some(opts)) =
            (&req.r#type, &req.opts)
        {
            let rooms: Vec<String> = opts.rooms.iter().map(|r| r.to_string()).collect();
            let except: Vec<String> = opts.except.iter().map(|r| r.to_string()).collect();
            span.record("messaging.destination.name", rooms.join(","));
            if let Some(app) = app.upgrade() {
                let n = app.fanout().local_recipients(rooms, except);
                span.record("switchboard.recipients", n);
            }
        }
    }
}

impl Driver for PubsubDriver {
    type Error = FredError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        if self.own.get().is_none() && is_request(&chan) {
            if let Some(o) = origin(&val) {
                let _ = self.own.set(o.to_vec());
            }
        }
        let val = if traces::enabled() { frame(val) } else { val };
        metrics::fanout_sent_bytes(val.len());
        self.conn.spublish::<u16, _, _>(chan, val).await?;
        Ok(())
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        self.conn.ssubscribe(chan.as_str()).await?;
        let (tx, rx) = mpsc::channel(size.max(1));
        self.handlers.write().unwrap().insert(chan, tx);
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        self.handlers.write().unwrap().remove(&chan);
        self.conn.sunsubscribe(chan).await?;
        Ok(())
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        let (_, num): (String, u16) = self.conn.pubsub_shardnumsub(chan).await?;
        Ok(num)
    }
}

/// The adapter type of a cluster node.
pub type Adapter<E> = socketioxide_redis::CustomRedisAdapter<E, PubsubDriver>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_without_a_carrier_pass_unchanged() {
        let payload = vec![0x93, 1, 2, 3];
        assert_eq!(unframe(payload.clone()), (None, payload.clone()));
        // Traces off: publishing never frames.
        assert_eq!(frame(payload.clone()), payload);
        assert_eq!(unframe(vec![CARRIER]), (None, vec![CARRIER]));
        assert_eq!(unframe(vec![CARRIER, 9, 1]), (None, vec![CARRIER, 9, 1]));
    }

    /// The prefix names the sending node: equal for every request of one
    /// node, different between nodes, absent from responses' shape.
    #[test]
    fn a_request_starts_with_its_sender() {
        use socketioxide_core::adapter::remote_packet::{RequestOut, RequestTypeOut};
        use socketioxide_core::adapter::BroadcastOptions;
        use socketioxide_core::Uid;
        let opts = BroadcastOptions::default();
        let (a, b) = (Uid::new(), Uid::new());
        let encode = |uid: Uid| {
            rmp_serde::to_vec(&RequestOut::new(
                uid,
                RequestTypeOut::DisconnectSockets,
                &opts,
            ))
            .unwrap()
        };
        let (a1, a2, b1) = (encode(a), encode(a), encode(b));
        assert!(origin(&a1).is_some());
        assert_eq!(origin(&a1), origin(&a2));
        assert_ne!(origin(&a1), origin(&b1));
        let decoded: RequestIn = rmp_serde::from_slice(&a1).unwrap();
        assert_eq!(decoded.node_id, a);
        assert_eq!(origin(&[0x92, 0x01]), None);
        assert!(is_request("sio-request#/#"));
        assert!(!is_request("sio-response#/#abc#"));
    }

    #[test]
    fn a_carrier_is_stripped_before_the_adapter_sees_the_payload() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut framed = vec![CARRIER, tp.len() as u8];
        framed.extend_from_slice(tp.as_bytes());
        framed.extend_from_slice(&[0x93, 1, 2, 3]);
        assert_eq!(unframe(framed), (Some(tp.to_string()), vec![0x93, 1, 2, 3]));
    }

    fn message(chan: &str, value: Vec<u8>) -> Message {
        Message {
            channel: chan.into(),
            kind: fred::types::MessageKind::SMessage,
            value: fred::types::Value::Bytes(value.into()),
            server: fred::types::config::Server::new("127.0.0.1", 6379),
        }
    }

    /// A dispatcher over `handlers`, with its lost-message counter.
    fn dispatcher(
        handlers: Vec<(&str, mpsc::Sender<ChanItem>)>,
    ) -> (Dispatcher, watch::Receiver<u64>) {
        let (lost, rx) = watch::channel(0);
        let handlers = handlers
            .into_iter()
            .map(|(c, tx)| (c.to_string(), tx))
            .collect();
        let d = Dispatcher {
            handlers: Arc::new(RwLock::new(handlers)),
            own: Arc::default(),
            app: Weak::new(),
            lost,
        };
        (d, rx)
    }

    /// fred's buffer overflowed before the dispatcher read it: the
    /// overwritten messages are counted, the rest still delivered.
    #[tokio::test]
    async fn an_overflowing_connection_buffer_is_counted() {
        let (tx, mut rx) = mpsc::channel(16);
        let (d, lost) = dispatcher(vec![("sio-request#/#", tx)]);
        let (fred_tx, fred_rx) = broadcast::channel(2);
        for i in 0..5u8 {
            fred_tx.send(message("sio-request#/#", vec![i])).unwrap();
        }
        drop(fred_tx);
        d.run(fred_rx).await;
        assert_eq!(*lost.borrow(), 3);
        assert_eq!(rx.recv().await.unwrap().1, vec![3]);
        assert_eq!(rx.recv().await.unwrap().1, vec![4]);
        assert!(rx.try_recv().is_err());
    }

    /// A channel whose stream is full loses its own messages (counted),
    /// and never holds up another channel.
    #[tokio::test]
    async fn a_full_stream_loses_only_its_own_messages() {
        let (slow_tx, mut slow) = mpsc::channel(1);
        let (fast_tx, mut fast) = mpsc::channel(8);
        let (d, lost) = dispatcher(vec![("slow", slow_tx), ("fast", fast_tx)]);
        for i in 0..3u8 {
            d.dispatch(message("slow", vec![i]));
            d.dispatch(message("fast", vec![i]));
        }
        // Unknown channels (unsubscribed a moment ago) are not losses.
        d.dispatch(message("gone", vec![9]));
        assert_eq!(*lost.borrow(), 2);
        assert_eq!(slow.try_recv().unwrap().1, vec![0]);
        assert!(slow.try_recv().is_err());
        for i in 0..3u8 {
            assert_eq!(fast.try_recv().unwrap().1, vec![i]);
        }
    }

    /// This node's own requests come back from Redis and are dropped
    /// before the adapter sees them; other nodes' pass, unframed.
    #[tokio::test]
    async fn own_echoes_are_dropped_and_carriers_stripped() {
        let (tx, mut rx) = mpsc::channel(8);
        let (d, lost) = dispatcher(vec![("sio-request#/#", tx)]);
        let ours = vec![0x93, 0xa2, b'a', b'b', 1];
        let theirs = vec![0x93, 0xa2, b'c', b'd', 2];
        d.own.set(origin(&ours).unwrap().to_vec()).unwrap();
        d.dispatch(message("sio-request#/#", ours));
        let mut framed = vec![CARRIER, 3, b'x', b'y', b'z'];
        framed.extend_from_slice(&theirs);
        d.dispatch(message("sio-request#/#", framed));
        assert_eq!(rx.try_recv().unwrap().1, theirs);
        assert!(rx.try_recv().is_err());
        assert_eq!(*lost.borrow(), 0);
    }
}
