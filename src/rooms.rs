//! Room names. Nothing else builds a room name by hand.
//!
//! Rooms are in-memory names inside socketioxide (and channel payloads in the
//! Redis adapter), never Redis keys, so any user or chat id is safe in them;
//! the one-letter prefixes keep the two kinds apart.

/// The room of every socket of a user, on every node.
pub fn user(user_id: &str) -> String {
    format!("u:{user_id}")
}

/// The room of the sockets receiving a chat's live events.
pub fn chat(chat_id: &str) -> String {
    format!("c:{chat_id}")
}

/// The room of a topic channel's subscribers.
pub fn channel(name: &str) -> String {
    format!("t:{name}")
}

/// The room of one socket (signaling addressed to one device).
pub fn socket(socket_id: &str) -> String {
    format!("s:{socket_id}")
}

/// The room of the sockets watching a user's presence.
pub fn presence(user_id: &str) -> String {
    format!("p:{user_id}")
}

/// How many of a socket's rooms are chat rooms.
pub fn chats_in(rooms: &[String]) -> usize {
    rooms.iter().filter(|r| r.starts_with("c:")).count()
}

/// How many of a socket's rooms are presence subscriptions.
pub fn presences_in(rooms: &[String]) -> usize {
    rooms.iter().filter(|r| r.starts_with("p:")).count()
}

#[cfg(test)]
mod tests {
    #[test]
    fn user_and_chat_rooms_never_collide() {
        assert_ne!(super::user("x"), super::chat("x"));
        assert_ne!(super::user("c:x"), super::chat("x"));
        assert_ne!(super::channel("x"), super::chat("x"));
        assert_ne!(super::presence("x"), super::user("x"));
    }
}
