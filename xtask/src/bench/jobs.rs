//! `cargo xtask bench jobs`: the list and single-job routes on a big history.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::world::{Plan, World, backends, database, seed};
use super::{JobsArgs, summary};

pub fn run(args: &JobsArgs) -> anyhow::Result<()> {
    for backend in backends(&args.common) {
        let db = database(backend, &args.common);
        let started = Instant::now();
        let plan = Plan { jobs: args.jobs, pending: args.pending, daemons: args.daemons, tag_sets: Some(4) };
        let world = seed(&db, &plan)?;
        println!(
            "\n{backend:?}: {} jobs ({} pending), {} daemons in 4 tag sets; seeded in {:.1} s",
            args.jobs,
            args.pending,
            args.daemons,
            started.elapsed().as_secs_f64()
        );
        println!("{:<28} {:>10} {:>10} {:>8} {:>8}", "scenario", "median", "p95", "requests", "jobs");
        let jobs = format!("{}/api/v2/organizations/{}/provisionerjobs", world.base, world.organization);
        let scenarios = [
            ("one job by id", format!("{jobs}/{}", world.pending_job), args.iterations),
            ("default page (50)", jobs.clone(), args.iterations),
            ("limit=0 (everything)", format!("{jobs}?limit=0"), (args.iterations / 10).max(3)),
            ("status=pending", format!("{jobs}?status=pending"), args.iterations),
            ("tags={\"pool\":\"a\"}", format!("{jobs}?tags=%7B%22pool%22%3A%22a%22%7D"), args.iterations),
        ];
        for (name, url, iterations) in scenarios {
            heartbeat(&world)?;
            let (samples, size) = measure(&world, &url, iterations)?;
            let (median, p95) = summary(samples);
            println!("{name:<28} {median:>7.2} ms {p95:>7.2} ms {iterations:>8} {size:>8}");
        }
        world.stop();
        print_index_sizes(&db)?;
    }
    Ok(())
}

/// What the schema's indexes cost on disk at this size of history.
fn print_index_sizes(db: &storage::testing::TestDatabase) -> anyhow::Result<()> {
    let sizes = db.index_sizes().map_err(|e| anyhow::anyhow!("cannot read index sizes: {e}"))?;
    let measure = match db.backend() {
        storage::testing::Backend::Postgres => "pg_relation_size",
        storage::testing::Backend::Sqlite => "dbstat pages",
    };
    println!("\n{:<58} {:>12} ({measure})", "index", "bytes");
    for size in &sizes {
        println!("{:<58} {:>12}", format!("{}.{}", size.table, size.index), size.bytes);
    }
    println!("{:<58} {:>12}", "total", sizes.iter().map(|s| s.bytes).sum::<i64>());
    Ok(())
}

/// Keeps the seeded daemons online for the queue numbers.
pub fn heartbeat(world: &World) -> anyhow::Result<()> {
    let client = world.client()?;
    for (daemon, key) in &world.daemons {
        let url = format!("{}/api/v2/provisionerdaemons/{daemon}/heartbeat", world.base);
        let status = client.post(url).header("Coder-Provisioner-Daemon-Key", key).send()?.status();
        if status != 204 {
            bail!("heartbeat answered {status}");
        }
    }
    Ok(())
}

/// Times `iterations` GETs after a short warm-up; returns the samples and the jobs returned.
fn measure(world: &World, url: &str, iterations: usize) -> anyhow::Result<(Vec<Duration>, usize)> {
    let client = world.client()?;
    let get = || -> anyhow::Result<(Duration, usize)> {
        let started = Instant::now();
        let response = client.get(url).header("Coder-Session-Token", &world.token).send()?;
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
