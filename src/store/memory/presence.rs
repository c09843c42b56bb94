//! In memory: presence records (`PresenceStore`), mirroring `store/redis/presence.rs`.

use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::presence::{Presence, PresenceStore, Shown, Status};
use crate::store::error::StoreResult;

use super::MemoryStore;

#[async_trait]
impl PresenceStore for MemoryStore {
    async fn set_status(
        &self,
        user_id: &str,
        status: Status,
        custom: Option<Option<String>>,
    ) -> StoreResult<(Presence, bool)> {
        let mut st = self.state.lock();
        let n = st.sessions.get(user_id).map_or(0, |m| m.len());
        let rec = st.presence.entry(user_id.to_string()).or_default();
        let before = rec.presence(user_id);
        rec.status = status;
        if let Some(c) = custom {
            rec.custom = c;
        }
        rec.seen_ms = Some(crate::time::now_ms());
        rec.shown = Some(rec.visible(n));
        let after = rec.presence(user_id);
        let changed = before.status != after.status
            || (after.status != Shown::Offline && before.custom_status != after.custom_status);
        Ok((after, changed))
    }

    async fn presences(&self, user_ids: &[String]) -> StoreResult<Vec<Presence>> {
        let st = self.state.lock();
        Ok(user_ids
            .iter()
            .map(|u| st.presence.get(u).cloned().unwrap_or_default().presence(u))
            .collect())
    }

    async fn settle_due(&self, limit: usize, _lease: Duration) -> StoreResult<Vec<Presence>> {
        let now = Instant::now();
        let mut st = self.state.lock();
        let due: Vec<String> = st
            .gone
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(u, _)| u.clone())
            .take(limit)
            .collect();
        let mut out = Vec::new();
        for user in due {
            st.gone.remove(&user);
            if st.sessions.get(&user).is_some_and(|m| !m.is_empty()) {
                continue;
            }
            let rec = st.presence.entry(user.clone()).or_default();
            if rec.shown.is_some_and(|s| s != Shown::Offline) {
                rec.shown = Some(Shown::Offline);
                out.push(rec.presence(&user));
            }
        }
        Ok(out)
    }
}
