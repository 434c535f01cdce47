//! `kill -9` of the server under load, three times, restarting on the same database: no
//! acknowledged job lost, none run twice, none left pending or running once the reaper has
//! run, and (SQLite) a sound file.

use std::time::{Duration, Instant};

use super::db::{Database, Engine};
use super::http::{Recorder, server_faults, tally};
use super::judge::{Expect, judge, stored_logs};
use super::load::{DaemonPlan, Load, LoadPlan};
use super::server::ApiServer;
use super::tenant::{all_jobs, bootstrap};
use super::{Context, Outcome, go_duration, random_fraction};

const KILLS: usize = 3;
const DAEMONS: usize = 4;
/// Short reaper periods, so that jobs orphaned by a kill are failed within the scenario.
const PENDING_AFTER: Duration = Duration::from_secs(10);
const HUNG_AFTER: Duration = Duration::from_secs(4);

pub fn run(cx: &Context, engine: Engine) -> anyhow::Result<Outcome> {
    let dir = cx.dir(&format!("kill-{}", engine.name()));
    let db = Database::fresh(engine, &dir, &cx.postgres_url)?;
    let flags = cx.flags(&[
        "--reaper-pending-after",
        &go_duration(PENDING_AFTER),
        "--reaper-hung-after",
        &go_duration(HUNG_AFTER),
        "--database-pool-size",
        "8",
    ]);
    let mut server = ApiServer::start(&cx.binary, "server", &db.url(), &flags, &dir)?;
    let endpoint = server.endpoint();
    let tenant = bootstrap(&endpoint)?;

    let recorder = Recorder::default();
    let plan = LoadPlan {
        writers: vec![endpoint.clone(), endpoint.clone()],
        pace: Duration::from_millis(15),
        quota: None,
        daemons: (0..DAEMONS)
            .map(|n| DaemonPlan { server: endpoint.clone(), name: format!("chaos-{n}"), key: tenant.key.clone() })
            .collect(),
        acquire_wait: 2,
        hold_for: Duration::from_secs(30),
        timeout: cx.pool_timeout + Duration::from_secs(10),
    };
    let load = Load::start(&plan, &tenant, &recorder)?;
    let period = if cx.quick { Duration::from_secs(2) } else { Duration::from_secs(5) };
    let mut downtimes = Vec::new();
    for _ in 0..KILLS {
        // At a different moment of the load each time.
        std::thread::sleep(period.mul_f64(0.5 + random_fraction()));
        server.kill9();
        let down = Instant::now();
        std::thread::sleep(Duration::from_millis(200));
        server.restart()?;
        downtimes.push(down.elapsed().as_secs_f64());
    }
    std::thread::sleep(period);
    let ledger = load.finish(Duration::from_secs(30));

    // Jobs whose acquire answer died with the server are running with nobody: the reaper
    // fails them once `HUNG_AFTER` has passed without an update.
    let settle_by = Instant::now() + PENDING_AFTER + HUNG_AFTER + Duration::from_secs(10);
    let mut jobs = all_jobs(&endpoint, &tenant)?;
    while Instant::now() < settle_by
        && jobs.iter().any(|j| matches!(j["status"].as_str(), Some("pending" | "running" | "canceling")))
    {
        std::thread::sleep(Duration::from_millis(250));
        jobs = all_jobs(&endpoint, &tenant)?;
    }
    let logs = stored_logs(&endpoint, &tenant, &ledger)?;
    let (facts, mut problems) = judge(&ledger, &jobs, &logs, Expect { settled: true, all_ran: false });
    let calls = recorder.calls();
    problems.extend(server_faults(&calls));
    server.stop();
    let integrity = db.integrity_problems()?;
    let integrity_note = match engine {
        Engine::Sqlite if integrity.is_empty() => "; integrity_check ok",
        _ => "",
    };
    problems.extend(integrity);

    let slowest = downtimes.iter().copied().fold(0.0, f64::max);
    Ok(Outcome {
        summary: format!(
            "{KILLS} kills (back within {slowest:.1} s); {} of {} creates acknowledged ({} refused, {} unanswered of which {} saved), {} jobs run, {} reaped{integrity_note}",
            facts.acked,
            facts.creates,
            facts.answered_error,
            facts.unanswered,
            facts.unanswered_saved,
            facts.acquired,
            facts.reaped
        ),
        problems,
        notes: vec![format!("answers: {}", tally(&calls))],
    })
}
