//! The `api` binary as a user runs it: start-up errors and signals. The reference daemon's
//! binary is tested in its own crate, `provisionerd`.

use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub(crate) const API: &str = env!("CARGO_BIN_EXE_api");

fn run(args: &[&str]) -> Output {
    Command::new(API).args(args).env("RUST_LOG", "error").output().unwrap_or_else(|e| panic!("cannot run api: {e}"))
}

fn one_error_line(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn an_unsupported_database_url_is_one_clear_error() {
    let line = one_error_line(&run(&["--database-url", "mysql://root@localhost/db", "--http-address", "127.0.0.1:0"]));
    assert!(line.starts_with("error: unsupported database URL \"mysql://root@localhost/db\""), "{line}");
}

#[test]
fn an_unreachable_database_is_one_clear_error() {
    let line = one_error_line(&run(&[
        "serve",
        "--database-url",
        "postgres://postgres@127.0.0.1:1/none",
        "--http-address",
        "127.0.0.1:0",
    ]));
    assert!(line.starts_with("error: cannot connect to the database postgres://postgres@127.0.0.1:1/none"), "{line}");
    let sqlite = one_error_line(&run(&["--database-url", "sqlite:///no/such/directory/api.db"]));
    assert!(sqlite.starts_with("error: cannot connect to the database sqlite:///no/such/directory/api.db"), "{sqlite}");
}

#[test]
fn an_address_in_use_is_one_clear_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let address = taken.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let url = format!("sqlite://{}", dir.path().join("api.db").display());
    let line = one_error_line(&run(&["--database-url", &url, "--http-address", &address]));
    assert!(line.starts_with(&format!("error: cannot listen on {address}")), "{line}");
}

pub(crate) fn free_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    listener.local_addr().map(|a| a.to_string()).unwrap_or_default()
}

pub(crate) fn wait_healthy(address: &str) {
    let healthy = wait_for(Duration::from_secs(30), || {
        reqwest::blocking::get(format!("http://{address}/healthz")).is_ok_and(|r| r.status() == 200)
    });
    assert!(healthy, "the server at {address} never became healthy");
}

/// Polls `condition` until it holds or `within` passes; whether it held.
pub(crate) fn wait_for(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

pub(crate) fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status();
    assert!(status.is_ok_and(|s| s.success()), "kill -{name} failed");
}

pub(crate) fn wait_exit(child: &mut Child, within: Duration) -> Option<i32> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("the process did not exit within {within:?}");
}

#[test]
fn the_server_reads_its_environment_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let address = free_address();
    let mut child = Command::new(API)
        .env("API_HTTP_ADDRESS", &address)
        .env("DATABASE_URL", format!("sqlite://{}", dir.path().join("api.db").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    wait_healthy(&address);
    signal(&child, "TERM");
    assert_eq!(wait_exit(&mut child, Duration::from_secs(15)), Some(0));
    // Migrations ran, and run again harmlessly on the next start.
    let mut again = Command::new(API)
        .args([
            "--http-address",
            &address,
            "--database-url",
            &format!("sqlite://{}", dir.path().join("api.db").display()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    wait_healthy(&address);
    signal(&again, "INT");
    assert_eq!(wait_exit(&mut again, Duration::from_secs(15)), Some(0));
}
