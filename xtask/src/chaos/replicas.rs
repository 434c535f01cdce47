//! Three servers on one PostgreSQL database, started at once (so their migrations race):
//! thousands of jobs created through all of them, daemons spread over them, each job run
//! exactly once.

use std::time::{Duration, Instant};

use super::db::{Database, Engine};
use super::http::{Recorder, tally};
use super::judge::{Expect, judge, stored_logs};
use super::load::{DaemonPlan, Load, LoadPlan};
use super::server::ApiServer;
use super::tenant::{all_jobs, bootstrap};
use super::{Context, Outcome};

const REPLICAS: usize = 3;
const DAEMONS_PER_REPLICA: usize = 2;

pub fn run(cx: &Context) -> anyhow::Result<Outcome> {
    let dir = cx.dir("replicas");
    let db = Database::fresh(Engine::Postgres, &dir, &cx.postgres_url)?;
    // The shared server has room for 100 connections, and others test on it too.
    let flags = cx.flags(&["--database-pool-size", "4"]);
    let mut servers = (0..REPLICAS)
        .map(|n| ApiServer::spawn(&cx.binary, &format!("replica-{n}"), &db.url(), &flags, &dir))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for server in &mut servers {
        server.wait_ready()?;
    }
    let endpoints: Vec<_> = servers.iter().map(ApiServer::endpoint).collect();
    let first = bootstrap(&endpoints[0])?;

    let jobs_wanted = if cx.quick { 600 } else { 3_000 };
    let recorder = Recorder::default();
    let plan = LoadPlan {
        writers: endpoints.clone(),
        pace: Duration::ZERO,
        quota: Some(jobs_wanted / REPLICAS),
        daemons: (0..REPLICAS * DAEMONS_PER_REPLICA)
            .map(|n| DaemonPlan {
                server: endpoints[n % REPLICAS].clone(),
                name: format!("replica-daemon-{n}"),
                key: first.key.clone(),
            })
            .collect(),
        acquire_wait: 5,
        hold_for: Duration::from_secs(30),
        timeout: cx.pool_timeout + Duration::from_secs(10),
    };
    let started = Instant::now();
    let load = Load::start(&plan, &first, &recorder)?;
    while !load.writers_done() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let ledger = load.finish(Duration::from_secs(if cx.quick { 60 } else { 180 }));
    let elapsed = started.elapsed();

    let jobs = all_jobs(&endpoints[1], &first)?;
    let logs = stored_logs(&endpoints[2], &first, &ledger)?;
    let (facts, mut problems) = judge(&ledger, &jobs, &logs, Expect { settled: true, all_ran: true });
    // No fault was injected here: anything but success is a problem.
    let calls = recorder.calls();
    problems.extend(
        calls
            .iter()
            .filter(|call| call.status.is_none_or(|s| s >= 400))
            .map(|call| format!("unexpected answer: {}", call.describe())),
    );
    for server in &mut servers {
        server.stop();
    }
    Ok(Outcome {
        summary: format!(
            "{} jobs created through {REPLICAS} servers, {} daemons ran {} of them once each in {:.1} s ({:.0} jobs/s)",
            facts.acked,
            REPLICAS * DAEMONS_PER_REPLICA,
            facts.completed,
            elapsed.as_secs_f64(),
            facts.completed as f64 / elapsed.as_secs_f64().max(0.001),
        ),
        problems,
        notes: vec![format!("answers: {}", tally(&calls))],
    })
}
