//! `cargo xtask bench http`: the real server's throughput on one authenticated read, next to
//! a minimal server on the same stack and database that does only the route's one `SELECT`.
//! The ratio says how much of the stack's capacity the real server's own work (session
//! check, middleware, store layer) takes. The two are measured in turns, A B A B, so that
//! noise on the shared machine falls on both.

pub(super) mod load;
mod minimal;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use storage::testing::Backend;

use super::HttpArgs;
use super::world::{Plan, World, backends, database, seed};
use load::Outcome;
use minimal::Minimal;

const ROUTE: &str = "GET /api/v2/organizations/{id}";

pub fn run(args: &HttpArgs) -> anyhow::Result<()> {
    if args.connections == 0 || args.rounds == 0 || args.seconds == 0 {
        bail!("--connections, --rounds and --seconds must be at least 1");
    }
    for backend in backends(&args.common) {
        let db = database(backend, &args.common);
        // Only the organization and the session are read: nothing else needs seeding.
        let world = seed(&db, &Plan { jobs: 0, pending: 0, daemons: 0, tag_sets: None })?;
        let minimal = Minimal::start(db.url());
        let result = minimal.and_then(|minimal| {
            let result = compare(backend, &world, minimal.address, args);
            minimal.stop();
            result
        });
        world.stop();
        result?;
    }
    Ok(())
}

/// One server under test and the exact bytes it is sent.
struct Target {
    name: &'static str,
    address: SocketAddr,
    request: Vec<u8>,
    rounds: Vec<Outcome>,
}

impl Target {
    /// Both are sent the same request, session token included: the minimal server reads
    /// the same header bytes, and ignores them.
    fn new(name: &'static str, address: SocketAddr, world: &World) -> Self {
        let request = format!(
            "GET /api/v2/organizations/{} HTTP/1.1\r\nHost: {address}\r\nCoder-Session-Token: {}\r\nAccept: application/json\r\n\r\n",
            world.organization, world.token
        );
        Self { name, address, request: request.into_bytes(), rounds: Vec::new() }
    }

    /// One request first: the route must answer 200 with the seeded organization, or the
    /// numbers would measure an error page.
    fn check(&self, world: &World) -> anyhow::Result<()> {
        let (status, body) = load::fetch_once(self.address, &self.request)?;
        if status != 200 {
            bail!("the {} server answered {status}: {}", self.name, String::from_utf8_lossy(&body));
        }
        let answer: serde_json::Value =
            serde_json::from_slice(&body).with_context(|| format!("the {} server's answer is not JSON", self.name))?;
        if answer["id"].as_str() != Some(world.organization.to_string().as_str()) {
            bail!("the {} server answered another organization: {answer}", self.name);
        }
        Ok(())
    }
}

fn compare(backend: Backend, world: &World, minimal: SocketAddr, args: &HttpArgs) -> anyhow::Result<()> {
    let real = world.base.strip_prefix("http://").unwrap_or(&world.base);
    let real: SocketAddr = real.parse().with_context(|| format!("the real server's address {real:?}"))?;
    let mut targets = [Target::new("minimal (1 SELECT)", minimal, world), Target::new("real", real, world)];
    for target in &targets {
        target.check(world)?;
    }

    let (warm_up, period) = (Duration::from_secs(args.warm_up_seconds), Duration::from_secs(args.seconds));
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "\n{backend:?}: authenticated {ROUTE}, {} connections, {} s per round after {} s of warm-up",
        args.connections, args.seconds, args.warm_up_seconds
    );
    println!(
        "(both servers in this process: {workers} actix workers, a pool of {} connections; the load generator on one more thread)",
        storage::PoolOptions::default().max_size
    );
    println!("{:<6} {:<20} {:>9} {:>11} {:>9} {:>11}", "round", "server", "req/s", "median ms", "p99 ms", "client cpu");
    for round in 1..=args.rounds {
        for target in &mut targets {
            let outcome = load::measure(target.address, &target.request, args.connections, warm_up, period)
                .with_context(|| format!("measuring the {} server", target.name))?;
            let (median, p99) = quantiles(outcome.latencies.clone());
            let cpu = outcome.client_cpu.map_or_else(
                || "-".to_owned(),
                |cpu| format!("{:.0} %", 100.0 * cpu.as_secs_f64() / period.as_secs_f64()),
            );
            println!(
                "{round:<6} {:<20} {:>9.0} {median:>11.2} {p99:>9.2} {cpu:>11}",
                target.name,
                outcome.per_second()
            );
            target.rounds.push(outcome);
        }
    }

    let mut throughputs = Vec::new();
    for target in &targets {
        let per_second = median(target.rounds.iter().map(Outcome::per_second).collect());
        let (median, p99) = quantiles(target.rounds.iter().flat_map(|r| r.latencies.iter().copied()).collect());
        println!("{:<6} {:<20} {per_second:>9.0} {median:>11.2} {p99:>9.2}", "all", target.name);
        throughputs.push(per_second);
    }
    println!("(all: the median of the rounds' req/s; latencies over every round's answers)");
    if let [minimal, real] = throughputs[..] {
        println!("real / minimal: {:.1} %", 100.0 * real / minimal.max(f64::EPSILON));
    }
    Ok(())
}

/// Median and 99th percentile of latencies, in milliseconds (nearest rank).
fn quantiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort_unstable();
    let at = |q: f64| {
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    (at(0.5), at(0.99))
}

/// The middle value; the mean of the two middle ones for an even count.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[middle],
        _ => (values[middle - 1] + values[middle]) / 2.0,
    }
}
