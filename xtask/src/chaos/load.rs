//! Load that keeps a record: writers creating jobs (each with a unique marker in
//! `input.template_version_id`) and daemons registering, acquiring, logging and completing
//! over HTTP. Each remembers exactly what the server acknowledged, refused or left
//! unanswered; `ledger` then holds everything the verdict is made from.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use super::http::{Auth, Http, Recorder};
use super::server::Endpoint;
use super::tenant::Tenant;

/// A daemon of the load: talks to one server, with one key.
#[derive(Debug, Clone)]
pub struct DaemonPlan {
    pub server: Arc<Endpoint>,
    pub name: String,
    pub key: String,
}

#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// One writer thread per entry, creating on that server.
    pub writers: Vec<Arc<Endpoint>>,
    /// Pause between two creates of a writer.
    pub pace: Duration,
    /// Creates per writer, then it stops; `None`: until told.
    pub quota: Option<usize>,
    pub daemons: Vec<DaemonPlan>,
    /// Seconds an acquire long-polls.
    pub acquire_wait: u64,
    /// How long a daemon keeps retrying a step of the job in hand before it gives the job up.
    pub hold_for: Duration,
    /// How long any request may take (beyond an acquire's long-poll) before it counts as
    /// unanswered.
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// 2xx with this job id.
    Acked(String),
    /// An error status: the server said the job was not made.
    Answered(u16),
    /// No answer, or an answer that the commit's outcome is unknown: either may be true.
    Unanswered,
}

#[derive(Debug, Clone)]
pub struct CreateRecord {
    pub marker: String,
    pub server: String,
    pub outcome: CreateOutcome,
}

/// What one daemon was told.
#[derive(Debug, Clone, Default)]
pub struct DaemonRecord {
    pub name: String,
    pub id: Option<String>,
    /// Jobs an acquire answered 200 with.
    pub acquired: Vec<String>,
    /// Acquires answered with an error status, and acquires without an answer.
    pub acquire_errors: u32,
    pub acquire_unanswered: u32,
    /// Jobs a complete answered 200 for.
    pub completed: Vec<String>,
    /// Jobs a complete answered an error status (5xx) for, before any other answer.
    pub complete_errors: Vec<(String, u16)>,
    /// Refusals (4xx) of a step: `(job, step, status, message)`.
    pub refused: Vec<(String, &'static str, u16, String)>,
    /// Log lines acknowledged (200), and lines whose append was answered with an error.
    pub logs_acked: Vec<(String, String)>,
    pub logs_error_answered: Vec<(String, String)>,
    /// Jobs given up while the server stayed away.
    pub abandoned: Vec<String>,
}

/// Everything the load did.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pub creates: Vec<CreateRecord>,
    pub daemons: Vec<DaemonRecord>,
}

/// The running load.
pub struct Load {
    stop_writers: Arc<AtomicBool>,
    draining: Arc<AtomicBool>,
    halt: Arc<AtomicBool>,
    writers: Vec<JoinHandle<Vec<CreateRecord>>>,
    daemons: Vec<JoinHandle<DaemonRecord>>,
}

impl Load {
    pub fn start(plan: &LoadPlan, tenant: &Tenant, recorder: &Recorder) -> anyhow::Result<Self> {
        let stop_writers = Arc::new(AtomicBool::new(false));
        let draining = Arc::new(AtomicBool::new(false));
        let halt = Arc::new(AtomicBool::new(false));
        let mut writers = Vec::new();
        for server in &plan.writers {
            let http = Http::new(recorder, plan.timeout)?;
            let (server, tenant, stop, plan) =
                (Arc::clone(server), tenant.clone(), Arc::clone(&stop_writers), plan.clone());
            writers.push(std::thread::spawn(move || write(&http, &server, &tenant, &stop, &plan)));
        }
        let mut daemons = Vec::new();
        for daemon in &plan.daemons {
            let http = Http::new(recorder, plan.timeout + Duration::from_secs(plan.acquire_wait))?;
            let worker = Daemon {
                http,
                plan: daemon.clone(),
                acquire_wait: plan.acquire_wait,
                hold_for: plan.hold_for,
                draining: Arc::clone(&draining),
                halt: Arc::clone(&halt),
                record: DaemonRecord { name: daemon.name.clone(), ..DaemonRecord::default() },
            };
            daemons.push(std::thread::spawn(move || worker.run()));
        }
        Ok(Self { stop_writers, draining, halt, writers, daemons })
    }

    /// Whether every writer has made its quota.
    pub fn writers_done(&self) -> bool {
        self.writers.iter().all(JoinHandle::is_finished)
    }

