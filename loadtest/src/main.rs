//! `switchboard-loadtest`: run one scenario and print its report.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use switchboard_loadtest::client::Target;
use switchboard_loadtest::scenarios;

#[derive(Parser)]
#[command(
    name = "switchboard-loadtest",
    version,
    about = "Socket.IO load generator for Switchboard"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Args)]
struct Common {
    /// Node base URL; repeat to spread clients over several nodes.
    #[arg(long = "url", default_value = "http://127.0.0.1:3000", global = true)]
    urls: Vec<String>,
    /// Local source address; repeat (127.0.0.1, 127.0.0.2, …) to pass the
    /// ~28k ephemeral ports of one address pair.
    #[arg(long = "source-ip", global = true)]
    sources: Vec<IpAddr>,
    /// HS256 secret the nodes accept.
    #[arg(
        long,
        env = "SB_JWT_SECRET",
        global = true,
        hide_env_values = true,
        default_value = ""
    )]
    secret: String,
    /// Print the report as one JSON object.
    #[arg(long, global = true)]
    json: bool,
    /// No live progress line.
    #[arg(long, global = true)]
    quiet: bool,
    /// Exit non-zero when errors exceed this fraction of attempts.
    #[arg(long, default_value_t = 0.001, global = true)]
    max_error_rate: f64,
    /// Connections opened per second while setting up.
    #[arg(long, default_value_t = 2000.0, global = true)]
    connect_rate: f64,
}

#[derive(Subcommand)]
enum Scenario {
    /// Ramp N connections at a rate: time-to-N and handshake latency.
    Connect {
        #[arg(long, default_value_t = 1000)]
        n: usize,
    },
    /// Hold N connections for a duration.
    Idle {
        #[arg(long, default_value_t = 1000)]
        n: usize,
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
    /// R chats of M members, P publishes per second in total.
    Fanout {
        #[arg(long, default_value_t = 1)]
        rooms: usize,
        #[arg(long, default_value_t = 100)]
        members: usize,
        #[arg(long, default_value_t = 100.0)]
        rate: f64,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Pairs exchanging acked messages at a total rate.
    Direct {
        #[arg(long, default_value_t = 100)]
        pairs: usize,
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Users each in a chat with a bot; the nodes' webhooks go to a
    /// built-in automation backend that verifies signatures and replies.
    /// Round trip user → webhook → reply → user, open loop.
    Bot {
        #[arg(long, default_value_t = 200)]
        users: usize,
        #[arg(long, default_value_t = 500.0)]
        rate: f64,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// The nodes' SB_API_KEY (chats are created over HTTP).
        #[arg(long, env = "SB_API_KEY", hide_env_values = true)]
        api_key: String,
        /// The nodes' SB_ADMIN_KEY, to sample the webhook queue.
        #[arg(long, env = "SB_ADMIN_KEY", hide_env_values = true)]
        admin_key: Option<String>,
        /// The nodes' SB_WEBHOOK_SECRET.
        #[arg(long, env = "SB_WEBHOOK_SECRET", hide_env_values = true)]
        webhook_secret: String,
        /// Where the backend listens (SB_WEBHOOK_URL=http://ADDR/hook).
        #[arg(long, default_value = "127.0.0.1:3900")]
        listen: std::net::SocketAddr,
        /// The backend answers after this delay.
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
        /// Share of requests the backend answers 503 (0 to 1).
        #[arg(long, default_value_t = 0.0)]
        error_rate: f64,
        #[arg(long, default_value = "lt-bot")]
        bot_id: String,
    },
    /// Connect/disconnect loops.
    Churn {
        #[arg(long, default_value_t = 20)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let c = cli.common;
    if c.secret.is_empty() {
        eprintln!("set --secret or SB_JWT_SECRET to the nodes' HS256 secret");
        return ExitCode::from(2);
    }
    let target = Target {
        urls: c.urls,
        sources: c.sources,
        secret: c.secret,
        run_id: format!(
            "{:x}",
            std::process::id() as u64
                ^ std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0)
        ),
    };
    let progress = !c.quiet;
    let secs = Duration::from_secs;
    let report = match cli.scenario {
        Scenario::Connect { n } => scenarios::connect(&target, n, c.connect_rate, progress).await,
        Scenario::Idle { n, seconds } => {
            scenarios::idle(&target, n, c.connect_rate, secs(seconds), progress).await
        }
        Scenario::Fanout {
            rooms,
            members,
            rate,
            seconds,
        } => {
            scenarios::fanout(
                &target,
                rooms,
                members,
                rate,
                secs(seconds),
                c.connect_rate,
                progress,
            )
            .await
        }
        Scenario::Direct {
            pairs,
            rate,
            seconds,
        } => {
            scenarios::direct(
                &target,
                pairs,
                rate,
                secs(seconds),
                c.connect_rate,
                progress,
            )
            .await
        }
        Scenario::Bot {
            users,
            rate,
            seconds,
            api_key,
            admin_key,
            webhook_secret,
            listen,
            delay_ms,
            error_rate,
            bot_id,
        } => {
            let run = switchboard_loadtest::bot::BotRun {
                users,
                rate,
                duration: secs(seconds),
                api_key,
                admin_key,
                bot_id,
                backend: switchboard_loadtest::bot::Backend {
                    listen,
                    secret: webhook_secret,
                    delay: Duration::from_millis(delay_ms),
                    error_rate,
                },
                connect_rate: c.connect_rate,
                progress,
            };
            switchboard_loadtest::bot::bot(&target, run).await
        }
        Scenario::Churn {
            concurrency,
            seconds,
        } => scenarios::churn(&target, concurrency, secs(seconds)).await,
    };
    if c.json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        print!("{}", report.table());
    }
    if report.error_rate() > c.max_error_rate {
        eprintln!(
            "error rate {:.4} exceeds {}",
            report.error_rate(),
            c.max_error_rate
        );
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
