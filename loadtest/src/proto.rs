//! Engine.IO v4 / Socket.IO v5 text frames: just what a load client needs.

use serde_json::Value;

/// A frame received from the server, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// Engine.IO open (`0{...}`).
    Open,
    /// Engine.IO ping (`2`): answer with [`pong`].
    Ping,
    /// Socket.IO CONNECT ack (`40{"sid":..}`).
    Connected,
    /// Socket.IO CONNECT_ERROR (`44{"message":..}`).
    ConnectError(String),
    /// Socket.IO DISCONNECT (`41`) or Engine.IO close (`1`).
    Disconnect,
    /// An event: name and first argument.
    Event(String, Value),
    /// An ack: id and first argument.
    Ack(u64, Value),
    /// Anything else (noop, upgrade, binary).
    Other,
}

pub fn pong() -> &'static str {
    "3"
}

/// The Socket.IO CONNECT frame carrying `{ token }`.
pub fn connect(token: &str) -> String {
    format!("40{}", serde_json::json!({ "token": token }))
}

/// An event frame; `ack` asks for an acknowledgement with that id.
pub fn event(name: &str, data: &Value, ack: Option<u64>) -> String {
    let body = serde_json::json!([name, data]);
    match ack {
        Some(id) => format!("42{id}{body}"),
        None => format!("42{body}"),
    }
}

/// For a `message:new` event frame, the `content` string when it is a
/// load-test stamp (`t:<µs>`), found without building a JSON tree.
pub fn delivery_stamp(text: &str) -> Option<&str> {
    let rest = text.strip_prefix(r#"42["message:new","#)?;
    let at = rest.find(r#""content":"t:"#)? + r#""content":""#.len();
    let tail = &rest[at..];
    let end = tail.find('"')?;
    Some(&tail[..end])
}

/// Decodes one text frame.
pub fn decode(text: &str) -> Frame {
    let mut chars = text.chars();
    match chars.next() {
        Some('0') => Frame::Open,
        Some('1') => Frame::Disconnect,
        Some('2') => Frame::Ping,
        Some('4') => decode_sio(&text[1..]),
        _ => Frame::Other,
    }
}

fn decode_sio(p: &str) -> Frame {
    let Some(kind) = p.chars().next() else {
        return Frame::Other;
    };
    let rest = &p[kind.len_utf8()..];
    match kind {
        '0' => Frame::Connected,
        '1' => Frame::Disconnect,
        '4' => {
            let v: Value = serde_json::from_str(rest).unwrap_or(Value::Null);
            Frame::ConnectError(v["message"].as_str().unwrap_or_default().to_string())
        }
        '2' | '3' => {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let (id, body) = rest.split_at(digits);
            let Ok(Value::Array(mut arr)) = serde_json::from_str::<Value>(body) else {
                return Frame::Other;
            };
            if kind == '3' {
                let Ok(id) = id.parse() else {
                    return Frame::Other;
                };
                let first = if arr.is_empty() {
                    Value::Null
                } else {
                    arr.swap_remove(0)
                };
                return Frame::Ack(id, first);
            }
            if arr.is_empty() {
                return Frame::Other;
            }
            let data = if arr.len() > 1 {
                arr.swap_remove(1)
            } else {
                Value::Null
            };
            match arr.swap_remove(0) {
                Value::String(name) => Frame::Event(name, data),
                _ => Frame::Other,
            }
        }
        _ => Frame::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_events_and_connects() {
        assert_eq!(event("a", &json!({"x": 1}), None), r#"42["a",{"x":1}]"#);
        assert_eq!(event("a", &json!(1), Some(7)), r#"427["a",1]"#);
        assert_eq!(connect("t"), r#"40{"token":"t"}"#);
    }

    #[test]
    fn decodes_every_frame_kind() {
        assert_eq!(decode(r#"0{"sid":"x"}"#), Frame::Open);
        assert_eq!(decode("2"), Frame::Ping);
        assert_eq!(decode(r#"40{"sid":"abc"}"#), Frame::Connected);
        assert_eq!(
            decode(r#"44{"message":"AUTH_INVALID"}"#),
            Frame::ConnectError("AUTH_INVALID".into())
        );
        assert_eq!(decode("41"), Frame::Disconnect);
        assert_eq!(
            decode(r#"42["message:new",{"a":1}]"#),
            Frame::Event("message:new".into(), json!({"a": 1}))
        );
        assert_eq!(
            decode(r#"4312[{"ok":true}]"#),
            Frame::Ack(12, json!({"ok": true}))
        );
        assert_eq!(decode(r#"42["x"]"#), Frame::Event("x".into(), Value::Null));
    }

    #[test]
    fn finds_delivery_stamps_without_parsing() {
        let f = r#"42["message:new",{"message":{"chatId":"c","content":"t:1234","id":"m"}}]"#;
        assert_eq!(delivery_stamp(f), Some("t:1234"));
        assert_eq!(
            delivery_stamp(r#"42["message:new",{"message":{"content":"hi"}}]"#),
            None
        );
        assert_eq!(
            delivery_stamp(r#"42["chat:updated",{"content":"t:1"}]"#),
            None
        );
    }

    #[test]
    fn garbage_is_other_never_a_panic() {
        for g in [
            "", "4", "42", "42[", "42[1]", "43x[]", "9", "4é", "42{}", "43[]",
        ] {
            let _ = decode(g);
        }
        assert_eq!(decode("42[1,2]"), Frame::Other);
    }
}
