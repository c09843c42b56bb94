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

/// What a room is for, read back from its name (admin statistics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    User,
    Chat,
    Channel(&'a str),
    Socket,
    Presence,
    Other,
}

pub fn kind(room: &str) -> Kind<'_> {
    match room.split_once(':') {
        Some(("u", _)) => Kind::User,
        Some(("c", _)) => Kind::Chat,
        Some(("t", name)) => Kind::Channel(name),
        Some(("s", _)) => Kind::Socket,
        Some(("p", _)) => Kind::Presence,
        _ => Kind::Other,
    }
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

    #[test]
    fn kinds_read_back_from_names() {
        use super::{kind, Kind};
        assert_eq!(kind(&super::user("a:b")), Kind::User);
        assert_eq!(kind(&super::chat("x")), Kind::Chat);
        assert_eq!(
            kind(&super::channel("public:news")),
            Kind::Channel("public:news")
        );
        assert_eq!(kind(&super::socket("s1")), Kind::Socket);
        assert_eq!(kind(&super::presence("x")), Kind::Presence);
        assert_eq!(kind("weird"), Kind::Other);
    }
}
