//! Answering a client event: `{ ok: true, ...result }` or
//! `{ ok: false, error }` in the ack, or an `error` event when the client
//! asked for no ack and the event failed (PROTOCOL §2).

use serde_json::{json, Map, Value};

use super::conn::{Job, QueueError};
use crate::error::AppError;
use crate::fanout::SocketOps;
use crate::telemetry::metrics;

/// What a socket handler returns: the ack result object, or an error.
pub type HandlerResult = Result<Value, AppError>;

/// Sends the outcome of one event to the client.
pub fn send(
    socket: &dyn SocketOps,
    event: &str,
    ack: Option<super::conn::AckFn>,
    result: HandlerResult,
) {
    if let Err(e) = &result {
        e.log(event);
    }
    match (ack, result) {
        (Some(ack), Ok(value)) => {
            let mut body = match value {
                Value::Object(map) => map,
                Value::Null => Map::new(),
                other => {
                    let mut m = Map::new();
                    m.insert("result".into(), other);
                    m
                }
            };
            body.insert("ok".into(), Value::Bool(true));
            ack(&Value::Object(body));
        }
        (Some(ack), Err(err)) => ack(&json!({ "ok": false, "error": err })),
        (None, Ok(_)) => {}
        (None, Err(err)) => socket.emit(
            "error",
            &json!({ "event": event, "code": err.code, "message": err.message }),
        ),
    }
}

/// Refuses an event that could not even be queued (the connection has too
/// many events in flight, or is closing).
/// `label` is the event's metric label (`dispatch::label`).
pub fn refuse_unqueued(socket: &dyn SocketOps, job: Job, why: QueueError, label: &'static str) {
    let err = match why {
        QueueError::Full => AppError {
            message: "too many events in flight on this connection".into(),
            ..AppError::rate_limited(1000)
        },
        QueueError::Closed => AppError::unavailable("connection is closing"),
    };
    let event = job.event.unwrap_or_default();
    metrics::event_refused(label, err.code);
    send(socket, &event, job.ack, Err(err));
}
