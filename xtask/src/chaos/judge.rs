//! The verdict over a ledger and the database's final word (the job list and logs): nothing
//! acknowledged lost, no error answered for a write that committed, no job run twice.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::load::{CreateOutcome, Ledger};

/// What the scenario promises beyond the always-true rules.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    /// No job may be left pending, running or canceling.
    pub settled: bool,
    /// Every acknowledged job ran exactly once, to success.
    pub all_ran: bool,
}

/// Counts for the summary line.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub creates: usize,
    pub acked: usize,
    pub answered_error: usize,
    pub unanswered: usize,
    /// Unanswered creates whose job exists (the commit beat the kill).
    pub unanswered_saved: usize,
    pub acquired: usize,
    pub completed: usize,
    pub reaped: usize,
    /// Jobs assigned to a daemon whose acquire answer was lost (the server died first).
    pub orphaned: usize,
}

fn job_status(job: &Value) -> &str {
    job["status"].as_str().unwrap_or("?")
}

/// `logs`: the outputs stored for each job that a daemon logged to.
pub fn judge(
    ledger: &Ledger,
    jobs: &[Value],
    logs: &HashMap<String, HashSet<String>>,
    expect: Expect,
) -> (Facts, Vec<String>) {
    let mut problems = Vec::new();
    let mut facts = Facts { creates: ledger.creates.len(), ..Facts::default() };
    let by_id: HashMap<&str, &Value> = jobs.iter().map(|job| (job["id"].as_str().unwrap_or_default(), job)).collect();
    let mut by_marker: HashMap<&str, Vec<&str>> = HashMap::new();
    for job in jobs {
        let marker = job["input"]["template_version_id"].as_str().unwrap_or_default();
        by_marker.entry(marker).or_default().push(job["id"].as_str().unwrap_or_default());
    }

    // Creates: acknowledged ones exist; refused ones do not.
    let markers: HashSet<&str> = ledger.creates.iter().map(|c| c.marker.as_str()).collect();
    for create in &ledger.creates {
        let saved = by_marker.get(create.marker.as_str());
        match &create.outcome {
            CreateOutcome::Acked(id) => {
                facts.acked += 1;
                match by_id.get(id.as_str()) {
                    None => problems.push(format!(
                        "acknowledged job lost: create on {} answered 2xx with job {id}, which is gone",
                        create.server
                    )),
                    Some(job) if job["input"]["template_version_id"] != create.marker.as_str() => {
                        problems.push(format!("job {id} does not carry the marker its create sent"))
                    }
                    Some(_) => {}
                }
            }
            CreateOutcome::Answered(status) => {
                facts.answered_error += 1;
                if let Some(ids) = saved {
                    problems.push(format!(
                        "error answered for a committed write: create on {} answered {status}, yet job {} was saved",
                        create.server, ids[0]
                    ));
                }
            }
            CreateOutcome::Unanswered => {
                facts.unanswered += 1;
                facts.unanswered_saved += usize::from(saved.is_some());
            }
        }
    }
    for (marker, ids) in &by_marker {
        if !markers.contains(marker) {
            problems.extend(ids.iter().map(|id| format!("job {id} was never asked for (unknown marker {marker:?})")));
        } else if ids.len() > 1 {
            problems.push(format!("one create made {} jobs: {}", ids.len(), ids.join(", ")));
        }
    }

    // Acquisitions and completions.
    let mut holders: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut completions: HashMap<&str, usize> = HashMap::new();
    for daemon in &ledger.daemons {
        let id = daemon.id.as_deref().unwrap_or_default();
        for job in &daemon.acquired {
            holders.entry(job).or_default().push(&daemon.name);
            let worker = by_id.get(job.as_str()).and_then(|j| j["worker_id"].as_str());
            if worker != Some(id) {
                problems.push(format!(
                    "job {job} was handed to {} but the server records worker {}",
                    daemon.name,
                    worker.unwrap_or("none")
                ));
            }
        }
        for job in &daemon.completed {
            *completions.entry(job).or_default() += 1;
            let status = by_id.get(job.as_str()).map_or("gone", |j| job_status(j));
            if status != "succeeded" {
                problems
                    .push(format!("acknowledged completion lost: {} completed {job} (200), now {status}", daemon.name));
            }
        }
        for (job, status) in &daemon.complete_errors {
            let now_done = by_id.get(job.as_str()).is_some_and(|j| job_status(j) == "succeeded");
            if now_done && !daemon.completed.contains(job) {
                problems.push(format!(
                    "error answered for a committed write: complete of {job} answered {status}, yet it succeeded"
                ));
            }
        }
        for (job, output) in &daemon.logs_acked {
            if !logs.get(job).is_some_and(|lines| lines.contains(output)) {
                problems.push(format!("acknowledged log line lost: {output:?}"));
            }
        }
        for (job, output) in &daemon.logs_error_answered {
            if logs.get(job).is_some_and(|lines| lines.contains(output)) {
                problems.push(format!(
                    "error answered for a committed write: log append answered 5xx, yet {output:?} was saved"
                ));
            }
        }
        // Jobs the server gave this daemon that it never heard of.
        let unheard = jobs
            .iter()
            .filter(|j| j["worker_id"].as_str() == Some(id) && !daemon.acquired.iter().any(|a| j["id"] == a.as_str()))
            .count();
        if unheard > 0 && daemon.acquire_unanswered == 0 && daemon.acquire_errors > 0 {
            problems.push(format!(
                "error answered for a committed write: {} got {} error answers to acquire, yet {unheard} jobs were assigned to it",
                daemon.name, daemon.acquire_errors
            ));
        } else {
            facts.orphaned += unheard;
        }
    }
    facts.acquired = holders.len();
    facts.completed = completions.len();
    for (job, names) in &holders {
        if names.len() > 1 {
            problems.push(format!("job {job} acquired {} times: {}", names.len(), names.join(", ")));
        }
    }
    for (job, count) in &completions {
        if *count > 1 {
            problems.push(format!("job {job} completed {count} times"));
        }
    }

    facts.reaped =
        jobs.iter().filter(|j| j["error"].as_str().is_some_and(|e| e.contains("terminated by the reaper"))).count();
    if expect.settled {
        let active: Vec<String> = jobs
            .iter()
            .filter(|j| matches!(job_status(j), "pending" | "running" | "canceling"))
            .map(|j| format!("{} {}", j["id"].as_str().unwrap_or_default(), job_status(j)))
            .collect();
        if !active.is_empty() {
            problems.push(format!("{} jobs left active after the reaper ran: {}", active.len(), active.join(", ")));
        }
    }
    if expect.all_ran {
        for create in &ledger.creates {
            if let CreateOutcome::Acked(id) = &create.outcome
                && completions.get(id.as_str()) != Some(&1)
            {
                let status = by_id.get(id.as_str()).map_or("gone", |j| job_status(j));
                problems.push(format!("job {id} did not run exactly once (now {status})"));
            }
        }
    }
    (facts, problems)
}

