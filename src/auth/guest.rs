//! Guest tokens (PROTOCOL §14): minted by `POST /api/v1/guest-sessions`,
//! signed with `SB_GUEST_SECRET` (never the identity provider's keys),
//! and told apart from user tokens before any key is tried: the header's
//! `kid` is [`GUEST_KID`] and the claims carry `iss`/`aud` [`GUEST_ISSUER`].
//! A token with that `kid` is verified with the guest secret only; any
//! other is verified as a user token and refused if it claims the guest
//! issuer or a `guest_` subject. So neither can pass as the other.

use jsonwebtoken::{decode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{AuthError, Identity};

/// The `kid` of every guest token's header.
pub const GUEST_KID: &str = "switchboard-guest";
/// The `iss` and `aud` of every guest token.
pub const GUEST_ISSUER: &str = "switchboard:guest";
/// The `role` claim of a guest.
pub const GUEST_ROLE: &str = "guest";

#[derive(Debug, Serialize, Deserialize)]
struct GuestClaims {
    sub: String,
    exp: i64,
    iat: i64,
    iss: String,
    aud: String,
    role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

/// The guest half of the verifier: the secret, for signing and checking.
pub struct GuestKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl GuestKeys {
    pub fn new(secret: &str) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
        }
    }

    /// A new guest: a fresh `guest_<random>` id and its token, valid for
    /// `ttl_secs`. Returns (user id, token, exp).
    pub fn mint(&self, name: Option<&str>, ttl_secs: i64) -> (String, String, i64) {
        let user_id = format!(
            "{}{}",
            crate::ids::GUEST_PREFIX,
            uuid::Uuid::new_v4().simple()
        );
        let now = crate::time::now_secs();
        let claims = GuestClaims {
            sub: user_id.clone(),
            exp: now + ttl_secs,
            iat: now,
            iss: GUEST_ISSUER.into(),
            aud: GUEST_ISSUER.into(),
            role: GUEST_ROLE.into(),
            name: name.map(str::to_string),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(GUEST_KID.into());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .expect("HS256 signing cannot fail");
        (user_id, token, claims.exp)
    }

    /// Verifies a token whose header names the guest key.
    pub fn verify(&self, token: &str, leeway: u64) -> Result<Identity, AuthError> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = leeway;
        v.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        v.set_issuer(&[GUEST_ISSUER]);
        v.set_audience(&[GUEST_ISSUER]);
        let c = decode::<GuestClaims>(token, &self.decoding, &v)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })?
            .claims;
        if !crate::ids::is_guest(&c.sub) || c.sub.len() > 64 || c.role != GUEST_ROLE {
            return Err(AuthError::Invalid);
        }
        Ok(Identity {
            user_id: c.sub,
            device_id: None,
            name: c.name.map(|n| n.chars().take(super::MAX_SUB_LEN).collect()),
            role: Some(c.role),
            expires_at: c.exp,
            guest: true,
        })
    }
}
