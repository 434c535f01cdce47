//! `api`: the server (`api serve`, the default) and a reference provisioner daemon
//! (`api provisionerd`).

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
    /// Run a reference provisioner daemon against a server.
    Provisionerd(api::provisionerd::ProvisionerdArgs),
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
    let json = match &cli.command {
        Some(Command::Serve(args)) => args.log_json,
        Some(Command::Provisionerd(_)) => false,
        None => cli.serve.log_json,
    };
    init_logging(json);
    let result = match cli.command {
        Some(Command::Serve(args)) => serve(args),
        Some(Command::Provisionerd(args)) => provisionerd(args),
        None => serve(cli.serve),
    };
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

fn provisionerd(args: api::provisionerd::ProvisionerdArgs) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(api::provisionerd::run(args))
}