/// The stored log outputs of every job a daemon sent lines for (read with a few threads).
pub fn stored_logs(
    server: &super::server::Endpoint,
    tenant: &super::tenant::Tenant,
    ledger: &Ledger,
) -> anyhow::Result<HashMap<String, HashSet<String>>> {
    let mut jobs: Vec<String> = ledger
        .daemons
        .iter()
        .flat_map(|d| d.logs_acked.iter().chain(&d.logs_error_answered).map(|(job, _)| job.clone()))
        .collect();
    jobs.sort();
    jobs.dedup();
    let http = super::http::Http::new(&super::http::Recorder::default(), std::time::Duration::from_secs(30))?;
    let chunks: Vec<Vec<String>> = jobs.chunks(jobs.len().div_ceil(4).max(1)).map(<[String]>::to_vec).collect();
    std::thread::scope(|scope| {
        let readers: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let http = http.clone();
                scope.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|job| {
                            let lines = super::tenant::log_outputs(&http, server, tenant, &job)?;
                            Ok((job, lines.into_iter().collect::<HashSet<_>>()))
                        })
                        .collect::<anyhow::Result<Vec<_>>>()
                })
            })
            .collect();
        let mut all = HashMap::new();
        for reader in readers {
            let part = reader.join().map_err(|_| anyhow::anyhow!("a log reader panicked"))??;
            all.extend(part);
        }
        Ok(all)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::chaos::load::{CreateRecord, DaemonRecord};

    const SETTLED: Expect = Expect { settled: true, all_ran: true };

    fn create(marker: &str, outcome: CreateOutcome) -> CreateRecord {
        CreateRecord { marker: marker.into(), server: "a".into(), outcome }
    }

    fn job(id: &str, marker: &str, status: &str, worker: Option<&str>) -> Value {
        json!({"id": id, "status": status, "worker_id": worker, "input": {"template_version_id": marker}})
    }

    fn daemon(name: &str, id: &str, acquired: &[&str], completed: &[&str]) -> DaemonRecord {
        DaemonRecord {
            name: name.into(),
            id: Some(id.into()),
            acquired: acquired.iter().map(|s| (*s).to_owned()).collect(),
            completed: completed.iter().map(|s| (*s).to_owned()).collect(),
            ..DaemonRecord::default()
        }
    }

    fn problems(ledger: &Ledger, jobs: &[Value]) -> Vec<String> {
        judge(ledger, jobs, &HashMap::new(), SETTLED).1
    }

    #[test]
    fn a_clean_run_has_no_problems() {
        let ledger = Ledger {
            creates: vec![create("m1", CreateOutcome::Acked("j1".into())), create("m2", CreateOutcome::Answered(503))],
            daemons: vec![daemon("d", "D", &["j1"], &["j1"])],
        };
        assert_eq!(problems(&ledger, &[job("j1", "m1", "succeeded", Some("D"))]), Vec::<String>::new());
    }

    #[test]
    fn an_acknowledged_job_that_is_gone_is_a_problem() {
        let ledger = Ledger { creates: vec![create("m1", CreateOutcome::Acked("j1".into()))], daemons: vec![] };
        let found = problems(&ledger, &[]);
        assert!(found.iter().any(|p| p.starts_with("acknowledged job lost")), "{found:?}");
    }

    #[test]
    fn an_error_answer_for_a_saved_job_is_a_problem() {
        let ledger = Ledger {
            creates: vec![create("m1", CreateOutcome::Answered(503))],
            daemons: vec![daemon("d", "D", &["j1"], &["j1"])],
        };
        let found = problems(&ledger, &[job("j1", "m1", "succeeded", Some("D"))]);
        assert!(found.iter().any(|p| p.starts_with("error answered for a committed write")), "{found:?}");
    }

    #[test]
    fn an_unanswered_create_may_or_may_not_be_saved() {
        let ledger = Ledger {
            creates: vec![create("m1", CreateOutcome::Unanswered), create("m2", CreateOutcome::Unanswered)],
            daemons: vec![daemon("d", "D", &["j1"], &["j1"])],
        };
        let (facts, found) = judge(&ledger, &[job("j1", "m1", "succeeded", Some("D"))], &HashMap::new(), SETTLED);
        assert_eq!((facts.unanswered, facts.unanswered_saved), (2, 1));
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_job_handed_to_two_daemons_or_completed_twice_is_a_problem() {
        let ledger = Ledger {
            creates: vec![create("m1", CreateOutcome::Acked("j1".into()))],
            daemons: vec![daemon("d1", "D1", &["j1"], &["j1"]), daemon("d2", "D2", &["j1"], &["j1"])],
        };
        let found = problems(&ledger, &[job("j1", "m1", "succeeded", Some("D2"))]);
        assert!(found.iter().any(|p| p.contains("acquired 2 times")), "{found:?}");
        assert!(found.iter().any(|p| p.contains("completed 2 times")), "{found:?}");
        assert!(found.iter().any(|p| p.contains("handed to d1 but the server records worker D2")), "{found:?}");
    }

    #[test]
    fn jobs_left_running_and_unknown_jobs_are_problems() {
        let ledger = Ledger { creates: vec![create("m1", CreateOutcome::Acked("j1".into()))], daemons: vec![] };
        let found = problems(&ledger, &[job("j1", "m1", "running", None), job("j2", "nobody", "pending", None)]);
        assert!(found.iter().any(|p| p.contains("left active")), "{found:?}");
        assert!(found.iter().any(|p| p.contains("never asked for")), "{found:?}");
        assert!(found.iter().any(|p| p.contains("did not run exactly once")), "{found:?}");
    }

    #[test]
    fn log_lines_must_match_what_was_answered() {
        let mut record = daemon("d", "D", &["j1"], &["j1"]);
        record.logs_acked.push(("j1".into(), "kept".into()));
        record.logs_error_answered.push(("j1".into(), "refused".into()));
        let ledger = Ledger { creates: vec![create("m1", CreateOutcome::Acked("j1".into()))], daemons: vec![record] };
        let stored = HashMap::from([("j1".to_owned(), HashSet::from(["refused".to_owned()]))]);
        let (_, found) = judge(&ledger, &[job("j1", "m1", "succeeded", Some("D"))], &stored, SETTLED);
        assert!(found.iter().any(|p| p.starts_with("acknowledged log line lost")), "{found:?}");
        assert!(found.iter().any(|p| p.contains("log append answered 5xx")), "{found:?}");
    }
}
