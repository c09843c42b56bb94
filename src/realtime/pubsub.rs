//! The Redis pub/sub driver of the Socket.IO adapter: the fred driver of
//! `socketioxide-redis`, plus metrics and the cross-node trace carrier.
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

use std::sync::{Arc, OnceLock, Weak};

use futures::StreamExt;
use socketioxide_core::adapter::remote_packet::{RequestIn, RequestTypeIn};
use socketioxide_redis::drivers::fred::FredDriver;
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};

use crate::app::App;
use crate::telemetry::{metrics, traces};

/// First byte of a frame with a trace carrier (never a MessagePack byte).
const CARRIER: u8 = 0xC1;

/// [`FredDriver`] plus counters and the trace carrier. `app` (weak: the
/// app owns the adapter) counts local recipients for the delivery span.
#[derive(Clone)]
pub struct MeteredDriver {
    inner: FredDriver,
    app: Weak<App>,
    /// The first bytes of this node's requests (see "Own echoes").
    own: Arc<OnceLock<Vec<u8>>>,
}

impl MeteredDriver {
    pub fn new(inner: FredDriver, app: &Arc<App>) -> Self {
        Self {
            inner,
            app: Arc::downgrade(app),
            own: Arc::default(),
        }
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

impl Driver for MeteredDriver {
    type Error = <FredDriver as Driver>::Error;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        if self.own.get().is_none() && is_request(&chan) {
            if let Some(o) = origin(&val) {
                let _ = self.own.set(o.to_vec());
            }
        }
        let val = if traces::enabled() { frame(val) } else { val };
        metrics::fanout_sent_bytes(val.len());
        self.inner.publish(chan, val).await
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        let mut inner = self.inner.subscribe(chan, size).await?;
        let app = self.app.clone();
        let own = self.own.clone();
        // Same buffer as the adapter asked for; the forwarder ends when
        // either side goes away (unsubscribe drops the inner sender, the
        // adapter drops the outer receiver).
        let (tx, rx) = tokio::sync::mpsc::channel(size.max(1));
        tokio::spawn(async move {
            while let Some((chan, item)) = inner.next().await {
                metrics::fanout_received(item.len());
                let (carried, payload) = unframe(item);
                if is_request(&chan) && own.get().is_some_and(|o| origin(&payload) == Some(o)) {
                    continue;
                }
                if let Some(tp) = carried {
                    record_delivery(&app, &tp, &payload);
                }
                if tx.send((chan, payload)).await.is_err() {
                    return;
                }
            }
        });
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        self.inner.unsubscribe(chan).await
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        self.inner.num_serv(chan).await
    }
}

/// The adapter type of a cluster node.
pub type Adapter<E> = socketioxide_redis::CustomRedisAdapter<E, MeteredDriver>;

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
}
