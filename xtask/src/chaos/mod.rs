//! `cargo xtask chaos`: faults and hostile input against the release `api` binary, treated
//! as a black box over HTTP. One line per scenario, then `N/M scenarios held`; the exit code
//! is non-zero when any did not hold.
//!
//! Scenarios: `kill` (kill -9 under load, three times, on each backend), `outage`
//! (PostgreSQL stopped and started under load, on a private cluster), `replicas` (three
//! servers on one PostgreSQL database), `nul` (NUL bytes in every text field and path
//! segment, on each backend), `slow-body`, `login-flood` and `list-flood` (memory).

mod cleanup;
mod db;
mod hostile;
mod http;
mod judge;
mod kill;
mod load;
mod memory;
mod net;
mod outage;
mod replicas;
mod server;
mod slow_body;
mod tenant;
mod wake;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use db::Engine;
use server::ApiBinary;

#[derive(Debug, Clone, Args)]
pub struct ChaosArgs {
    /// The bounded run (a couple of minutes): shorter loads, fewer jobs. What `.ci/run` runs.
    #[arg(long, alias = "bounded")]
    pub quick: bool,
    /// Scenarios to run (repeat or separate with commas); all by default.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub scenario: Vec<ScenarioKind>,
    /// Backends to run on; PostgreSQL-only scenarios are left out with `sqlite`.
    #[arg(long, value_enum, default_value = "all")]
    pub backend: BackendChoice,
    /// Shared PostgreSQL server for throw-away databases (never stopped: the outage
    /// scenario starts a private cluster of its own).
    #[arg(long, env = "TEST_DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub postgres_url: String,
    /// The server binary to test; by default the workspace's `api`, built with --release.
    #[arg(long)]
    pub api_bin: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScenarioKind {
    Kill,
    Outage,
    Replicas,
    Nul,
    SlowBody,
    LoginFlood,
    ListFlood,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    Sqlite,
    Postgres,
    All,
}

/// What a scenario found: a summary, and everything that broke a rule (empty: it held).
#[derive(Debug, Default)]
pub struct Outcome {
    pub summary: String,
    pub problems: Vec<String>,
    /// Things worth knowing that are not a verdict.
    pub notes: Vec<String>,
}

impl Outcome {
    fn could_not_run(why: String) -> Self {
        Self { summary: "could not run".into(), problems: vec![why], notes: Vec::new() }
    }
}

/// What every scenario gets.
pub struct Context {
    pub binary: ApiBinary,
    pub quick: bool,
    pub postgres_url: String,
    run_dir: PathBuf,
    /// Flags every server gets (see `base_flags`).
    pub base_flags: Vec<String>,
    /// The server's database pool timeout: how long a request may wait for a connection.
    pub pool_timeout: Duration,
}

impl Context {
    /// Where a scenario keeps its logs and SQLite files (kept after the run, for reading).
    pub fn dir(&self, name: &str) -> PathBuf {
        self.run_dir.join(name)
    }

