//! CONTRACT §6: a job's whole life through the daemon protocol, cancellation, logs (plain,
//! WebSocket, server-sent events), the log cap, the reaper, long-poll wake-ups, and many
//! daemons over many jobs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use domain::provisioner::{LogBudget, Reaper};
use futures_util::StreamExt;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::TestApp;
use crate::on_both_backends;

on_both_backends!(
    a_job_runs_from_pending_to_succeeded,
    a_failed_job_keeps_its_error_and_code,
    canceling_a_pending_job_ends_it_at_once,
    canceling_a_running_job_waits_for_its_daemon,
    only_the_holder_touches_a_job_and_never_after_it_ended,
    acquire_wakes_at_once_when_a_job_is_created,
    a_new_job_wakes_one_of_the_waiting_daemons,
    acquire_gives_up_after_its_timeout,
    a_daemon_that_hung_up_is_not_handed_a_job,
    logs_are_paged_with_after,
    following_logs_over_a_websocket_ends_with_the_job,
    following_logs_as_server_sent_events_ends_with_the_job,
    the_log_cap_drops_lines_and_marks_the_job,
    the_reaper_fails_pending_and_hung_jobs,
    a_job_created_on_one_server_wakes_a_daemon_on_another,
    eight_daemons_run_five_hundred_jobs_exactly_once,
);

fn outputs(body: &Value) -> Vec<String> {
    body.as_array().into_iter().flatten().filter_map(|line| line["output"].as_str().map(str::to_owned)).collect()
}

async fn a_job_runs_from_pending_to_succeeded(app: TestApp) {
    let w = app.runner().await;
    let job = w.owner.create_job(w.organization, json!({})).await;
    assert_eq!(w.status(job).await, "pending");
    let acquired = w.daemon.acquire(5).await.unwrap_or_default();
    assert_eq!((acquired["id"].clone(), acquired["status"].clone()), (json!(job), json!("running")));
    assert_eq!(w.status(job).await, "running");
    let update = w.daemon.log(job, &["plan", "apply"]).await;
    assert_eq!(update.parts(), (200, json!({ "canceled": false })));
    let done = w.daemon.complete(job).await;
    assert_eq!((done.status, done.body["status"].clone()), (200, json!("succeeded")));
    let logs = w.owner.get(&w.logs_path(job)).await;
    assert_eq!(outputs(&logs.body), vec!["plan", "apply"]);
    let line = &logs.body[0];
    assert_eq!(
        (line["log_source"].clone(), line["log_level"].clone(), line["stage"].clone()),
        (json!("provisioner"), json!("info"), json!("apply"))
    );
    assert!(line["id"].is_i64() && line["created_at"].is_string());
}

async fn a_failed_job_keeps_its_error_and_code(app: TestApp) {
    let w = app.runner().await;
    let job = w.owner.create_job(w.organization, json!({})).await;
    w.daemon.acquire_id().await;
    let bad_code =
        w.daemon.call(&format!("/jobs/{job}/fail"), Some(json!({ "error": "x", "error_code": "OOPS" }))).await;
    assert_eq!(bad_code.status, 400);
    let failed = w
        .daemon
        .call(
            &format!("/jobs/{job}/fail"),
            Some(json!({ "error": "out of quota", "error_code": "INSUFFICIENT_QUOTA" })),
        )
        .await;
    assert_eq!(failed.status, 200);
    let job = w.owner.job(w.organization, job).await.body;
    assert_eq!(
        (job["status"].clone(), job["error"].clone(), job["error_code"].clone()),
        (json!("failed"), json!("out of quota"), json!("INSUFFICIENT_QUOTA"))
    );
}

async fn canceling_a_pending_job_ends_it_at_once(app: TestApp) {
    let w = app.runner().await;
    let job = w.owner.create_job(w.organization, json!({})).await;
    assert_eq!(w.cancel(job).await.parts(), (200, json!({ "message": "Job has been marked as canceled..." })));
    let canceled = w.owner.job(w.organization, job).await.body;
    assert_eq!(canceled["status"], "canceled");
    assert!(canceled["canceled_at"].is_string() && canceled["completed_at"].is_string());
    assert_eq!(w.cancel(job).await.parts(), (400, json!({ "message": "Job has already been marked as canceled!" })));
    assert_eq!(w.daemon.acquire(1).await, None);
}

