//! `cargo xtask bench jobs`: the list and single-job routes on a big history, at one or more
//! queue depths, through the release server in its own process so that its memory can be told.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use storage::testing::Backend;

use super::process::Server;
use super::world::{Plan, Seeded, backends, database, populate};
use super::{JobsArgs, summary};
use crate::release::build_api;

/// One line of the table.
struct Measured {
    backend: Backend,
    pending: usize,
    scenario: &'static str,
    median: f64,
    p95: f64,
    /// The server's peak resident memory during the scenario, MiB.
    peak: f64,
    requests: usize,
    jobs: usize,
}

pub fn run(args: &JobsArgs) -> anyhow::Result<()> {
    let api = build_api()?;
    let mut table = Vec::new();
    for backend in backends(&args.common) {
        for &pending in &args.pending {
            let db = database(backend, &args.common);
            let started = Instant::now();
            let jobs = args.jobs.max(pending);
            let plan = Plan { jobs, pending, daemons: args.daemons, tag_sets: Some(4) };
            let seeded = populate(&db, &plan)?;
            eprintln!(
                "{backend:?}: {jobs} jobs ({pending} pending), {} daemons in 4 tag sets; seeded in {:.1} s",
                args.daemons,
                started.elapsed().as_secs_f64()
            );
            let server = Server::start(&api, db.url())?;
            table.extend(scenarios(&server, &seeded, backend, pending, args.iterations)?);
            drop(server);
            if pending == *args.pending.last().unwrap_or(&0) {
                print_index_sizes(&db)?;
            }
        }
    }
    println!(
        "\n{:<10} {:>8}  {:<24} {:>10} {:>10} {:>9} {:>8} {:>8}",
        "backend", "pending", "scenario", "median", "p95", "peak RSS", "requests", "jobs"
    );
    for m in &table {
        println!(
            "{:<10} {:>8}  {:<24} {:>7.2} ms {:>7.2} ms {:>5.0} MiB {:>8} {:>8}",
            format!("{:?}", m.backend),
            m.pending,
            m.scenario,
            m.median,
            m.p95,
            m.peak,
            m.requests,
            m.jobs
        );
    }
    Ok(())
}

fn scenarios(
    server: &Server,
    seeded: &Seeded,
    backend: Backend,
    pending: usize,
    iterations: usize,
) -> anyhow::Result<Vec<Measured>> {
    let client = reqwest::blocking::Client::builder().pool_max_idle_per_host(16).build()?;
    let jobs = format!("{}/api/v2/organizations/{}/provisionerjobs", server.base, seeded.organization);
    let scenarios = [
        ("one job by id", format!("{jobs}/{}", seeded.pending_job), iterations),
        ("default page (50)", jobs.clone(), iterations),
        ("status=pending", format!("{jobs}?status=pending"), iterations),
        ("tags={\"pool\":\"a\"}", format!("{jobs}?tags=%7B%22pool%22%3A%22a%22%7D"), iterations),
        ("limit=0 (everything)", format!("{jobs}?limit=0"), (iterations / 10).max(3)),
    ];
    let mut measured = Vec::new();
    for (scenario, url, requests) in scenarios {
        heartbeat(&client, &server.base, &seeded.daemons)?;
        server.reset_peak()?;
        let (samples, size) = measure(&client, &seeded.token, &url, requests)?;
        let (median, p95) = summary(samples);
        let peak = server.memory("VmHWM");
        eprintln!("  {scenario:<24} {median:>7.2} ms {p95:>7.2} ms {peak:>5.0} MiB");
        measured.push(Measured { backend, pending, scenario, median, p95, peak, requests, jobs: size });
    }
    Ok(measured)
}

/// What the schema's indexes cost on disk at this size of history.
fn print_index_sizes(db: &storage::testing::TestDatabase) -> anyhow::Result<()> {
    let sizes = db.index_sizes().map_err(|e| anyhow::anyhow!("cannot read index sizes: {e}"))?;
    let measure = match db.backend() {
        Backend::Postgres => "pg_relation_size",
        Backend::Sqlite => "dbstat pages",
    };
    eprintln!("\n{:<58} {:>12} ({measure})", "index", "bytes");
    for size in &sizes {
        eprintln!("{:<58} {:>12}", format!("{}.{}", size.table, size.index), size.bytes);
    }
    eprintln!("{:<58} {:>12}", "total", sizes.iter().map(|s| s.bytes).sum::<i64>());
    Ok(())
}

/// Keeps the seeded daemons online for the queue numbers.
fn heartbeat(client: &reqwest::blocking::Client, base: &str, daemons: &[(uuid::Uuid, String)]) -> anyhow::Result<()> {
    for (daemon, key) in daemons {
        let url = format!("{base}/api/v2/provisionerdaemons/{daemon}/heartbeat");
        let status = client.post(url).header("Coder-Provisioner-Daemon-Key", key).send()?.status();
        if status != 204 {
            bail!("heartbeat answered {status}");
        }
    }
    Ok(())
}

/// Times `iterations` GETs after a short warm-up; returns the samples and the jobs returned.
fn measure(
    client: &reqwest::blocking::Client,
    token: &str,
    url: &str,
    iterations: usize,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let get = || -> anyhow::Result<(Duration, usize)> {
        let started = Instant::now();
        let response = client.get(url).header("Coder-Session-Token", token).send()?;
        let status = response.status();
        let body = response.bytes()?;
        let elapsed = started.elapsed();
        if status != 200 {
            bail!("{url} answered {status}: {}", String::from_utf8_lossy(&body));
        }
        let value: serde_json::Value = serde_json::from_slice(&body).context("not JSON")?;
        Ok((elapsed, value.as_array().map_or(1, Vec::len)))
    };
    for _ in 0..3 {
        get()?;
    }
    let mut samples = Vec::with_capacity(iterations);
    let mut size = 0;
    for _ in 0..iterations {
        let (elapsed, count) = get()?;
        samples.push(elapsed);
        size = count;
    }
    Ok((samples, size))
}
