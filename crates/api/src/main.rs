//! `api`: the server (`api serve`, or plain `api`). The reference provisioner daemon is the
//! `provisionerd` crate's binary.

use std::process::ExitCode;

use api::{Application, ServeArgs, ServerConfig};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "api", version, about = "Coder-compatible organizations and provisioner jobs API")]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (what `api` does with no subcommand).
    Serve(ServeArgs),
}

/// Human-readable lines by default; with `json`, one JSON object per line whose fields
/// (request id, route, status, ...) sit at the top level, beside `timestamp`, `level` and
/// `message`.
fn init_logging(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        logs.json().flatten_event(true).with_current_span(true).with_span_list(false).init();
    } else {
        // Colours for a terminal only: log files and collectors get plain text.
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout())).init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Serve(args)) => args,
        None => cli.serve,
    };
    init_logging(args.log_json);
    let result = serve(args);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, whatever the cause's own formatting (libpq's messages span several).
            let text = format!("{error:#}");
            eprintln!("error: {}", text.split_whitespace().collect::<Vec<_>>().join(" "));
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let application = Application::build(ServerConfig::from(args)).await?;
        tracing::info!(address = %application.address(), "listening; Swagger UI at /swagger/");
        if let Some(address) = application.metrics_address() {
            tracing::info!(%address, "serving Prometheus metrics at / and /metrics");
        }
        application.serve_until_signal().await?;
        tracing::info!("stopped");
        Ok(())
    })
}
