//! The cross-server wake-up probe: a daemon long-polls acquire on server B while jobs are
//! created on server A, one at a time. A delivery counts as a wake-up only if it cannot
//! have come any other way:
//!
//! - the job was created while B's acquire had been waiting for a while (`FRESH`), so B had
//!   already looked once and found nothing;
//! - that same acquire delivered it, well before its own deadline (where B looks once more
//!   anyway), and quickly (`WAKE_FAST`).
//!
//! Without a notice B finds the job only at that last look, at least `PROBE_WAIT - FRESH.end`
//! after it was created, so no timing luck turns a missing wake-up into a fast one. B must be
//! otherwise quiet: a job created or finished on B itself wakes its waiting daemons locally.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use super::http::{Auth, Http, Recorder};
use super::server::Endpoint;
use super::tenant::Tenant;

/// A notice takes milliseconds; the fallback look takes a second or more (see above).
pub const WAKE_FAST: Duration = Duration::from_millis(500);
/// Seconds each of B's acquires waits.
const PROBE_WAIT: u64 = 2;
/// How long B's acquire must have been waiting when the job is created.
const FRESH: Range<Duration> = Duration::from_millis(200)..Duration::from_millis(1000);
/// A delivery this close to the acquire's deadline may be its last look, not a wake-up.
const LAST_LOOK: Duration = Duration::from_millis(300);

/// One job created on A for the daemon on B.
#[derive(Debug, Clone)]
pub struct Wake {
    pub acked_at: Instant,
    pub delivered_at: Option<Instant>,
    /// Delivered by a wake-up (see the module's rules).
    pub woken: bool,
}

#[derive(Debug, Clone, Copy)]
struct Acquire {
    number: u64,
    started: Instant,
}

#[derive(Default)]
struct Board {
    /// B's acquire in flight.
    waiting: Option<Acquire>,
    /// Job id → the acquire that delivered it, and when.
    delivered: HashMap<String, (Acquire, Instant)>,
}

pub struct WakeProbe {
    stop: Arc<AtomicBool>,
    creator: JoinHandle<Vec<Wake>>,
    daemon: JoinHandle<()>,
}

impl WakeProbe {
    /// `key`: a provisioner key whose tags only the probe's jobs carry (`tags`).
    pub fn start(
        a: &Arc<Endpoint>,
        b: &Arc<Endpoint>,
        tenant: &Tenant,
        key: &str,
        tags: serde_json::Value,
        recorder: &Recorder,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let board = Arc::new(Mutex::new(Board::default()));
        let daemon = {
            let http = Http::new(recorder, timeout + Duration::from_secs(PROBE_WAIT))?;
            let (server, key, stop, board) = (b.clone(), key.to_owned(), stop.clone(), board.clone());
            std::thread::spawn(move || daemon(&http, &server, &key, &stop, &board))
        };
        let creator = {
            let http = Http::new(recorder, timeout)?;
            let (server, tenant, stop) = (a.clone(), tenant.clone(), stop.clone());
            std::thread::spawn(move || creator(&http, &server, &tenant, &tags, &stop, &board))
        };
        Ok(Self { stop, creator, daemon })
    }

    pub fn finish(self) -> Vec<Wake> {
        self.stop.store(true, Ordering::SeqCst);
        let wakes = self.creator.join().unwrap_or_default();
        let _ = self.daemon.join();
        wakes
    }
}

fn daemon(http: &Http, server: &Endpoint, key: &str, stop: &AtomicBool, board: &Mutex<Board>) {
    let auth = Auth::Daemon(key);
    let register = json!({"name": "wake-probe", "provisioners": ["terraform"], "version": "chaos"});
    let mut id = None;
    while id.is_none() && !stop.load(Ordering::SeqCst) {
        id = http.post(server, "register daemon", "/api/v2/provisionerdaemons", auth, &register).text("id");
        if id.is_none() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let Some(id) = id else { return };
    let mut number = 0;
    while !stop.load(Ordering::SeqCst) {
        number += 1;
        let acquire = Acquire { number, started: Instant::now() };
        if let Ok(mut board) = board.lock() {
            board.waiting = Some(acquire);
        }
        let path = format!("/api/v2/provisionerdaemons/{id}/acquire?timeout={PROBE_WAIT}");
        let reply =
            http.send(server, "acquire (wake probe)", Method::POST, &path, auth, None, Duration::from_secs(PROBE_WAIT));
        let job = reply.is(200).then(|| reply.text("id")).flatten();
        if let Ok(mut board) = board.lock() {
            board.waiting = None;
            if let Some(job) = &job {
                board.delivered.insert(job.clone(), (acquire, reply.answered_at));
            }
        }
        if let Some(job) = job {
            let path = format!("/api/v2/provisionerdaemons/{id}/jobs/{job}/complete");
            while !stop.load(Ordering::SeqCst) {
                let done = http.send(server, "complete (wake probe)", Method::POST, &path, auth, None, Duration::ZERO);
                if done.status.is_some_and(|s| s < 500) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        } else if !reply.is(204) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn creator(
    http: &Http,
    server: &Endpoint,
    tenant: &Tenant,
    tags: &serde_json::Value,
    stop: &AtomicBool,
    board: &Mutex<Board>,
) -> Vec<Wake> {
    let mut wakes = Vec::new();
    let path = tenant.jobs_path();
    let body = json!({"type": "template_version_import", "provisioner": "terraform", "tags": tags});
    while !stop.load(Ordering::SeqCst) {
        let waiting = board.lock().ok().and_then(|b| b.waiting).filter(|a| FRESH.contains(&a.started.elapsed()));
        let Some(waiting) = waiting else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let reply = http.post(server, "create job (wake probe)", &path, tenant.auth(), &body);
        let Some(job) = reply.success().then(|| reply.text("id")).flatten() else {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        // Delivered by a notice, by a later look, or (server B broken) never.
        let give_up = Instant::now() + Duration::from_secs(3 * PROBE_WAIT + 5);
        let delivery = loop {
            if let Some(found) = board.lock().ok().and_then(|b| b.delivered.get(&job).copied()) {
                break Some(found);
            }
            if Instant::now() > give_up || stop.load(Ordering::SeqCst) {
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        if delivery.is_none() && stop.load(Ordering::SeqCst) {
            break; // cut short by the end of the scenario, not by the server
        }
        let woken = delivery.is_some_and(|(acquire, at)| {
            acquire.number == waiting.number
                && at.saturating_duration_since(acquire.started) + LAST_LOOK < Duration::from_secs(PROBE_WAIT)
                && at.saturating_duration_since(reply.answered_at) <= WAKE_FAST
        });
        wakes.push(Wake { acked_at: reply.answered_at, delivered_at: delivery.map(|(_, at)| at), woken });
    }
    wakes
}