    /// Stops the writers, lets the daemons run what is left (each stops at its first empty
    /// acquire) for at most `drain_limit`, then stops them too.
    pub fn finish(self, drain_limit: Duration) -> Ledger {
        self.stop_writers.store(true, Ordering::SeqCst);
        let creates: Vec<CreateRecord> =
            self.writers.into_iter().flat_map(|writer| writer.join().unwrap_or_default()).collect();
        self.draining.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + drain_limit;
        while Instant::now() < deadline && !self.daemons.iter().all(JoinHandle::is_finished) {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.halt.store(true, Ordering::SeqCst);
        let daemons = self.daemons.into_iter().filter_map(|daemon| daemon.join().ok()).collect();
        Ledger { creates, daemons }
    }
}

fn write(http: &Http, server: &Endpoint, tenant: &Tenant, stop: &AtomicBool, plan: &LoadPlan) -> Vec<CreateRecord> {
    let mut records = Vec::new();
    let path = tenant.jobs_path();
    while !stop.load(Ordering::SeqCst) && plan.quota.is_none_or(|quota| records.len() < quota) {
        let marker = Uuid::new_v4().to_string();
        let body = json!({
            "type": "template_version_import",
            "provisioner": "terraform",
            "tags": {},
            "input": {"template_version_id": marker},
        });
        let reply = http.post(server, "create job", &path, tenant.auth(), &body);
        let outcome = match reply.status {
            Some(status) if (200..300).contains(&status) => CreateOutcome::Acked(reply.text("id").unwrap_or_default()),
            Some(_) if reply.in_doubt() => CreateOutcome::Unanswered,
            Some(status) => CreateOutcome::Answered(status),
            None => CreateOutcome::Unanswered,
        };
        let acked = matches!(outcome, CreateOutcome::Acked(_));
        records.push(CreateRecord { marker, server: server.label.clone(), outcome });
        std::thread::sleep(if acked { plan.pace } else { plan.pace.max(BACKOFF) });
    }
    records
}

/// Pause after a failed request, so that a server that is away is not hammered.
const BACKOFF: Duration = Duration::from_millis(100);

struct Daemon {
    http: Http,
    plan: DaemonPlan,
    acquire_wait: u64,
    hold_for: Duration,
    draining: Arc<AtomicBool>,
    halt: Arc<AtomicBool>,
    record: DaemonRecord,
}

/// How a step of a job ended.
enum Step {
    Done,
    /// Refused, or given up: drop the job.
    Dropped,
}

impl Daemon {
    fn halted(&self) -> bool {
        self.halt.load(Ordering::SeqCst)
    }

    fn run(mut self) -> DaemonRecord {
        let Some(id) = self.register() else { return self.record };
        self.record.id = Some(id.clone());
        while !self.halted() {
            let draining = self.draining.load(Ordering::SeqCst);
            let wait = if draining { 1 } else { self.acquire_wait };
            let path = format!("/api/v2/provisionerdaemons/{id}/acquire?timeout={wait}");
            let reply = self.http.send(
                &self.plan.server,
                "acquire",
                Method::POST,
                &path,
                Auth::Daemon(&self.plan.key),
                None,
                Duration::from_secs(wait),
            );
            match reply.status {
                Some(200) => {
                    let job = reply.text("id").unwrap_or_default();
                    self.record.acquired.push(job.clone());
                    self.run_job(&id, &job);
                }
                Some(204) if draining => break,
                Some(204) => {}
                Some(_) => {
                    self.record.acquire_errors += 1;
                    std::thread::sleep(BACKOFF);
                }
                None => {
                    self.record.acquire_unanswered += 1;
                    std::thread::sleep(BACKOFF);
                }
            }
        }
        self.record
    }

    fn register(&mut self) -> Option<String> {
        let body = json!({"name": self.plan.name, "provisioners": ["terraform"], "version": "chaos"});
        while !self.halted() {
            let reply = self.http.post(
                &self.plan.server,
                "register daemon",
                "/api/v2/provisionerdaemons",
                Auth::Daemon(&self.plan.key),
                &body,
            );
            if reply.is(200) {
                return reply.text("id");
            }
            std::thread::sleep(BACKOFF);
        }
        None
    }

    fn run_job(&mut self, daemon: &str, job: &str) {
        let base = format!("/api/v2/provisionerdaemons/{daemon}/jobs/{job}");
        let mut attempt = 0;
        let logged = self.step(job, "update", |this| {
            attempt += 1;
            let output = format!("chaos {job} {} attempt {attempt}", this.plan.name);
            let body = json!({"logs": [{"log_source": "provisioner", "log_level": "info", "stage": "chaos", "output": output}]});
            let reply = this.http.post(&this.plan.server, "update job", &format!("{base}/update"), Auth::Daemon(&this.plan.key), &body);
            if reply.is(200) {
                this.record.logs_acked.push((job.to_owned(), output));
            } else if reply.status.is_some_and(|s| s >= 500) && !reply.in_doubt() {
                this.record.logs_error_answered.push((job.to_owned(), output));
            }
            reply
        });
        if matches!(logged, Step::Dropped) {
            return;
        }
        // Only the first attempt that fails can be judged: once one may have taken effect (no
        // answer, or an answer in doubt), a later error says nothing about the job.
        let mut failed_before = false;
        self.step(job, "complete", |this| {
            let reply = this.http.send(
                &this.plan.server,
                "complete job",
                Method::POST,
                &format!("{base}/complete"),
                Auth::Daemon(&this.plan.key),
                None,
                Duration::ZERO,
            );
            match reply.status {
                Some(200) => this.record.completed.push(job.to_owned()),
                _ if failed_before => {}
                Some(status) if status >= 500 && !reply.in_doubt() => {
                    failed_before = true;
                    this.record.complete_errors.push((job.to_owned(), status));
                }
                _ => failed_before = true,
            }
            reply
        });
    }

    /// Retries `attempt` while the server is away (no answer, or 5xx) for up to `hold_for`.
    fn step(
        &mut self,
        job: &str,
        name: &'static str,
        mut attempt: impl FnMut(&mut Self) -> super::http::Reply,
    ) -> Step {
        let deadline = Instant::now() + self.hold_for;
        loop {
            let reply = attempt(self);
            match reply.status {
                Some(status) if (200..300).contains(&status) => return Step::Done,
                Some(status) if status < 500 => {
                    self.record.refused.push((job.to_owned(), name, status, reply.message()));
                    return Step::Dropped;
                }
                _ => {}
            }
            if self.halted() || Instant::now() > deadline {
                self.record.abandoned.push(job.to_owned());
                return Step::Dropped;
            }
            std::thread::sleep(BACKOFF);
        }
    }
}
