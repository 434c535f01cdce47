//! Project chores: `cargo xtask <task>`. With no task, lists them.

mod bench;
mod chaos;
mod openapi;
mod release;
mod schemathesis;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Project chores")]
struct Cli {
    #[command(subcommand)]
    task: Option<Task>,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Write openapi/openapi.json from the code (or, with --check, fail if it differs).
    Openapi {
        #[arg(long)]
        check: bool,
    },
    /// Measure through HTTP on seeded databases (always optimised).
    #[command(subcommand)]
    Bench(bench::Bench),
    /// Inject faults and hostile input into the release server; one line per scenario.
    Chaos(chaos::ChaosArgs),
    /// Fuzz a fresh release server against its own OpenAPI document with schemathesis.
    Schemathesis(schemathesis::SchemathesisArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        None => {
            println!("tasks:");
            println!("  openapi [--check]   write openapi/openapi.json from the code, or check it is current");
            println!("  bench jobs          the job routes at scale (see --help)");
            println!("  bench acquire       acquisitions per second with concurrent daemons");
            println!("  bench login-flood   a reader's latency and the server's memory under a wrong-password flood");
            println!("  chaos [--quick]     faults and hostile input against the release server (see --help)");
            println!("  schemathesis        fuzz a fresh release server against its OpenAPI document (see --help)");
            Ok(())
        }
        Some(Task::Openapi { check }) => openapi::run(check),
        Some(Task::Bench(bench)) => bench::run(bench),
        Some(Task::Chaos(args)) => match chaos::run(args) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(error) => Err(error),
        },
        Some(Task::Schemathesis(args)) => schemathesis::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
