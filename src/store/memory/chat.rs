//! In memory: chats and membership (`ChatStore`), mirroring `store/redis/chat.rs`.

use std::collections::HashSet;

use async_trait::async_trait;

use crate::chat::{Chat, ChatStore, MembershipChange};
use crate::store::error::StoreResult;

use super::MemoryStore;

fn push_unique(list: &mut Vec<String>, items: &[String]) -> Vec<String> {
    let mut added = Vec::new();
    for item in items {
        if !list.contains(item) {
            list.push(item.clone());
            added.push(item.clone());
        }
    }
    added
}

#[async_trait]
impl ChatStore for MemoryStore {
    async fn create_chat(&self, chat: &Chat) -> StoreResult<bool> {
        let mut st = self.state.lock();
        if st.chats.contains_key(&chat.id) {
            return Ok(false);
        }
        for m in &chat.members {
            st.index_add(m, &chat.id);
        }
        st.chats.insert(chat.id.clone(), chat.clone());
        Ok(true)
    }

    async fn put_chat(&self, chat: &Chat) -> StoreResult<Option<Chat>> {
        let mut st = self.state.lock();
        let mut chat = chat.clone();
        // A bot session's completion survives a replace.
        if let Some(old) = st
            .chats
            .get(&chat.id)
            .filter(|_| chat.completed_at.is_none())
        {
            chat.completed_at = old.completed_at.clone();
            chat.result = old.result.clone();
        }
        let chat = &chat;
        let previous = st.chats.insert(chat.id.clone(), chat.clone());
        if let Some(prev) = &previous {
            for m in prev.members.iter().filter(|m| !chat.is_member(m)) {
                st.index_remove(m, &chat.id);
            }
        }
        for m in &chat.members {
            st.index_add(m, &chat.id);
        }
        Ok(previous)
    }

    async fn get_chat(&self, chat_id: &str) -> StoreResult<Option<Chat>> {
        Ok(self.state.lock().chats.get(chat_id).cloned())
    }

    async fn add_members(
        &self,
        chat_id: &str,
        user_ids: &[String],
    ) -> StoreResult<Option<MembershipChange>> {
        let mut st = self.state.lock();
        let Some(chat) = st.chats.get_mut(chat_id) else {
            return Ok(None);
        };
        let added = push_unique(&mut chat.members, user_ids);
        let chat = chat.clone();
        for u in &added {
            st.index_add(u, chat_id);
        }
        Ok(Some(MembershipChange {
            chat,
            added,
            removed: Vec::new(),
        }))
    }

    async fn remove_members(
        &self,
        chat_id: &str,
        user_ids: &[String],
    ) -> StoreResult<Option<MembershipChange>> {
        let mut st = self.state.lock();
        let Some(chat) = st.chats.get_mut(chat_id) else {
            return Ok(None);
        };
        let gone: HashSet<&String> = user_ids.iter().collect();
        let removed: Vec<String> = chat
            .members
            .iter()
            .filter(|m| gone.contains(m))
            .cloned()
            .collect();
        chat.members.retain(|m| !gone.contains(m));
        chat.owners.retain(|m| !gone.contains(m));
        chat.bots.retain(|m| !gone.contains(m));
        let chat = chat.clone();
        for u in &removed {
            st.index_remove(u, chat_id);
        }
        Ok(Some(MembershipChange {
            chat,
            added: Vec::new(),
            removed,
        }))
    }

    async fn is_member(&self, chat_id: &str, user_id: &str) -> StoreResult<bool> {
        Ok(self
            .state
            .lock()
            .chats
            .get(chat_id)
            .is_some_and(|c| c.is_member(user_id)))
    }

    async fn chats_of_user(&self, user_id: &str, limit: usize) -> StoreResult<Vec<String>> {
        let st = self.state.lock();
        let list = st.user_chats.get(user_id).cloned().unwrap_or_default();
        let skip = list.len().saturating_sub(limit);
        Ok(list.into_iter().skip(skip).collect())
    }

    async fn complete_chat(
        &self,
        chat_id: &str,
        completed_at: &str,
        result: Option<&serde_json::Value>,
    ) -> StoreResult<Option<(Chat, bool)>> {
        let mut st = self.state.lock();
        let Some(chat) = st
            .chats
            .get_mut(chat_id)
            .filter(|c| c.kind == crate::chat::ChatKind::Bot)
        else {
            return Ok(None);
        };
        let now = chat.completed_at.is_none();
        if now {
            chat.completed_at = Some(completed_at.to_string());
            chat.result = result.cloned();
        }
        Ok(Some((chat.clone(), now)))
    }

    async fn bot_session(&self, user_id: &str, key: &str) -> StoreResult<Option<String>> {
        let st = self.state.lock();
        Ok(st
            .bot_sessions
            .get(&(user_id.to_string(), key.to_string()))
            .cloned())
    }

    async fn set_bot_session(&self, user_id: &str, key: &str, chat_id: &str) -> StoreResult<()> {
        self.state
            .lock()
            .bot_sessions
            .insert((user_id.to_string(), key.to_string()), chat_id.to_string());
        Ok(())
    }
}
