//! In memory: reactions (`ReactionStore`), mirroring `store/redis/reactions.rs`.

use async_trait::async_trait;

use crate::reactions::{Change, ReactionStore, Reactions};
use crate::store::error::StoreResult;

use super::MemoryStore;

fn group(pairs: &[(String, String)]) -> Reactions {
    let mut out = Reactions::new();
    for (emoji, user) in pairs {
        out.entry(emoji.clone()).or_default().push(user.clone());
    }
    out
}

#[async_trait]
impl ReactionStore for MemoryStore {
    async fn add_reaction(
        &self,
        chat_id: &str,
        message_id: &str,
        emoji: &str,
        user_id: &str,
        max: usize,
        _ttl_secs: u64,
    ) -> StoreResult<Change> {
        let mut st = self.state.lock();
        let log = st.logs.entry(chat_id.to_string()).or_default();
        let pairs = log.reactions.entry(message_id.to_string()).or_default();
        let pair = (emoji.to_string(), user_id.to_string());
        let present = pairs.contains(&pair);
        let full = !present && pairs.len() >= max;
        let changed = !present && !full;
        if changed {
            pairs.push(pair);
        }
        Ok(Change {
            changed,
            full,
            reactions: group(pairs),
        })
    }

    async fn remove_reaction(
        &self,
        chat_id: &str,
        message_id: &str,
        emoji: &str,
        user_id: &str,
    ) -> StoreResult<Change> {
        let mut st = self.state.lock();
        let log = st.logs.entry(chat_id.to_string()).or_default();
        let pairs = log.reactions.entry(message_id.to_string()).or_default();
        let before = pairs.len();
        pairs.retain(|(e, u)| !(e == emoji && u == user_id));
        let changed = pairs.len() != before;
        let reactions = group(pairs);
        if pairs.is_empty() {
            log.reactions.remove(message_id);
        }
        Ok(Change {
            changed,
            full: false,
            reactions,
        })
    }

    async fn reactions(&self, chat_id: &str, message_id: &str) -> StoreResult<Reactions> {
        let st = self.state.lock();
        Ok(st
            .logs
            .get(chat_id)
            .and_then(|l| l.reactions.get(message_id))
            .map(|p| group(p))
            .unwrap_or_default())
    }
}
