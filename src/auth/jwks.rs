//! A cached JWKS key set, fetched with reqwest and refreshed when a token
//! names a `kid` the cache does not know (at most once per refresh interval,
//! so unknown kids cannot make us hammer the identity provider).

use std::time::{Duration, Instant};

use jsonwebtoken::{jwk::JwkSet, Algorithm, DecodingKey};
use tokio::sync::Mutex;

pub(super) struct JwksCache {
    url: String,
    min_refresh: Duration,
    http: reqwest::Client,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    set: Option<JwkSet>,
    fetched_at: Option<Instant>,
}

impl JwksCache {
    pub(super) fn new(url: String, min_refresh: Duration) -> Self {
        Self {
            url,
            min_refresh,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("reqwest client"),
            state: Mutex::new(State::default()),
        }
    }

    /// The key for `kid` (or the only key when the token has no kid) that
    /// may verify `alg`.
    pub(super) async fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Option<DecodingKey> {
        let mut st = self.state.lock().await;
        if let Some(k) = st.set.as_ref().and_then(|s| pick(s, kid, alg)) {
            return Some(k);
        }
        let due = st
            .fetched_at
            .is_none_or(|t| t.elapsed() >= self.min_refresh);
        if !due {
            return None;
        }
        st.fetched_at = Some(Instant::now());
        match self.fetch().await {
            Ok(set) => st.set = Some(set),
            Err(e) => tracing::warn!(url = %self.url, error = %e, "JWKS fetch failed"),
        }
        st.set.as_ref().and_then(|s| pick(s, kid, alg))
    }

    async fn fetch(&self) -> Result<JwkSet, reqwest::Error> {
        self.http
            .get(&self.url)
            .send()
            .await?
            .error_for_status()?
            .json::<JwkSet>()
            .await
    }
}

fn pick(set: &JwkSet, kid: Option<&str>, alg: Algorithm) -> Option<DecodingKey> {
    let jwk = match kid {
        Some(kid) => set.find(kid)?,
        None if set.keys.len() == 1 => &set.keys[0],
        None => return None,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    // Pin the algorithm to the key's family (and to the declared alg when
    // the JWK names one): an RSA key never verifies an HMAC token.
    if key.family() != alg.family() {
        return None;
    }
    if let Some(declared) = jwk.common.key_algorithm {
        if format!("{declared:?}") != format!("{alg:?}") {
            return None;
        }
    }
    Some(key)
}