async fn canceling_a_running_job_waits_for_its_daemon(app: TestApp) {
    let w = app.runner().await;
    let job = w.owner.create_job(w.organization, json!({})).await;
    w.daemon.acquire_id().await;
    assert_eq!(w.cancel(job).await.status, 200);
    assert_eq!(w.status(job).await, "canceling");
    assert_eq!(w.daemon.log(job, &["stopping"]).await.body, json!({ "canceled": true }));
    assert_eq!(w.daemon.complete(job).await.body["status"], "canceled");
    assert_eq!(w.status(job).await, "canceled");
    assert_eq!(w.cancel(job).await.parts(), (400, json!({ "message": "Job has already been marked as canceled!" })));
    let finished = w.owner.create_job(w.organization, json!({})).await;
    w.daemon.acquire_id().await;
    w.daemon.complete(finished).await;
    assert_eq!(w.cancel(finished).await.parts(), (400, json!({ "message": "Job has already completed!" })));
}

async fn only_the_holder_touches_a_job_and_never_after_it_ended(app: TestApp) {
    let w = app.runner().await;
    let key = w.owner.create_key(w.organization, "other", json!({})).await;
    let other = app.daemon(&key, "other").await;
    let job = w.owner.create_job(w.organization, json!({})).await;
    w.daemon.acquire_id().await;
    let not_yours = json!({ "message": "you don't own this job" });
    assert_eq!(other.log(job, &["hi"]).await.parts(), (403, not_yours.clone()));
    assert_eq!(other.complete(job).await.parts(), (403, not_yours.clone()));
    assert_eq!(other.fail(job, "no").await.parts(), (403, not_yours));
    w.daemon.complete(job).await;
    let over = json!({ "message": "job already completed" });
    assert_eq!(w.daemon.complete(job).await.parts(), (400, over.clone()));
    assert_eq!(w.daemon.fail(job, "late").await.parts(), (400, over.clone()));
    assert_eq!(w.daemon.log(job, &["late"]).await.parts(), (400, over));
    assert_eq!(w.daemon.complete(Uuid::new_v4()).await.status, 404);
    assert_eq!(w.daemon.call("/jobs/not-a-uuid/complete", None).await.status, 400);
}

async fn acquire_wakes_at_once_when_a_job_is_created(app: TestApp) {
    let w = app.runner().await;
    let daemon = w.daemon.clone();
    let waiting = actix_web::rt::spawn(async move {
        let started = Instant::now();
        (daemon.acquire(20).await, started.elapsed())
    });
    assert!(waiting_daemons(&app, 1).await, "the daemon never waited");
    let job = w.owner.create_job(w.organization, json!({})).await;
    let (acquired, waited) = waiting.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(acquired.map(|j| j["id"].clone()), Some(json!(job)));
    assert!(waited < Duration::from_secs(2), "woke after {waited:?}");
}

/// No thundering herd: four daemons wait, one job arrives, one daemon is woken and takes it;
/// the other three wait on undisturbed.
async fn a_new_job_wakes_one_of_the_waiting_daemons(app: TestApp) {
    let w = app.runner().await;
    let key = w.owner.create_key(w.organization, "herd", json!({})).await;
    let mut daemons = vec![w.daemon.clone()];
    for n in 1..4 {
        daemons.push(app.daemon(&key, &format!("herd-{n}")).await);
    }
    let waiters = &app.state.signals.waiters;
    let waiting: Vec<_> =
        daemons.into_iter().map(|daemon| actix_web::rt::spawn(async move { daemon.acquire(4).await })).collect();
    assert!(waiting_daemons(&app, 4).await, "not every daemon is waiting");
    let woken_before = waiters.wakes();
    let job = w.owner.create_job(w.organization, json!({})).await;
    assert!(waiting_daemons(&app, 3).await, "no daemon left the line");
    // The job is taken, and the three others never left the line.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(w.status(job).await, "running");
    assert_eq!(waiters.wakes() - woken_before, 1);
    assert_eq!(waiters.len(), 3);
    let mut taken = Vec::new();
    for one in waiting {
        taken.extend(one.await.unwrap_or_else(|e| panic!("{e}")));
    }
    assert_eq!(taken.iter().map(|job| job["id"].clone()).collect::<Vec<_>>(), vec![json!(job)]);
}

async fn acquire_gives_up_after_its_timeout(app: TestApp) {
    let w = app.runner().await;
    let started = Instant::now();
    assert_eq!(w.daemon.acquire(1).await, None);
    assert!(started.elapsed() >= Duration::from_millis(900));
    let too_long = w.daemon.call("/acquire?timeout=61", None).await;
    let detail = "Query param \"timeout\" must be at most 60 seconds";
    assert_eq!(
        too_long.parts(),
        (
            400,
            json!({ "message": "Invalid query parameters.", "validations": [{ "field": "timeout", "detail": detail }] })
        )
    );
    assert_eq!(w.daemon.call("/acquire?timeout=soon", None).await.status, 400);
    assert_eq!(w.daemon.call("/acquire?wait=1", None).await.status, 400);
}

