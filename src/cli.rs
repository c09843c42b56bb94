//! The command line: `switchboard [--flag value]...` runs a node; every flag
//! is also an `SB_*` variable (see `config.rs`). `switchboard token` mints a
//! development token; `switchboard env-example` prints `.env.example`.

use std::collections::HashMap;

use clap::{Arg, ArgAction, Command};

use crate::config::VARS;

/// What the command line asked for.
pub enum Invocation {
    /// Run a node with these `SB_*` values (flags override the environment).
    Serve(HashMap<String, String>),
    /// Print a token signed with `SB_JWT_SECRET`.
    Token {
        values: HashMap<String, String>,
        sub: String,
        ttl_secs: i64,
        device: Option<String>,
        name: Option<String>,
        role: Option<String>,
    },
    /// Print `.env.example`.
    EnvExample,
    /// GET a URL on this machine; exit 0 on a 2xx answer (the image's
    /// HEALTHCHECK: distroless has no shell or curl).
    Probe { url: String },
}

/// The clap command built from the variable table.
pub fn command() -> Command {
    let mut cmd = Command::new("switchboard")
        .version(env!("CARGO_PKG_VERSION"))
        .about("A horizontally scalable Socket.IO messaging gateway")
        .after_help(
            "Every option is also read from the environment variable shown.\n\
             With no configuration at all, a development node starts on port 3000\n\
             with an in-memory store and a generated JWT secret.",
        );
    for v in VARS.iter() {
        let mut arg = Arg::new(v.env)
            .long(Box::leak(v.flag().into_boxed_str()) as &'static str)
            .env(v.env)
            .value_name("VALUE")
            .action(ArgAction::Set)
            .global(true)
            .help(v.help.to_string());
        if !v.default.is_empty() {
            arg = arg.default_value(v.default);
        }
        if sensitive(v.env) {
            arg = arg.hide_env_values(true);
        }
        cmd = cmd.arg(arg);
    }
    cmd.subcommand(
        Command::new("token")
            .about("Print a JWT for a user, signed with SB_JWT_SECRET (development, tests)")
            .arg(Arg::new("sub").long("sub").required(true).help("User id"))
            .arg(
                Arg::new("ttl")
                    .long("ttl")
                    .default_value("86400")
                    .value_parser(clap::value_parser!(i64))
                    .help("Lifetime in seconds"),
            )
            .arg(Arg::new("device").long("device").help("device claim"))
            .arg(Arg::new("name").long("name").help("name claim"))
            .arg(Arg::new("role").long("role").help("role claim")),
    )
    .subcommand(Command::new("env-example").about("Print .env.example (every variable)"))
    .subcommand(
        Command::new("probe")
            .about("GET a local URL, exit 0 on 2xx (container health checks)")
            .arg(
                Arg::new("url")
                    .long("url")
                    .default_value("http://127.0.0.1:9090/health")
                    .help("http://HOST:PORT/PATH"),
            ),
    )
}

/// `switchboard probe`: a plain HTTP/1.0 GET with a 2 s timeout; `true` on
/// a 2xx status.
pub fn probe(url: &str) -> Result<(), String> {
    use std::io::{Read, Write};
    use std::net::{TcpStream, ToSocketAddrs};
    use std::time::Duration;
    let rest = url
        .strip_prefix("http://")
        .ok_or("the URL must start with http://")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let addr = host
        .to_socket_addrs()
        .map_err(|e| format!("{host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}: no address"))?;
    let timeout = Duration::from_secs(2);
    let mut tcp = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    write!(tcp, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut head = [0u8; 16];
    let n = tcp.read(&mut head).map_err(|e| e.to_string())?;
    let status = std::str::from_utf8(&head[..n])
        .ok()
        .and_then(|s| s.split(' ').nth(1))
        .unwrap_or("");
    if status.starts_with('2') {
        Ok(())
    } else {
        Err(format!("{url}: status {status:?}"))
    }
}

/// Parses the process arguments.
pub fn parse() -> Invocation {
    from_matches(command().get_matches())
}

fn from_matches(m: clap::ArgMatches) -> Invocation {
    let values = |m: &clap::ArgMatches| -> HashMap<String, String> {
        VARS.iter()
            .filter_map(|v| {
                m.get_one::<String>(v.env)
                    .map(|s| (v.env.to_string(), s.clone()))
            })
            .collect()
    };
    match m.subcommand() {
        Some(("token", sub)) => Invocation::Token {
            values: values(&m),
            sub: sub.get_one::<String>("sub").cloned().unwrap_or_default(),
            ttl_secs: sub.get_one::<i64>("ttl").copied().unwrap_or(86400),
            device: sub.get_one::<String>("device").cloned(),
            name: sub.get_one::<String>("name").cloned(),
            role: sub.get_one::<String>("role").cloned(),
        },
        Some(("env-example", _)) => Invocation::EnvExample,
        Some(("probe", sub)) => Invocation::Probe {
            url: sub.get_one::<String>("url").cloned().unwrap_or_default(),
        },
        _ => Invocation::Serve(values(&m)),
    }
}

/// Variables whose value `--help` must not print: secrets and keys, and
/// URLs (a Redis or webhook URL may carry a password or a token).
fn sensitive(env: &str) -> bool {
    ["SECRET", "KEY", "PASSWORD", "TOKEN", "HEADERS"]
        .iter()
        .any(|w| env.contains(w))
        || env.ends_with("_URL")
        || env.ends_with("ENDPOINT")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--help` shows `[env: NAME=value]` for a set variable: never for a
    /// secret, a key or a URL that may hold a password.
    #[test]
    fn help_never_prints_a_secret_from_the_environment() {
        for name in [
            "SB_API_KEY",
            "SB_ADMIN_KEY",
            "SB_JWT_SECRET",
            "SB_WEBHOOK_SECRET",
            "SB_REDIS_URL",
            "SB_WEBHOOK_URL",
        ] {
            assert!(VARS.iter().any(|v| v.env == name), "{name}");
            let cmd = command();
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_id().as_str() == name)
                .unwrap();
            assert!(arg.is_hide_env_values_set(), "{name} would be printed");
        }
        let cmd = command();
        let port = cmd
            .get_arguments()
            .find(|a| a.get_id().as_str() == "SB_PORT")
            .unwrap();
        assert!(!port.is_hide_env_values_set(), "plain settings still show");
    }

    #[test]
    fn help_lists_every_variable_and_flag() {
        let help = command().render_long_help().to_string();
        for v in VARS.iter() {
            assert!(help.contains(v.env), "--help lacks {}", v.env);
            assert!(
                help.contains(&format!("--{}", v.flag())),
                "--help lacks --{}",
                v.flag()
            );
        }
    }

    #[test]
    fn flags_override_defaults() {
        let m = command()
            .try_get_matches_from(["switchboard", "--port", "4000", "--redis-prefix", "x:"])
            .unwrap();
        let Invocation::Serve(values) = from_matches(m) else {
            panic!("expected serve")
        };
        assert_eq!(values["SB_PORT"], "4000");
        assert_eq!(values["SB_REDIS_PREFIX"], "x:");
        let cfg = crate::config::Config::from_values(&values).unwrap();
        assert_eq!(cfg.server.port, 4000);
    }
}
