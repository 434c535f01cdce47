//! `cargo xtask bench acquire`: how fast concurrent daemons drain a queue through HTTP.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::bail;

use super::world::{Plan, backends, database, seed};
use super::{AcquireArgs, summary};

pub fn run(args: &AcquireArgs) -> anyhow::Result<()> {
    for backend in backends(&args.common) {
        let db = database(backend, &args.common);
        let plan = Plan { jobs: args.jobs, pending: args.jobs, daemons: args.daemons, tag_sets: None };
        let world = seed(&db, &plan)?;
        let latencies = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let workers: Vec<_> = world
            .daemons
            .iter()
            .cloned()
            .map(|(daemon, key)| {
                let base = world.base.clone();
                let latencies = Arc::clone(&latencies);
                std::thread::spawn(move || -> anyhow::Result<usize> {
                    let client = reqwest::blocking::Client::new();
                    let post = |path: String| {
                        client
                            .post(format!("{base}/api/v2/provisionerdaemons/{daemon}{path}"))
                            .header("Coder-Provisioner-Daemon-Key", &key)
                    };
                    let mut ran = 0;
                    loop {
                        let asked = Instant::now();
                        let response = post("/acquire?timeout=0".into()).send()?;
                        let waited = asked.elapsed();
                        match response.status().as_u16() {
                            204 => return Ok(ran),
                            200 => {}
                            other => bail!("acquire answered {other}"),
                        }
                        if let Ok(mut all) = latencies.lock() {
                            all.push(waited);
                        }
                        let job: serde_json::Value = response.json()?;
                        let id = job["id"].as_str().unwrap_or_default().to_owned();
                        let done = post(format!("/jobs/{id}/complete")).send()?.status();
                        if done != 200 {
                            bail!("complete answered {done}");
                        }
                        ran += 1;
                    }
                })
            })
            .collect();
        let mut total = 0;
        for worker in workers {
            total += worker.join().map_err(|_| anyhow::anyhow!("a daemon thread panicked"))??;
        }
        let elapsed = started.elapsed();
        if total != args.jobs {
            bail!("{total} of {} jobs ran", args.jobs);
        }
        let (median, p95) = summary(latencies.lock().map(|l| l.clone()).unwrap_or_default());
        println!(
            "{backend:?}: {} daemons ran {total} jobs in {:.2} s: {:.0} acquisitions/s (acquire median {median:.2} ms, p95 {p95:.2} ms; each job is acquire + complete)",
            args.daemons,
            elapsed.as_secs_f64(),
            total as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        );
        world.stop();
    }
    Ok(())
}
