//! The `provisionerd` binary as an operator runs it: echo daemons serving jobs by their
//! tags, cancellation, and signals.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::TestServer;
use crate::on_both_backends;

const PROVISIONERD: &str = env!("CARGO_BIN_EXE_provisionerd");

on_both_backends!(
    echo_daemons_run_every_job_on_a_daemon_whose_tags_match,
    a_running_job_canceled_by_its_owner_ends_canceled,
    an_interrupted_daemon_fails_its_job_before_it_exits,
);

fn provisionerd(server: &TestServer, key: &str, name: &str, duration: &str) -> Child {
    Command::new(PROVISIONERD)
        .args(["--url", &server.base, "--key", key, "--name", name, "--job-duration", duration])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run provisionerd: {e}"))
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status();
    assert!(status.is_ok_and(|s| s.success()), "kill -{name} failed");
}

/// The exit code, once the process ended (it is killed after `within`).
async fn exit_code(child: &mut Child, within: Duration) -> Option<i32> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    panic!("provisionerd did not exit within {within:?}");
}

async fn echo_daemons_run_every_job_on_a_daemon_whose_tags_match(server: TestServer) {
    let plain_key = server.create_key("plain", json!({})).await;
    let gpu_key = server.create_key("gpu", json!({ "gpu": "yes" })).await;
    let mut plain = provisionerd(&server, &plain_key, "plain", "200ms");
    let mut tagged = provisionerd(&server, &gpu_key, "tagged", "200ms");
    let mut jobs = Vec::new();
    for n in 0..10 {
        let tags = if n % 2 == 0 { json!({}) } else { json!({ "gpu": "yes" }) };
        jobs.push(server.create_job(tags).await);
    }
    let list = format!("/api/v2/organizations/{}/provisionerjobs?status=succeeded&limit=0", server.organization);
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.get(&list).await.body.as_array().map_or(0, Vec::len) < jobs.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let succeeded = server.get(&list).await.body;
    assert_eq!(succeeded.as_array().map(Vec::len), Some(jobs.len()));
    for job in succeeded.as_array().into_iter().flatten() {
        let expected = if job["tags"]["gpu"] == "yes" { "tagged" } else { "plain" };
        assert_eq!(job["worker_name"], expected);
    }
    // Each job was "run" in four steps, one log line each.
    let steps: Vec<String> = (1..=4).map(|n| format!("echo: step {n} of 4")).collect();
    assert_eq!(server.log_outputs(jobs[0]).await, steps);
    // SIGTERM with no job in hand: a clean exit.
    signal(&plain, "TERM");
    signal(&tagged, "TERM");
    assert_eq!(exit_code(&mut plain, Duration::from_secs(10)).await, Some(0));
    assert_eq!(exit_code(&mut tagged, Duration::from_secs(10)).await, Some(0));
}

async fn a_running_job_canceled_by_its_owner_ends_canceled(server: TestServer) {
    let key = server.create_key("slow", json!({})).await;
    let mut slow = provisionerd(&server, &key, "slow", "60s");
    let job = server.create_job(json!({})).await;
    server.wait_for_status(job, "running").await;
    assert_eq!(server.cancel(job).await.status, 200);
    // The daemon checks in every second, sees the cancellation and completes the job.
    server.wait_for_status(job, "canceled").await;
    assert_eq!(server.log_outputs(job).await.last().map(String::as_str), Some("Canceled: stopping."));
    signal(&slow, "TERM");
    assert_eq!(exit_code(&mut slow, Duration::from_secs(10)).await, Some(0));
}

async fn an_interrupted_daemon_fails_its_job_before_it_exits(server: TestServer) {
    let key = server.create_key("slow", json!({})).await;
    let mut slow = provisionerd(&server, &key, "slow", "60s");
    let job = server.create_job(json!({})).await;
    server.wait_for_status(job, "running").await;
    signal(&slow, "INT");
    assert_eq!(exit_code(&mut slow, Duration::from_secs(10)).await, Some(0));
    let failed = server.job(job).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"], "The provisioner daemon was stopped before the job finished.");
    let note = "Interrupted: the provisioner daemon is shutting down.";
    assert_eq!(server.log_outputs(job).await.last().map(String::as_str), Some(note));
}

fn run(args: &[&str]) -> Output {
    Command::new(PROVISIONERD)
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .unwrap_or_else(|e| panic!("cannot run provisionerd: {e}"))
}

/// The one line on stderr of a run that failed with exit code 1.
fn one_error_line(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
    stderr
}

#[test]
fn a_daemon_that_cannot_reach_its_server_says_so_in_one_line() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port());
    let url = format!("http://127.0.0.1:{}", port.unwrap_or(1));
    let line = one_error_line(&run(&["--url", &url, "--key", "k", "--name", "d"]));
    assert!(line.starts_with(&format!("error: cannot register with {url}: cannot reach the server: ")), "{line}");
}

#[test]
fn a_url_that_is_not_plain_http_is_refused_at_once() {
    let line = one_error_line(&run(&["--url", "https://coder.example.com", "--key", "k", "--name", "d"]));
    let expected = "error: invalid server URL \"https://coder.example.com\": expected http://host:port (the protocol is plain HTTP)";
    assert_eq!(line, expected);
}
