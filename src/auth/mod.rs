//! Authentication: JWT verification and the credentials a client presents.
//!
//! - [`Verifier`] checks a JWT against the configured keys: an HS256 secret,
//!   an RS256/ES256 public key (PEM) and/or a JWKS URL (fetched, cached,
//!   refreshed on an unknown `kid`). The algorithm is pinned per key family:
//!   `alg: none` never verifies, and an HMAC token is never checked against a
//!   public key (algorithm confusion).
//! - `connect.rs` is the Socket.IO connect middleware (PROTOCOL §1).

pub mod connect;
pub mod events;
pub mod guest;
mod jwks;

use jsonwebtoken::{
    decode, decode_header, errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header,
    Validation,
};
use serde::{Deserialize, Serialize};

use crate::config::AuthConfig;

/// Who a connection or request is, from the token's claims only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    /// The `device` claim, if any.
    pub device_id: Option<String>,
    pub name: Option<String>,
    pub role: Option<String>,
    /// `exp`, seconds since the epoch.
    pub expires_at: i64,
    /// A guest (PROTOCOL §14): its token was signed with the guest secret.
    pub guest: bool,
}

/// Why a token was refused; `code()` is the `connect_error` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("AUTH_MISSING")]
    Missing,
    #[error("AUTH_INVALID")]
    Invalid,
    #[error("AUTH_EXPIRED")]
    Expired,
}

impl AuthError {
    pub fn code(self) -> &'static str {
        match self {
            Self::Missing => "AUTH_MISSING",
            Self::Invalid => "AUTH_INVALID",
            Self::Expired => "AUTH_EXPIRED",
        }
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    #[serde(default)]
    device: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    iss: Option<String>,
}

/// Claims of a token minted by [`mint_hs256`] (development and tests).
#[derive(Debug, Serialize)]
pub struct MintClaims<'a> {
    pub sub: &'a str,
    pub exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<&'a str>,
}

/// Signs an HS256 token (the `token` subcommand, development mode, tests).
pub fn mint_hs256(secret: &str, claims: &MintClaims<'_>) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing cannot fail")
}

/// Builds and signs an HS256 token: the one place the `token` subcommand,
/// the development banner and `/dev/token` mint tokens.
#[derive(Debug)]
pub struct TokenBuilder<'a> {
    claims: MintClaims<'a>,
}

impl<'a> TokenBuilder<'a> {
    /// A token for `sub`, valid for 24 hours unless [`Self::ttl_secs`] says
    /// otherwise.
    pub fn new(sub: &'a str) -> Self {
        Self {
            claims: MintClaims {
                sub,
                exp: crate::time::now_secs() + 86_400,
                device: None,
                name: None,
                role: None,
                aud: None,
                iss: None,
            },
        }
    }

    /// Valid for `secs` from now.
    pub fn ttl_secs(mut self, secs: i64) -> Self {
        self.claims.exp = crate::time::now_secs() + secs;
        self
    }

    pub fn device(mut self, device: Option<&'a str>) -> Self {
        self.claims.device = device;
        self
    }

    pub fn name(mut self, name: Option<&'a str>) -> Self {
        self.claims.name = name;
        self
    }

    pub fn role(mut self, role: Option<&'a str>) -> Self {
        self.claims.role = role;
        self
    }

    /// The `aud` claim (an empty value is left out).
    pub fn audience(mut self, aud: Option<&'a str>) -> Self {
        self.claims.aud = aud.filter(|a| !a.is_empty());
        self
    }

    /// The `iss` claim (an empty value is left out).
    pub fn issuer(mut self, iss: Option<&'a str>) -> Self {
        self.claims.iss = iss.filter(|i| !i.is_empty());
        self
    }

    /// Signs with an HS256 secret.
    pub fn sign_hs256(&self, secret: &str) -> String {
        mint_hs256(secret, &self.claims)
    }
}

/// Longest accepted token and user id: anything longer is refused unparsed.
const MAX_TOKEN_LEN: usize = 8 * 1024;
const MAX_SUB_LEN: usize = 256;

/// Verifies JWTs against the configured keys.
pub struct Verifier {
    secret: Option<DecodingKey>,
    /// A PEM public key and the algorithms it may verify.
    public: Option<(DecodingKey, Vec<Algorithm>)>,
    jwks: Option<jwks::JwksCache>,
    audience: Vec<String>,
    issuer: Option<String>,
    leeway: u64,
    /// Set when guests are enabled.
    guests: Option<guest::GuestKeys>,
}

