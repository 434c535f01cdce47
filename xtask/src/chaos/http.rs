//! HTTP as the scenarios speak it: every request is recorded (what, to which server, when,
//! how long, what came back), so that verdicts are made over all of them afterwards.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use super::server::Endpoint;

/// Who a request is from.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    Anonymous,
    Session(&'a str),
    Daemon(&'a str),
}

/// One request and its outcome.
#[derive(Debug, Clone)]
pub struct Call {
    pub what: &'static str,
    pub server: String,
    pub took: Duration,
    /// The status, or `None` when no answer came (refused, reset, timed out).
    pub status: Option<u16>,
    pub error: Option<String>,
    /// How long the server may legitimately hold it on purpose (an acquire's long-poll).
    pub waits: Duration,
}

impl Call {
    pub fn describe(&self) -> String {
        let outcome = match (self.status, &self.error) {
            (Some(status), _) => status.to_string(),
            (None, Some(error)) => format!("no answer ({error})"),
            (None, None) => "no answer".into(),
        };
        format!("{} on {} → {outcome} after {:.2} s", self.what, self.server, self.took.as_secs_f64())
    }
}

/// Every call of a scenario.
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Call>>>);

impl Recorder {
    fn push(&self, call: Call) {
        if let Ok(mut calls) = self.0.lock() {
            calls.push(call);
        }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.0.lock().map(|calls| calls.clone()).unwrap_or_default()
    }
}

/// What came back.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: Option<u16>,
    pub body: Vec<u8>,
    pub answered_at: Instant,
}

impl Reply {
    pub fn is(&self, status: u16) -> bool {
        self.status == Some(status)
    }

    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// `field` of a JSON object body, as text.
    pub fn text(&self, field: &str) -> Option<String> {
        self.json().get(field).and_then(Value::as_str).map(str::to_owned)
    }

    pub fn message(&self) -> String {
        self.text("message").unwrap_or_else(|| String::from_utf8_lossy(&self.body).chars().take(120).collect())
    }

    /// The server's answer that the database went away during the write's commit: it may or
    /// may not have taken effect, as with no answer at all.
    pub fn in_doubt(&self) -> bool {
        self.is(503) && self.text("message").as_deref() == Some(api::error::IN_DOUBT)
    }
}

/// A client whose every request lands in a recorder.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::blocking::Client,
    recorder: Recorder,
}

/// Idle connections are dropped before the server's keep-alive (5 s) would close them, so a
/// request never races the server closing its connection: a "no answer" is then always the
/// server's doing.
const IDLE: Duration = Duration::from_secs(2);

impl Http {
    /// `timeout`: the longest any request may take before it counts as unanswered.
    pub fn new(recorder: &Recorder, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(IDLE)
            .build()?;
        Ok(Self { client, recorder: recorder.clone() })
    }

    pub fn get(&self, server: &Endpoint, what: &'static str, path: &str, auth: Auth<'_>) -> Reply {
        self.send(server, what, Method::GET, path, auth, None, Duration::ZERO)
    }

    pub fn post(&self, server: &Endpoint, what: &'static str, path: &str, auth: Auth<'_>, body: &Value) -> Reply {
        self.send(server, what, Method::POST, path, auth, Some(body), Duration::ZERO)
    }

    /// A request the server may hold for up to `waits` on purpose (a long-poll).
    #[allow(clippy::too_many_arguments)]
    pub fn send(
        &self,
        server: &Endpoint,
        what: &'static str,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<&Value>,
        waits: Duration,
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", server.base()));
        request = match auth {
            Auth::Anonymous => request,
            Auth::Session(token) => request.header("Coder-Session-Token", token),
            Auth::Daemon(key) => request.header("Coder-Provisioner-Daemon-Key", key),
        };
        if let Some(body) = body {
            request = request.json(body);
        }
        let sent = Instant::now();
        let result = request.send().and_then(|response| {
            let status = response.status().as_u16();
            response.bytes().map(|bytes| (status, bytes.to_vec()))
        });
        let took = sent.elapsed();
        let (status, body, error) = match result {
            Ok((status, body)) => (Some(status), body, None),
            Err(error) => (None, Vec::new(), Some(short_error(&error))),
        };
        self.recorder.push(Call { what, server: server.label.clone(), took, status, error, waits });
        Reply { status, body, answered_at: sent + took }
    }
}

fn short_error(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "connection refused".into()
    } else {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            text = cause.to_string();
            source = cause.source();
        }
        text
    }
}

/// `201×812 204×30 503×2 no answer×14`: how the calls were answered.
pub fn tally(calls: &[Call]) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for call in calls {
        let key = call.status.map_or_else(|| "no answer".to_owned(), |s| s.to_string());
        *counts.entry(key).or_insert(0usize) += 1;
    }
    counts.iter().map(|(status, n)| format!("{status}×{n}")).collect::<Vec<_>>().join(" ")
}

/// Calls answered with a server error other than 503 (which says "the database is away",
/// an honest answer during a fault).
pub fn server_faults(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .filter(|call| call.status.is_some_and(|s| s >= 500 && s != 503))
        .map(|call| format!("server error: {}", call.describe()))
        .collect()
}