    /// `base_flags` plus `extra`.
    pub fn flags(&self, extra: &[&str]) -> Vec<String> {
        self.base_flags.iter().cloned().chain(extra.iter().map(|s| (*s).to_owned())).collect()
    }
}

type Run = Box<dyn FnOnce(&Context) -> anyhow::Result<Outcome>>;

struct Scenario {
    name: String,
    run: Run,
}

fn plan(args: &ChaosArgs) -> Vec<Scenario> {
    let engines: Vec<Engine> = match args.backend {
        BackendChoice::Sqlite => vec![Engine::Sqlite],
        BackendChoice::Postgres => vec![Engine::Postgres],
        BackendChoice::All => vec![Engine::Sqlite, Engine::Postgres],
    };
    let has_postgres = engines.contains(&Engine::Postgres);
    let wanted = |kind| args.scenario.is_empty() || args.scenario.contains(&kind);
    let mut scenarios = Vec::new();
    let mut add = |name: String, run: Run| scenarios.push(Scenario { name, run });
    if wanted(ScenarioKind::Kill) {
        for &engine in &engines {
            add(format!("kill -9 under load · {}", engine.name()), Box::new(move |cx| kill::run(cx, engine)));
        }
    }
    if wanted(ScenarioKind::Outage) && has_postgres {
        add("postgres stopped under load · private cluster".into(), Box::new(outage::run));
    }
    if wanted(ScenarioKind::Replicas) && has_postgres {
        add("3 replicas on one database · postgres".into(), Box::new(replicas::run));
    }
    if wanted(ScenarioKind::Nul) {
        for &engine in &engines {
            add(
                format!("NUL bytes in text and paths · {}", engine.name()),
                Box::new(move |cx| hostile::run(cx, engine)),
            );
        }
    }
    // These are about the HTTP layer and memory, not the database: one backend is enough.
    let engine = engines[0];
    if wanted(ScenarioKind::SlowBody) {
        add(format!("slow request bodies · {}", engine.name()), Box::new(move |cx| slow_body::run(cx, engine)));
    }
    if wanted(ScenarioKind::LoginFlood) {
        add(format!("login flood, memory · {}", engine.name()), Box::new(move |cx| memory::login_flood(cx, engine)));
    }
    if wanted(ScenarioKind::ListFlood) {
        add(
            format!("unlimited job lists, memory · {}", engine.name()),
            Box::new(move |cx| memory::list_flood(cx, engine)),
        );
    }
    scenarios
}

/// Runs the chosen scenarios; `Ok(false)` when any did not hold.
pub fn run(args: ChaosArgs) -> anyhow::Result<bool> {
    cleanup::install_signal_thread()?;
    let started = Instant::now();
    let binary = ApiBinary::locate(args.api_bin.clone())?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("xtask has no parent directory")?;
    let run_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from).join("chaos");
    let _ = std::fs::remove_dir_all(&run_dir);
    std::fs::create_dir_all(&run_dir)?;

    let (base_flags, pool_timeout) = server_settings();
    let context = Context {
        binary,
        quick: args.quick,
        postgres_url: args.postgres_url.clone(),
        run_dir,
        base_flags,
        pool_timeout,
    };
    println!(
        "chaos: {} run against {} (server logs in {})",
        if args.quick { "bounded" } else { "full" },
        context.binary.path.display(),
        context.run_dir.display()
    );

    let scenarios = plan(&args);
    let total = scenarios.len();
    let mut held = 0;
    for scenario in scenarios {
        let began = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (scenario.run)(&context)));
        cleanup::hold_if_interrupted();
        let outcome = match result {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(error)) => Outcome::could_not_run(format!("{error:#}")),
            Err(_) => Outcome::could_not_run("the harness panicked (see above)".into()),
        };
        let ok = outcome.problems.is_empty();
        held += usize::from(ok);
        println!(
            "{}  {:<46} {} ({:.1} s)",
            if ok { "held    " } else { "NOT HELD" },
            scenario.name,
            outcome.summary,
            began.elapsed().as_secs_f64()
        );
        print_list("  ✗ ", outcome.problems.iter(), 30);
        print_list("  · ", outcome.notes.iter(), 12);
    }
    println!("{held}/{total} scenarios held ({:.0} s)", started.elapsed().as_secs_f64());
    Ok(held == total)
}

/// At most `limit` lines of a list, then how many more.
fn print_list<'a>(mark: &str, items: impl Iterator<Item = &'a String>, limit: usize) {
    let items: Vec<&String> = items.collect();
    for item in items.iter().take(limit) {
        println!("{mark}{item}");
    }
    if items.len() > limit {
        println!("{mark}... and {} more", items.len() - limit);
    }
}

/// Flags for every server, and the pool timeout the verdicts allow for.
///
/// One harness user stands for many clients from many addresses, so the per-user and
/// per-address rate limits are switched off: the budgets must hold without them.
fn server_settings() -> (Vec<String>, Duration) {
    let flags: Vec<String> = ["--api-rate-limit", "0", "--login-rate-limit", "0"].map(str::to_owned).into();
    println!(
        "chaos: rate limits off for every server ({}): the harness is one client standing for many",
        flags.join(" ")
    );
    (flags, storage::PoolOptions::default().connection_timeout)
}

/// A Go-style duration for a flag.
pub fn go_duration(duration: Duration) -> String {
    format!("{}ms", duration.as_millis())
}

/// A uniformly drawn number in [0, 1).
pub fn random_fraction() -> f64 {
    (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64
}
