//! CONTRACT §8, as an operator sees the `api` binary: prompt shutdown and JSON logs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use storage::testing::TestDatabase;

use crate::binary::{API, free_address, signal, wait_exit, wait_for, wait_healthy};
use crate::harness::PASSWORD;

/// The binary on a fresh SQLite database, serving and healthy.
struct Server {
    child: Child,
    base: String,
    address: String,
    db: TestDatabase,
    http: reqwest::blocking::Client,
}

impl Server {
    fn start(args: &[&str], stdout: Stdio) -> Self {
        let db = TestDatabase::sqlite();
        let address = free_address();
        let child = Command::new(API)
            .args(["--database-url", db.url(), "--http-address", &address])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(stdout)
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run api: {e}"));
        wait_healthy(&address);
        let http = reqwest::blocking::Client::new();
        Self { child, base: format!("http://{address}/api/v2"), address, db, http }
    }

    fn post(&self, path: &str, token: Option<&str>, body: Value) -> Value {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = token {
            request = request.header("Coder-Session-Token", token);
        }
        let response = request.send().unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().unwrap_or_default()
    }

    /// The server's log lines as they are written (stdout must be piped).
    fn log_lines(&mut self) -> LogLines {
        let stdout = self.child.stdout.take().unwrap_or_else(|| panic!("stdout is not piped"));
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        LogLines(lines)
    }

    /// The first user, signed in: its id and session token.
    fn owner(&self) -> (String, String) {
        let first = json!({ "email": "owner@example.com", "username": "owner", "password": PASSWORD });
        let created = self.post("/users/first", None, first);
        let login = self.post("/users/login", None, json!({ "email": "owner@example.com", "password": PASSWORD }));
        let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
        (text(&created["user_id"]), text(&login["session_token"]))
    }
}

struct LogLines(std::sync::mpsc::Receiver<String>);

