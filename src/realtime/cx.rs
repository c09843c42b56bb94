//! What every socket handler receives ([`Cx`]) and how it decodes its
//! payload ([`parse`]). Handlers in `<domain>/events.rs` import this module,
//! never the event table, so the table can name the handlers without a
//! cycle.

use std::sync::Arc;

use serde_json::Value;

use super::conn::Conn;
use crate::app::AppState;
use crate::error::AppError;
use crate::fanout::SocketOps;

/// What a handler gets: the app, the connection, and its socket.
pub struct Cx {
    pub app: AppState,
    pub conn: Arc<Conn>,
    pub socket: Arc<dyn SocketOps>,
}

impl Cx {
    pub fn user_id(&self) -> &str {
        self.conn.user_id()
    }
}

/// Decodes a payload into a request type: `INVALID_PAYLOAD` with the reason
/// when it does not fit. A missing payload is read as `{}`.
pub fn parse<T: serde::de::DeserializeOwned>(data: Value) -> Result<T, AppError> {
    let data = match data {
        Value::Null => Value::Object(Default::default()),
        Value::Object(_) => data,
        _ => return Err(AppError::invalid("the payload must be an object")),
    };
    serde_json::from_value(data).map_err(|e| AppError::invalid(e.to_string()))
}