async fn logs_are_paged_with_after(app: TestApp) {
    let w = app.runner().await;
    let job = w.owner.create_job(w.organization, json!({})).await;
    w.daemon.acquire_id().await;
    w.daemon.log(job, &["one", "two", "three"]).await;
    let all = w.owner.get(&w.logs_path(job)).await;
    let first_id = all.body[0]["id"].as_i64().unwrap_or_default();
    let after = w.owner.get(&format!("{}?after={first_id}", w.logs_path(job))).await;
    assert_eq!(outputs(&after.body), vec!["two", "three"]);
    let bad = w.owner.get(&format!("{}?after=x", w.logs_path(job))).await;
    let expected = json!({ "message": "Query param \"after\" must be an integer.", "validations": [{ "field": "after", "detail": "Must be an integer" }] });
    assert_eq!(bad.parts(), (400, expected));
    let member = app.user(&w.owner, "member", &[]).await;
    assert_eq!(member.get(&w.logs_path(job)).await.status, 404);
}

async fn following_logs_over_a_websocket_ends_with_the_job(app: TestApp) {
    let w = app.runner().await;
    let job = w.owner.create_job(w.organization, json!({})).await;
    w.daemon.acquire_id().await;
    w.daemon.log(job, &["before"]).await;
    let mut socket = w.follow_logs(job).await;
    let daemon = w.daemon.clone();
    actix_web::rt::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        daemon.log(job, &["during"]).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        daemon.complete(job).await;
    });
    let mut received = Vec::new();
    let mut closed = None;
    let deadline = tokio::time::sleep(Duration::from_secs(10));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            frame = socket.next() => match frame {
                Some(Ok(awc::ws::Frame::Text(text))) => {
                    let line: Value = serde_json::from_slice(&text).unwrap_or_default();
                    received.push(line["output"].as_str().unwrap_or_default().to_owned());
                }
                Some(Ok(awc::ws::Frame::Close(reason))) => { closed = Some(reason); break; }
                Some(Ok(_)) => {}
                Some(Err(error)) => panic!("{error}"),
                None => break,
            },
            _ = &mut deadline => panic!("the stream did not end; got {received:?}"),
        }
    }
    assert_eq!(received, vec!["before", "during"]);
    let reason = closed.flatten();
    assert_eq!(reason.map(|r| (r.code, r.description)), Some((awc::ws::CloseCode::Normal, Some("done".to_owned()))));
}

