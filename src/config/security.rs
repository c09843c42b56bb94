//! Who may do what: the HTTP API keys, trusted proxies, browser origins and
//! the per-user connection bounds.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use super::reader::Reader;

#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub api_key: Option<String>,
    pub admin_key: Option<String>,
    /// Serve the admin console at `/admin/ui/` (only with an admin key).
    pub admin_ui: bool,
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct SecurityConfig {
    pub trusted_proxies: Vec<Cidr>,
    pub max_connections_per_user: usize,
    pub max_chats_per_socket: usize,
    /// Empty: any origin (and no CORS headers).
    pub allowed_origins: Vec<String>,
    pub token_warning: Duration,
}

/// An IP network, `10.0.0.0/8` or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let net: IpAddr = addr.parse().map_err(|_| "not an IP address".to_string())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or("bad prefix length")?,
            None => max,
        };
        Ok(Cidr { net, bits })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.net, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            _ => ip,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(n) & mask == u32::from(i) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(i) & mask
            }
            _ => false,
        }
    }
}

pub(super) fn read_api(r: &mut Reader) -> ApiConfig {
    let api = ApiConfig {
        api_key: r.opt("SB_API_KEY"),
        admin_key: r.opt("SB_ADMIN_KEY"),
        admin_ui: r.parse::<bool>("SB_ADMIN_UI", "true or false"),
        max_body_bytes: r.ranged("SB_API_MAX_BODY_BYTES") as usize,
    };
    for (env, key) in [
        ("SB_API_KEY", &api.api_key),
        ("SB_ADMIN_KEY", &api.admin_key),
    ] {
        if key.as_ref().is_some_and(|k| k.len() < 16) {
            r.error(format!("{env} must be at least 16 characters"));
        }
    }
    api
}

pub(super) fn read_security(r: &mut Reader) -> SecurityConfig {
    let mut trusted_proxies = Vec::new();
    for p in r.list("SB_TRUSTED_PROXIES") {
        match p.parse() {
            Ok(c) => trusted_proxies.push(c),
            Err(e) => r.error(format!("SB_TRUSTED_PROXIES: {p:?}: {e}")),
        }
    }
    let allowed_origins = r.list("SB_ALLOWED_ORIGINS");
    for o in &allowed_origins {
        if !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/') {
            r.error(format!(
                "SB_ALLOWED_ORIGINS: {o:?} is not an origin (scheme://host[:port], no path)"
            ));
        }
    }
    SecurityConfig {
        trusted_proxies,
        max_connections_per_user: r.ranged("SB_MAX_CONNECTIONS_PER_USER") as usize,
        max_chats_per_socket: r.ranged("SB_MAX_CHATS_PER_SOCKET") as usize,
        allowed_origins,
        token_warning: r.secs("SB_TOKEN_EXPIRY_WARNING_SECS"),
    }
}
