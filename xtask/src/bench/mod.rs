//! `cargo xtask bench jobs|acquire|login-flood|http`: seeds a database, starts the real
//! server, and measures through HTTP (`http` also starts a minimal server to compare with).
//! Always measured in an optimised build: a debug `cargo xtask` re-runs itself with `--release`.

mod acquire;
mod http;
mod jobs;
mod login_flood;
mod process;
mod world;

use std::process::Command;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};

#[derive(Debug, Clone, Subcommand)]
pub enum Bench {
    /// The job list and single-job routes at scale (default: 100 000 jobs, 2 000 pending, 20 daemons),
    /// with the server's peak memory per scenario.
    Jobs(JobsArgs),
    /// Acquisitions per second with concurrent daemons.
    Acquire(AcquireArgs),
    /// A reader's latency and the server's memory while many clients send wrong-password logins.
    LoginFlood(LoginFloodArgs),
    /// Requests per second on an authenticated organization read, against a minimal
    /// actix-web + diesel server doing only that route's one `SELECT` on the same database.
    Http(HttpArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    Sqlite,
    Postgres,
    /// Both, PostgreSQL if it can be reached.
    All,
}

#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Which database to measure.
    #[arg(long, value_enum, default_value = "all")]
    pub backend: BackendChoice,
    /// PostgreSQL server to create a throw-away database on.
    #[arg(long, env = "TEST_DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub postgres_url: String,
}

#[derive(Debug, Clone, Args)]
pub struct JobsArgs {
    #[command(flatten)]
    pub common: Common,
    #[arg(long, default_value_t = 100_000)]
    pub jobs: usize,
    /// Pending jobs, newest of all; several depths give one table: `--pending 2000,20000,100000`.
    /// The history grows to at least the deepest queue.
    #[arg(long, value_delimiter = ',', default_value = "2000")]
    pub pending: Vec<usize>,
    #[arg(long, default_value_t = 20)]
    pub daemons: usize,
    /// Requests per scenario (the unlimited list gets a tenth).
    #[arg(long, default_value_t = 200)]
    pub iterations: usize,
}

#[derive(Debug, Clone, Args)]
pub struct AcquireArgs {
    #[command(flatten)]
    pub common: Common,
    #[arg(long, default_value_t = 2_000)]
    pub jobs: usize,
    #[arg(long, default_value_t = 8)]
    pub daemons: usize,
    /// Also drain the queue with this many servers on one PostgreSQL database, the daemons
    /// spread over them, and compare with one server.
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
}

#[derive(Debug, Clone, Args)]
pub struct LoginFloodArgs {
    #[command(flatten)]
    pub common: Common,
    /// Concurrent clients sending wrong-password logins.
    #[arg(long, default_value_t = 200)]
    pub clients: usize,
    /// How long the flood lasts.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// How long the reader is measured alone first.
    #[arg(long, default_value_t = 10)]
    pub baseline_seconds: u64,
}

#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    #[command(flatten)]
    pub common: Common,
    /// Concurrent keep-alive connections, each sending its next request as soon as it has
    /// the previous answer.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Measured seconds per round and server.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Seconds of load before each measurement, not counted.
    #[arg(long, default_value_t = 1)]
    pub warm_up_seconds: u64,
    /// Rounds; each measures the minimal server, then the real one.
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
}

pub fn run(bench: Bench) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        return rerun_optimised();
    }
    match bench {
        Bench::Jobs(args) => jobs::run(&args),
        Bench::Acquire(args) => acquire::run(&args),
        Bench::LoginFlood(args) => login_flood::run(&args),
        Bench::Http(args) => http::run(&args),
    }
}

/// Timing a debug build would measure the compiler's output, not the design.
fn rerun_optimised() -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("(building and running the benchmark optimised: cargo run --release -p xtask)");
    let status = Command::new(cargo)
        .args(["run", "--quiet", "--release", "--package", "xtask", "--"])
        .args(std::env::args().skip(1))
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("the optimised benchmark failed");
    }
    Ok(())
}

/// Median and 95th percentile of durations, in milliseconds.
pub fn summary(mut samples: Vec<std::time::Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| {
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    (at(0.5), at(0.95))
}