impl LogLines {
    /// Whether a line that `matches` is written within `within`.
    fn wait_for_line(&self, within: Duration, matches: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.0.recv_timeout(left) {
                Ok(line) if matches(&line) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sigterm_ends_waiting_long_polls_at_once_and_the_server_exits_promptly() {
    let mut server = Server::start(&[], Stdio::null());
    let (_, token) = server.owner();
    let key = server.post("/organizations/default/provisionerkeys", Some(&token), json!({ "name": "builders" }))["key"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let daemon = server
        .http
        .post(format!("{}/provisionerdaemons", server.base))
        .header("Coder-Provisioner-Daemon-Key", &key)
        .json(&json!({ "name": "builder-1", "provisioners": ["echo"] }))
        .send()
        .and_then(|r| r.json::<Value>())
        .unwrap_or_else(|e| panic!("{e}"));
    let acquire = format!("{}/provisionerdaemons/{}/acquire", server.base, daemon["id"].as_str().unwrap_or_default());
    let job = json!({ "type": "template_version_import", "provisioner": "echo" });
    let job = server.post("/organizations/default/provisionerjobs", Some(&token), job)["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let taken = server.http.post(format!("{acquire}?timeout=5")).header("Coder-Provisioner-Daemon-Key", &key).send();
    assert_eq!(taken.map(|r| r.status().as_u16()).ok(), Some(200));

    // A daemon waiting for a job (none is pending), and a client following the running job's log.
    let waiting = {
        let (http, key) = (server.http.clone(), key.clone());
        std::thread::spawn(move || {
            let reply = http.post(format!("{acquire}?timeout=60")).header("Coder-Provisioner-Daemon-Key", key).send();
            (reply.map(|r| r.status().as_u16()).ok(), Instant::now())
        })
    };
    let following = {
        let url = format!("{}/organizations/default/provisionerjobs/{job}/logs?follow=true", server.base);
        let http = server.http.clone();
        std::thread::spawn(move || {
            let mut stream =
                http.get(url).header("Coder-Session-Token", token).send().unwrap_or_else(|e| panic!("{e}"));
            let mut rest = Vec::new();
            let ended_cleanly = stream.read_to_end(&mut rest).is_ok();
            (ended_cleanly, Instant::now())
        })
    };
    std::thread::sleep(Duration::from_millis(500));

    let asked = Instant::now();
    signal(&server.child, "TERM");
    assert_eq!(wait_exit(&mut server.child, Duration::from_secs(2)), Some(0), "exit within 2 s");
    let exited = asked.elapsed();
    let (status, answered) = waiting.join().unwrap_or_else(|_| panic!("the acquire thread panicked"));
    let (ended_cleanly, ended) = following.join().unwrap_or_else(|_| panic!("the follower thread panicked"));
    assert_eq!(status, Some(204), "the waiting acquire is answered 204");
    assert!(ended_cleanly, "the log stream ends, not breaks");
    eprintln!(
        "stop asked; acquire answered after {:?}, log stream ended after {:?}, process exited after {exited:?}",
        answered - asked,
        ended - asked
    );
    assert!(answered - asked < Duration::from_secs(1) && ended - asked < Duration::from_secs(1));
}

#[test]
fn a_request_in_flight_finishes_before_the_server_exits() {
    let metrics = free_address();
    let mut server = Server::start(&["--prometheus-enable", "--prometheus-address", &metrics], Stdio::piped());
    let log = server.log_lines();
    server.owner();
    // A sign-in whose body arrives in two parts: the request is in flight in between.
    let body = json!({ "email": "owner@example.com", "password": PASSWORD }).to_string();
    let (head, tail) = body.split_at(10);
    let mut stream = TcpStream::connect(&server.address).unwrap_or_else(|e| panic!("{e}"));
    let request = format!(
        "POST /api/v2/users/login HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{head}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    // Observed, not slept on: a loaded machine may take its time to read the head, and a
    // connection whose request has not begun is rightly closed at once on shutdown.
    let in_flight = r#"coderd_api_concurrent_requests{method="POST",path="/api/v2/users/login"} 1"#;
    let scraped = wait_for(Duration::from_secs(10), || {
        let text = server.http.get(format!("http://{metrics}/metrics")).send().and_then(|r| r.text());
        text.is_ok_and(|text| text.lines().any(|line| line == in_flight))
    });
    assert!(scraped, "the sign-in never showed as in flight");
    signal(&server.child, "TERM");
    let stopping =
        log.wait_for_line(Duration::from_secs(10), |line| line.contains("stopping: finishing requests in flight"));
    assert!(stopping, "the server never said it was stopping");
    std::thread::sleep(Duration::from_millis(300));
    assert!(matches!(server.child.try_wait(), Ok(None)), "the server exited with a request in flight");
    stream.write_all(tail.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap_or_else(|e| panic!("{e}"));
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    assert!(response.to_ascii_lowercase().contains("connection: close"), "{response}");
    assert_eq!(wait_exit(&mut server.child, Duration::from_secs(2)), Some(0));
}

#[test]
fn json_logs_carry_one_object_per_line_with_the_request_id() {
    let mut server = Server::start(&["--log-json"], Stdio::piped());
    let (owner_id, token) = server.owner();
    let url = |path: &str| format!("{}{path}", server.base);
    // A client's request id is kept; a malformed one is replaced.
    let kept = server.http.get(url("/organizations/default")).header("X-Request-Id", "trace-4711").send();
    let kept = kept.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kept.status().as_u16(), 401);
    assert_eq!(kept.headers().get("x-request-id").and_then(|v| v.to_str().ok()), Some("trace-4711"));
    let replaced = server.http.get(url("/users/first")).header("X-Request-Id", "not {ok}").send();
    let replaced = replaced.unwrap_or_else(|e| panic!("{e}"));
    let generated = replaced.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(uuid::Uuid::try_parse(&generated).is_ok(), "{generated}");
    // A fault of ours: the line says why, at ERROR, with the signed-in user.
    server.db.execute("ALTER TABLE provisioner_keys RENAME TO provisioner_keys_gone");
    let failed = server
        .http
        .get(url("/organizations/default/provisionerkeys"))
        .header("Coder-Session-Token", &token)
        .header("X-Request-Id", "broken-1")
        .send()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(failed.status().as_u16(), 500);

    signal(&server.child, "TERM");
    assert_eq!(wait_exit(&mut server.child, Duration::from_secs(5)), Some(0));
    let mut stdout = String::new();
    if let Some(mut out) = server.child.stdout.take() {
        out.read_to_string(&mut stdout).unwrap_or_else(|e| panic!("{e}"));
    }
    let lines: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}")))
        .collect();
    assert!(lines.iter().all(|l| l["timestamp"].is_string() && l["level"].is_string() && l["message"].is_string()));
    let request = |id: &str| -> Value {
        lines.iter().find(|l| l["request_id"] == id).cloned().unwrap_or_else(|| panic!("no line for {id}:\n{stdout}"))
    };
    let unauthorized = request("trace-4711");
    assert_eq!(unauthorized["level"], "INFO");
    assert_eq!(unauthorized["message"], "request");
    assert_eq!(unauthorized["method"], "GET");
    assert_eq!(unauthorized["route"], "/api/v2/organizations/{organization}");
    assert_eq!(unauthorized["status"], 401);
    assert!(unauthorized["latency_ms"].is_number());
    assert!(unauthorized.get("user_id").is_none());
    assert_eq!(request(&generated)["status"], 200);
    let broken = request("broken-1");
    assert_eq!(broken["level"], "ERROR");
    assert_eq!(broken["status"], 500);
    assert_eq!(broken["user_id"], owner_id.as_str());
    let cause = broken["cause"].as_str().unwrap_or_default();
    assert!(cause.contains("provisioner_keys"), "{cause}");
}
