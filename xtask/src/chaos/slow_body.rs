//! Slow request bodies: many connections send their headers at once, then the body one
//! byte a second. Each must get 408 and be closed within the server's body timeout, so a
//! handful of clients cannot hold connections (and whatever waits on them) forever.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::db::{Database, Engine};
use super::server::{ApiServer, HealthWatch};
use super::tenant::bootstrap;
use super::{Context, Outcome, go_duration};

/// Shorter than the server's default (30 s) to keep the run short.
const BODY_TIMEOUT: Duration = Duration::from_secs(5);
/// Timers fire a little late on a busy machine.
const GRACE: Duration = Duration::from_secs(2);

pub fn run(cx: &Context, engine: Engine) -> anyhow::Result<Outcome> {
    let dir = cx.dir(&format!("slow-body-{}", engine.name()));
    let db = Database::fresh(engine, &dir, &cx.postgres_url)?;
    let timeout = BODY_TIMEOUT;
    let setting = format!("--request-body-timeout {}", go_duration(timeout));
    let extra = ["--request-body-timeout".to_owned(), go_duration(timeout)];
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let mut server = ApiServer::start(&cx.binary, "server", &db.url(), &cx.flags(&extra), &dir)?;
    let endpoint = server.endpoint();
    let tenant = bootstrap(&endpoint)?;
    let connections = if cx.quick { 64 } else { 256 };
    // Anything later than the limit is a failure already: watching longer only tells how late.
    let watch = timeout + GRACE + Duration::from_secs(1);

    let health = HealthWatch::start(&endpoint.base());
    let clients: Vec<_> = (0..connections)
        .map(|n| {
            let (address, token) = (endpoint.address(), tenant.token.clone());
            // Half sign in (anonymous), half create an organization (signed in).
            std::thread::spawn(move || slow_client(&address, (n % 2 == 1).then_some(token.as_str()), watch))
        })
        .collect();
    let results: Vec<Slow> = clients.into_iter().map(|c| c.join().unwrap_or_default()).collect();
    let (slowest_health, health_failures) = health.finish();
    server.stop();

    let limit = timeout + GRACE;
    let mut problems = Vec::new();
    let mut groups: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    let mut well_handled = 0;
    for result in &results {
        let verdict = match (result.answer, result.closed) {
            _ if result.error.is_some() => format!("could not send: {}", result.error.clone().unwrap_or_default()),
            (None, None) => format!("no answer and still open after {:.0} s", watch.as_secs_f64()),
            (None, Some(_)) => "closed without an answer".into(),
            (Some((status, _)), _) if status != 408 => format!("answered {status} instead of 408"),
            (Some((_, after)), _) if after > limit => {
                format!("408 only after {:.0} s (limit {:.0} s)", after.as_secs_f64(), limit.as_secs_f64())
            }
            (Some(_), None) => "408, but the connection stayed open".into(),
            (Some(_), Some(_)) => {
                well_handled += 1;
                continue;
            }
        };
        *groups.entry(verdict).or_default() += 1;
    }
    for (verdict, count) in groups {
        problems.push(format!("{count} of {connections} connections: {verdict}"));
    }
    let slowest_answer = results.iter().filter_map(|r| r.answer.map(|(_, after)| after)).max();
    Ok(Outcome {
        summary: format!(
            "{connections} connections at 1 byte/s: {} answered 408 and closed within {:.0} s{}",
            well_handled,
            limit.as_secs_f64(),
            slowest_answer.map_or(String::new(), |s| format!(" (slowest answer {:.1} s)", s.as_secs_f64()))
        ),
        problems,
        notes: vec![
            setting,
            format!("/healthz meanwhile: slowest {:.2} s, {health_failures} failed", slowest_health.as_secs_f64()),
        ],
    })
}

#[derive(Debug, Default)]
struct Slow {
    /// The status and when it came, from the end of the headers.
    answer: Option<(u16, Duration)>,
    closed: Option<Duration>,
    error: Option<String>,
}

fn slow_client(address: &str, token: Option<&str>, watch: Duration) -> Slow {
    let mut result = Slow::default();
    let mut stream = match TcpStream::connect(address) {
        Ok(stream) => stream,
        Err(error) => {
            result.error = Some(error.to_string());
            return result;
        }
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let (path, auth) = match token {
        Some(token) => ("/api/v2/organizations", format!("Coder-Session-Token: {token}\r\n")),
        None => ("/api/v2/users/login", String::new()),
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\n{auth}Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{"
    );
    if let Err(error) = stream.write_all(head.as_bytes()) {
        result.error = Some(error.to_string());
        return result;
    }
    let start = Instant::now();
    let mut next_byte = start + Duration::from_secs(1);
    let (mut received, mut buffer) = (Vec::new(), [0u8; 4096]);
    while start.elapsed() < watch {
        if Instant::now() >= next_byte {
            // Errors are expected once the server has given up on us.
            let _ = stream.write_all(b" ");
            next_byte += Duration::from_secs(1);
        }
        match stream.read(&mut buffer) {
            Ok(0) => {
                result.closed = Some(start.elapsed());
                break;
            }
            Ok(n) => {
                received.extend_from_slice(&buffer[..n]);
                if result.answer.is_none() && received.windows(2).any(|w| w == b"\r\n") {
                    let status =
                        String::from_utf8_lossy(&received).split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
                    result.answer = Some((status, start.elapsed()));
                }
            }
            Err(error)
                if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
            Err(_) => {
                result.closed = Some(start.elapsed());
                break;
            }
        }
    }
    result
}
