//! Offline queues of user events on Redis.
//!
//! | key | type | content | TTL |
//! | --- | --- | --- | --- |
//! | `P{u:ID}:inbox` | list | queued `{ event, data }` JSON, oldest first | `SB_INBOX_TTL_SECS`, renewed on push |

use std::sync::LazyLock;

use async_trait::async_trait;
use fred::prelude::*;
use fred::types::scripts::Script;

use super::{key_id, map_err, parse_all, RedisStore};
use crate::inbox::{InboxStore, Queued};
use crate::store::error::{StoreError, StoreResult};

/// KEYS: inbox. Takes every item.
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local all = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return all
"#,
    )
});

impl RedisStore {
    fn inbox_key(&self, user: &str) -> String {
        format!("{}{{u:{}}}:inbox", self.prefix, key_id(user))
    }
}

#[async_trait]
impl InboxStore for RedisStore {
    async fn push_inbox(
        &self,
        user_id: &str,
        item: &Queued,
        max: usize,
        ttl_secs: u64,
    ) -> StoreResult<()> {
        let body = serde_json::to_string(item).map_err(|e| StoreError::Internal(e.to_string()))?;
        let key = self.inbox_key(user_id);
        let p = self.client.pipeline();
        let _: () = p.rpush(&key, body).await.map_err(map_err)?;
        let _: () = p.ltrim(&key, -(max as i64), -1).await.map_err(map_err)?;
        let _: () = p
            .expire(&key, ttl_secs as i64, None)
            .await
            .map_err(map_err)?;
        let _: Vec<Value> = p.all().await.map_err(map_err)?;
        Ok(())
    }

    async fn take_inbox(&self, user_id: &str) -> StoreResult<Vec<Queued>> {
        let all: Vec<String> = self
            .eval(&TAKE, vec![self.inbox_key(user_id)], vec![])
            .await?;
        Ok(parse_all(&all))
    }
}
