//! `provisionerd`: the reference echo daemon. It registers with a provisioner key,
//! heartbeats, long-polls for jobs, "runs" each one for a while (a few log lines), honours
//! cancellation, and on Ctrl-C or SIGTERM fails the job in hand before it exits.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use domain::time::parse_duration;
use provisionerd::Client;
use provisionerd::echo::{EchoConfig, EchoDaemon};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "provisionerd", version, about = "Reference provisioner daemon (the echo provisioner)")]
struct Args {
    /// The server, e.g. http://127.0.0.1:3000.
    #[arg(long, env = "API_URL")]
    url: String,
    /// A provisioner key of the organization to serve.
    #[arg(long, env = "API_PROVISIONER_KEY")]
    key: String,
    /// This daemon's name, unique in the organization.
    #[arg(long, env = "API_PROVISIONER_NAME")]
    name: String,
    /// Provisioner types to offer (repeat for several).
    #[arg(long = "provisioner", default_value = "echo")]
    provisioners: Vec<String>,
    /// How long each job takes.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    job_duration: Duration,
    /// Log lines written during each job.
    #[arg(long, default_value_t = 4)]
    log_lines: u32,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        // Colours for a terminal only: log files and collectors get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, whatever the causes' own formatting.
            let text = format!("{error:#}");
            eprintln!("error: {}", text.split_whitespace().collect::<Vec<_>>().join(" "));
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let client = Client::new(&args.url, &args.key)?;
    let config = EchoConfig {
        name: args.name,
        provisioners: args.provisioners,
        job_duration: args.job_duration,
        log_lines: args.log_lines,
    };
    runtime.block_on(async {
        let daemon =
            EchoDaemon::register(client, config).await.with_context(|| format!("cannot register with {}", args.url))?;
        daemon.serve(stop_signal()).await.context("the daemon stopped on an error")
    })
}

/// Ctrl-C, or SIGTERM on Unix.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
