//! `switchboard`: config → telemetry → server::run(listener, shutdown).

use std::io::Write;
use std::process::ExitCode;

use switchboard::auth::TokenBuilder;
use switchboard::cli::{self, Invocation};
use switchboard::config::{env_example, Config};
use switchboard::telemetry::traces;

fn main() -> ExitCode {
    let values = match cli::parse() {
        Invocation::EnvExample => {
            // `switchboard env-example | head` closes the pipe early: not a
            // panic (print! would), just the end.
            let _ = std::io::stdout().write_all(env_example().as_bytes());
            return ExitCode::SUCCESS;
        }
        Invocation::Probe { url } => {
            return match cli::probe(&url) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            };
        }
        Invocation::Token {
            values,
            sub,
            ttl_secs,
            device,
            name,
            role,
        } => {
            let Some(secret) = values.get("SB_JWT_SECRET").filter(|s| !s.is_empty()) else {
                eprintln!(
                    "switchboard token needs SB_JWT_SECRET (in development mode without it, \
                     use the tokens printed at start-up or GET /dev/token?sub=...)"
                );
                return ExitCode::from(2);
            };
            let token = TokenBuilder::new(&sub)
                .ttl_secs(ttl_secs)
                .device(device.as_deref())
                .name(name.as_deref())
                .role(role.as_deref())
                .audience(values.get("SB_JWT_AUDIENCE").map(|s| s.as_str()))
                .issuer(values.get("SB_JWT_ISSUER").map(|s| s.as_str()))
                .sign_hs256(secret);
            let _ = writeln!(std::io::stdout(), "{token}");
            return ExitCode::SUCCESS;
        }
        Invocation::Serve(values) => values,
    };
    let config = match Config::from_values(&values) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let otel_env: std::collections::HashMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("OTEL_"))
        .collect();
    let protocol = match traces::wanted(&otel_env) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let tracing = match protocol {
        None => None,
        Some(p) => {
            // gRPC (tonic) needs the runtime's context; HTTP must be built
            // outside it (its client blocks).
            let _context = (p == traces::Protocol::Grpc).then(|| runtime.enter());
            let node = &config.server.node_id;
            match traces::start(p, node, config.telemetry.trace_user_ids) {
                Ok(t) => Some(t),
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            }
        }
    };
    switchboard::telemetry::logs::set_node_id(&config.server.node_id);
    switchboard::telemetry::init(&config.telemetry, tracing.as_ref());
    if tracing.is_some() {
        tracing::info!(protocol = ?protocol, "exporting traces over OTLP");
    }
    let code = runtime.block_on(async move {
        let addr = (config.server.host, config.server.port);
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("cannot listen on {}:{}: {e}", addr.0, addr.1);
                return ExitCode::from(1);
            }
        };
        tracing::info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "listening");
        match switchboard::server::run(listener, config, switchboard::shutdown::signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("server error: {e}");
                ExitCode::from(1)
            }
        }
    });
    if let Some(t) = &tracing {
        t.shutdown();
    }
    code
}
