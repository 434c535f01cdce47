//! Project chores: `cargo xtask <task>`. With no task, lists them.

mod openapi;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        None => {
            println!("tasks:\n  openapi [--check]   write or check openapi/openapi.json");
            Ok(())
        }
        Some(Task::Openapi { check }) => openapi::run(check),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
