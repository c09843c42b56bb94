//! In memory: message history, `clientId` dedup and cursors (`MessageStore`), mirroring `store/redis/messages.rs`.

use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::messages::{Appended, Cursor, Message, MessageStore, NewMessage, Page, SyncSlice};
use crate::store::error::StoreResult;

use super::MemoryStore;

#[async_trait]
impl MessageStore for MemoryStore {
    async fn append(&self, new: NewMessage) -> StoreResult<Appended> {
        let mut st = self.state.lock();
        let m = new.message;
        let Some(chat) = st
            .chats
            .get(&m.chat_id)
            .filter(|c| c.is_member(&m.sender_id))
        else {
            return Ok(Appended::NotMember);
        };
        let completed = chat.completed_at.is_some();
        let context = crate::messages::ChatContext::of(chat);
        let log = st.logs.entry(m.chat_id.clone()).or_default();
        let now = Instant::now();
        log.expire_client_ids(now);
        let key = m
            .client_id
            .as_ref()
            .map(|c| (m.sender_id.clone(), c.clone()));
        if let Some(key) = &key {
            if let Some((id, _)) = log.client_ids.get(key).filter(|(_, e)| *e > now) {
                if let Some(seq) = log.ids.get(id) {
                    let idx = (seq - log.first_seq()) as usize;
                    return Ok(Appended::Duplicate(log.messages[idx].clone()));
                }
            }
        }
        // A retry of a message stored before completion still finds it.
        if completed {
            return Ok(Appended::Completed);
        }
        log.last_seq += 1;
        let mut stored = m;
        stored.seq = log.last_seq;
        log.ids.insert(stored.id.clone(), stored.seq);
        if let Some(key) = key {
            let ttl = Duration::from_secs(new.client_id_ttl_secs);
            log.client_id_expiry.push_back((now + ttl, key.clone()));
            log.client_ids.insert(key, (stored.id.clone(), now + ttl));
        }
        for cursors in [&mut log.delivered, &mut log.read] {
            cursors.insert(stored.sender_id.clone(), stored.seq);
        }
        log.messages.push_back(stored.clone());
        log.trim(new.max_messages, new.min_created_ms);
        Ok(Appended::Stored(stored, Some(context)))
    }

    async fn before(&self, chat_id: &str, before: Option<u64>, limit: usize) -> StoreResult<Page> {
        let st = self.state.lock();
        let Some(log) = st.logs.get(chat_id) else {
            return Ok(Page {
                messages: Vec::new(),
                has_more: false,
            });
        };
        let eligible: Vec<&Message> = log
            .messages
            .iter()
            .filter(|m| before.is_none_or(|b| m.seq < b))
            .collect();
        let skip = eligible.len().saturating_sub(limit);
        Ok(Page {
            messages: eligible[skip..].iter().map(|m| (*m).clone()).collect(),
            has_more: skip > 0,
        })
    }

    async fn after(&self, chat_id: &str, after: u64, limit: usize) -> StoreResult<SyncSlice> {
        let st = self.state.lock();
        let Some(log) = st.logs.get(chat_id) else {
            return Ok(SyncSlice {
                messages: Vec::new(),
                complete: true,
                has_more: false,
            });
        };
        let mut eligible = log.messages.iter().filter(|m| m.seq > after);
        let messages: Vec<Message> = eligible.by_ref().take(limit).cloned().collect();
        let has_more = eligible.next().is_some();
        let complete = after + 1 >= log.first_seq() || after >= log.last_seq;
        Ok(SyncSlice {
            messages,
            complete,
            has_more,
        })
    }

    async fn seq_of(&self, chat_id: &str, message_id: &str) -> StoreResult<Option<u64>> {
        let st = self.state.lock();
        Ok(st
            .logs
            .get(chat_id)
            .and_then(|l| l.ids.get(message_id).copied()))
    }

    async fn last_seq(&self, chat_id: &str) -> StoreResult<u64> {
        Ok(self
            .state
            .lock()
            .logs
            .get(chat_id)
            .map_or(0, |l| l.last_seq))
    }

    async fn advance_cursor(
        &self,
        chat_id: &str,
        user_id: &str,
        cursor: Cursor,
        seq: u64,
    ) -> StoreResult<bool> {
        let mut st = self.state.lock();
        let log = st.logs.entry(chat_id.to_string()).or_default();
        let map = match cursor {
            Cursor::Delivered => &mut log.delivered,
            Cursor::Read => &mut log.read,
        };
        let current = map.entry(user_id.to_string()).or_insert(0);
        if seq > *current {
            *current = seq;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    async fn read_cursor(&self, chat_id: &str, user_id: &str) -> StoreResult<u64> {
        let st = self.state.lock();
        Ok(st
            .logs
            .get(chat_id)
            .and_then(|l| l.read.get(user_id).copied())
            .unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ChatStore;
    use crate::store::suite::{chat, msg};

    /// ClientId records go when they expire, each looked at once: the
    /// chat keeps only the live ones (the append used to scan them all).
    #[tokio::test]
    async fn expired_client_ids_are_dropped_from_the_front() {
        let s = MemoryStore::default();
        s.create_chat(&chat("c", &["alice"])).await.unwrap();
        let now = crate::time::now_ms();
        for i in 0..2_000 {
            let mut new = msg("c", "alice", "x", Some(&format!("c-{i}")), now);
            new.client_id_ttl_secs = 0; // expired by the next append
            assert!(matches!(s.append(new).await.unwrap(), Appended::Stored(..)));
        }
        let live = msg("c", "alice", "x", Some("kept"), now);
        assert!(matches!(
            s.append(live.clone()).await.unwrap(),
            Appended::Stored(..)
        ));
        {
            let st = s.state.lock();
            let log = &st.logs["c"];
            assert_eq!(log.client_ids.len(), 1, "only the live record");
            assert_eq!(log.client_id_expiry.len(), 1);
        }
        // The live one still deduplicates.
        assert!(matches!(
            s.append(live).await.unwrap(),
            Appended::Duplicate(_)
        ));
    }
}
