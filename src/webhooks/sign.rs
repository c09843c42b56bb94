//! `X-Switchboard-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const HEADER: &str = "x-switchboard-signature";

fn mac(secret: &str, t: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// The header value for `body` signed at `t` (unix seconds).
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let sig = mac(secret, t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(sig))
}

/// Why a signature was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing or malformed X-Switchboard-Signature (expected t=<unix>,v1=<hex>)")]
    Malformed,
    #[error("the signature timestamp is outside the allowed window")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks a header against `body`: the timestamp within `tolerance_secs` of
/// `now`, and one of its `v1` values matching (compared in constant time).
pub fn verify(
    secret: &str,
    header: Option<&str>,
    body: &[u8],
    tolerance_secs: u64,
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Malformed)?;
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if sigs.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if now.abs_diff(t) > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    if sigs
        .iter()
        .any(|s| mac(secret, t, body).verify_slice(s).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_round_trip_and_refusals() {
        let h = sign("secret", 1000, b"{}");
        assert!(h.starts_with("t=1000,v1="));
        assert_eq!(verify("secret", Some(&h), b"{}", 300, 1100), Ok(()));
        assert_eq!(
            verify("secret", Some(&h), b"{ }", 300, 1100),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("other", Some(&h), b"{}", 300, 1100),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("secret", Some(&h), b"{}", 300, 1400),
            Err(SignatureError::Stale)
        );
        for bad in ["", "t=1", "v1=00", "t=x,v1=00", "t=1000,v1=zz"] {
            assert_eq!(
                verify("secret", Some(bad), b"{}", 300, 1000),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(
            verify("secret", None, b"{}", 300, 1000),
            Err(SignatureError::Malformed)
        );
        // A known vector: HMAC-SHA256("key", "0.body").
        let v = sign("key", 0, b"body");
        let expect = {
            let mut m = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
            m.update(b"0.body");
            hex::encode(m.finalize().into_bytes())
        };
        assert_eq!(v, format!("t=0,v1={expect}"));
    }
}