impl Verifier {
    /// Builds a verifier; fails when a configured key cannot be parsed.
    pub fn new(cfg: &AuthConfig) -> Result<Self, String> {
        let public = match &cfg.public_key_pem {
            Some(pem) => Some(parse_pem(pem)?),
            None => None,
        };
        Ok(Self {
            secret: cfg
                .secret
                .as_ref()
                .map(|s| DecodingKey::from_secret(s.as_bytes())),
            public,
            jwks: cfg
                .jwks_url
                .as_ref()
                .map(|u| jwks::JwksCache::new(u.clone(), cfg.jwks_refresh)),
            audience: cfg.audience.clone(),
            issuer: cfg.issuer.clone(),
            leeway: cfg.leeway_secs,
            guests: None,
        })
    }

    /// Accepts (and mints) guest tokens signed with `secret`.
    pub fn with_guests(mut self, secret: Option<&str>) -> Self {
        self.guests = secret.map(guest::GuestKeys::new);
        self
    }

    /// The guest keys, when guests are enabled.
    pub fn guests(&self) -> Option<&guest::GuestKeys> {
        self.guests.as_ref()
    }

    /// Checks signature, algorithm, `exp`, `nbf`, `aud`, `iss` and `sub`.
    pub async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(AuthError::Invalid);
        }
        let header = decode_header(token).map_err(|_| AuthError::Invalid)?;
        if header.kid.as_deref() == Some(guest::GUEST_KID) {
            return match &self.guests {
                Some(g) => g.verify(token, self.leeway),
                None => Err(AuthError::Invalid),
            };
        }
        let alg = header.alg;
        let key = match alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                self.secret.clone().ok_or(AuthError::Invalid)?
            }
            _ => {
                let from_pem = self
                    .public
                    .as_ref()
                    .filter(|(_, algs)| algs.contains(&alg))
                    .map(|(k, _)| k.clone());
                match (from_pem, &self.jwks) {
                    (Some(k), _) => k,
                    (None, Some(jwks)) => jwks
                        .key_for(header.kid.as_deref(), alg)
                        .await
                        .ok_or(AuthError::Invalid)?,
                    (None, None) => return Err(AuthError::Invalid),
                }
            }
        };
        let mut v = Validation::new(alg);
        v.algorithms = vec![alg];
        v.leeway = self.leeway;
        v.validate_nbf = true;
        v.set_required_spec_claims(&["exp", "sub"]);
        if self.audience.is_empty() {
            v.validate_aud = false;
        } else {
            v.set_audience(&self.audience);
            v.required_spec_claims.insert("aud".into());
        }
        if let Some(iss) = &self.issuer {
            v.set_issuer(&[iss]);
            v.required_spec_claims.insert("iss".into());
        }
        let data = decode::<Claims>(token, &key, &v).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            _ => AuthError::Invalid,
        })?;
        let c = data.claims;
        if c.sub.is_empty() || c.sub.len() > MAX_SUB_LEN || c.sub.chars().any(char::is_control) {
            return Err(AuthError::Invalid);
        }
        // The guest namespace is reserved: no user token may pose as a guest.
        if crate::ids::is_guest(&c.sub) || c.iss.as_deref() == Some(guest::GUEST_ISSUER) {
            return Err(AuthError::Invalid);
        }
        let device_id = c.device.filter(|d| {
            !d.is_empty() && d.len() <= MAX_SUB_LEN && !d.chars().any(char::is_control)
        });
        Ok(Identity {
            user_id: c.sub,
            device_id,
            name: c.name.map(|n| n.chars().take(MAX_SUB_LEN).collect()),
            role: c.role.map(|n| n.chars().take(MAX_SUB_LEN).collect()),
            expires_at: c.exp,
            guest: false,
        })
    }
}

/// Parses a PEM public key and returns the algorithms it may verify.
fn parse_pem(pem: &str) -> Result<(DecodingKey, Vec<Algorithm>), String> {
    if let Ok(k) = DecodingKey::from_rsa_pem(pem.as_bytes()) {
        return Ok((
            k,
            vec![
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::PS256,
                Algorithm::PS384,
                Algorithm::PS512,
            ],
        ));
    }
    if let Ok(k) = DecodingKey::from_ec_pem(pem.as_bytes()) {
        return Ok((k, vec![Algorithm::ES256, Algorithm::ES384]));
    }
    Err("SB_JWT_PUBLIC_KEY is not an RSA or EC public key in PEM format".into())
}

#[cfg(test)]
mod tests;