async fn following_logs_as_server_sent_events_ends_with_the_job(app: TestApp) {
    let w = app.runner().await;
    let job = w.owner.create_job(w.organization, json!({})).await;
    w.daemon.acquire_id().await;
    w.daemon.log(job, &["before"]).await;
    let request = w.owner.request(reqwest::Method::GET, &format!("{}?follow", w.logs_path(job)));
    let mut response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("text/event-stream"));
    let daemon = w.daemon.clone();
    actix_web::rt::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        daemon.log(job, &["during"]).await;
        daemon.complete(job).await;
    });
    let mut text = String::new();
    let read = async {
        while let Ok(Some(chunk)) = response.chunk().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.unwrap_or_else(|_| panic!("the stream did not end"));
    let lines: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|json| serde_json::from_str::<Value>(json).ok())
        .filter_map(|line| line["output"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(lines, vec!["before", "during"]);
}

async fn the_log_cap_drops_lines_and_marks_the_job(app: TestApp) {
    let app = TestApp::spawn_with(app.backend, |c| c.settings.log_budget = LogBudget { max_bytes: 10 })
        .await
        .unwrap_or_else(|| panic!("backend"));
    let w = app.runner().await;
    let job = w.owner.create_job(w.organization, json!({})).await;
    w.daemon.acquire_id().await;
    assert_eq!(w.daemon.log(job, &["12345", "12345", "x"]).await.status, 200);
    assert_eq!(w.daemon.log(job, &["more"]).await.status, 200);
    assert_eq!(outputs(&w.owner.get(&w.logs_path(job)).await.body), vec!["12345", "12345"]);
    let listed = w.owner.job(w.organization, job).await.body;
    assert_eq!((listed["logs_overflowed"].clone(), listed["status"].clone()), (json!(true), json!("running")));
    assert_eq!(w.daemon.complete(job).await.body["status"], "succeeded");
}

async fn the_reaper_fails_pending_and_hung_jobs(app: TestApp) {
    let app = TestApp::spawn_with(app.backend, |c| {
        c.settings.reaper =
            Reaper { pending_after: chrono::Duration::seconds(1), hung_after: chrono::Duration::seconds(1) };
    })
    .await
    .unwrap_or_else(|| panic!("backend"));
    let w = app.runner().await;
    let hung = w.owner.create_job(w.organization, json!({})).await;
    w.daemon.acquire_id().await;
    let pending = w.owner.create_job(w.organization, json!({ "nobody": "runs-this" })).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while (w.status(hung).await != "failed" || w.status(pending).await != "failed") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let hung_job = w.owner.job(w.organization, hung).await.body;
    assert_eq!(hung_job["status"], "failed");
    assert_eq!(
        hung_job["error"],
        "Coder: Build has been detected as hung for 0 minutes and has been terminated by the reaper."
    );
    let pending_job = w.owner.job(w.organization, pending).await.body;
    assert_eq!(
        pending_job["error"],
        "Coder: Build has been detected as pending for 0 minutes and has been terminated by the reaper."
    );
    let notice = outputs(&w.owner.get(&w.logs_path(hung)).await.body);
    assert!(
        notice.contains(&"Coder: Build has been detected as hung for 0 minutes and will be terminated.".to_owned()),
        "{notice:?}"
    );
    assert_eq!(w.daemon.complete(hung).await.status, 400);
}

async fn a_job_created_on_one_server_wakes_a_daemon_on_another(app: TestApp) {
    let w = app.runner().await;
    let other = app.second_server().await;
    let key = w.owner.create_key(w.organization, "elsewhere", json!({})).await;
    let remote = other.daemon(&key, "remote").await;
    let waiting = actix_web::rt::spawn(async move {
        let started = Instant::now();
        (remote.acquire(20).await, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The local daemon is not waiting; only the remote one can take it.
    let job = w.owner.create_job(w.organization, json!({})).await;
    let (acquired, waited) = waiting.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(acquired.map(|j| j["id"].clone()), Some(json!(job)));
    // PostgreSQL carries the notice (LISTEN/NOTIFY); SQLite servers fall back to the slow poll.
    let bound = if app.backend == storage::testing::Backend::Postgres {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(7)
    };
    assert!(waited < bound, "woke after {waited:?}");
}

async fn eight_daemons_run_five_hundred_jobs_exactly_once(app: TestApp) {
    let w = app.runner().await;
    let key = w.owner.create_key(w.organization, "fleet", json!({})).await;
    let mut jobs = Vec::new();
    for _ in 0..500 {
        jobs.push(w.owner.create_job(w.organization, json!({})).await);
    }
    let mut fleet = Vec::new();
    for n in 0..8 {
        let daemon = app.daemon(&key, &format!("fleet-{n}")).await;
        fleet.push(actix_web::rt::spawn(async move {
            let mut ran = Vec::new();
            while let Some(job) = daemon.acquire(1).await {
                let id = Uuid::try_parse(job["id"].as_str().unwrap_or_default()).unwrap_or_default();
                let done = daemon.complete(id).await;
                assert_eq!(done.status, 200, "{}", done.text);
                ran.push(id);
            }
            ran
        }));
    }
    let mut runs: HashMap<Uuid, usize> = HashMap::new();
    for daemon in fleet {
        for job in daemon.await.unwrap_or_else(|e| panic!("{e}")) {
            *runs.entry(job).or_default() += 1;
        }
    }
    assert_eq!(runs.len(), 500, "every job ran");
    assert!(runs.values().all(|count| *count == 1), "no job ran twice");
    assert!(jobs.iter().all(|job| runs.contains_key(job)));
    let succeeded = w
        .owner
        .get(&format!("/api/v2/organizations/{}/provisionerjobs?status=succeeded&limit=0", w.organization))
        .await;
    assert_eq!(succeeded.body.as_array().map(Vec::len), Some(500));
}

async fn a_daemon_that_hung_up_is_not_handed_a_job(app: TestApp) {
    use std::io::Write;
    let w = app.runner().await;
    let key = w.owner.create_key(w.organization, "flaky", json!({})).await;
    let flaky = app.daemon(&key, "flaky").await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut socket = std::net::TcpStream::connect(&address).unwrap_or_else(|e| panic!("{e}"));
    let request = format!(
        "POST /api/v2/provisionerdaemons/{}/acquire?timeout=20 HTTP/1.1\r\nHost: {address}\r\n\
         Coder-Provisioner-Daemon-Key: {key}\r\nContent-Length: 0\r\n\r\n",
        flaky.id
    );
    socket.write_all(request.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert!(waiting_daemons(&app, 1).await, "the daemon never waited");
    drop(socket);
    assert!(waiting_daemons(&app, 0).await, "the server never noticed the daemon hang up");
    let job = w.owner.create_job(w.organization, json!({})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(w.status(job).await, "pending", "a job went to a daemon that hung up");
    assert_eq!(w.daemon.acquire_id().await, job);
}

/// Whether, within a few seconds, exactly `count` daemons wait in the server's line.
async fn waiting_daemons(app: &TestApp, count: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.state.signals.waiters.len() != count {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}
