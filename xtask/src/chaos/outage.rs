//! PostgreSQL stopped and started under load, on a private cluster (never the shared one),
//! with three servers on it: A and B under load, C quiet. While the database is away every
//! answer is a success or a 503, none slower than the pool timeout plus a second; once it
//! accepts connections again, the API of every server and the wake-ups between servers (a
//! daemon long-polling on C gets a job created on A at once) are back within a second.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::json;

use super::db::{PrivateCluster, accepting_connections_at};
use super::http::{Call, Http, Recorder, tally};
use super::judge::{Expect, judge, stored_logs};
use super::load::{DaemonPlan, Load, LoadPlan};
use super::server::{ApiServer, Endpoint};
use super::tenant::{Tenant, all_jobs, bootstrap, provisioner_key};
use super::wake::{Wake, WakeProbe};
use super::{Context, Outcome};

/// The promise: back within this long of the database accepting connections.
const RECOVERY_LIMIT: Duration = Duration::from_secs(1);

pub fn run(cx: &Context) -> anyhow::Result<Outcome> {
    let dir = cx.dir("outage");
    let origin = Instant::now();
    // Short outages, which requests wait out in the pool, and outages longer than the pool
    // timeout, which must be answered 503; three or more, so that a reconnect backoff that
    // only grows shows.
    let long = cx.pool_timeout + Duration::from_secs(2);
    let (outages, watch) = if cx.quick {
        (vec![Duration::from_secs(3), long, Duration::from_secs(3)], Duration::from_secs(4))
    } else {
        (vec![Duration::from_secs(5), long, Duration::from_secs(5), long], Duration::from_secs(10))
    };
    let cluster = PrivateCluster::start()?;
    let url = cluster.url();
    let flags = cx.flags(&[]);
    let mut a = ApiServer::start(&cx.binary, "server-a", &url, &flags, &dir)?;
    let mut b = ApiServer::start(&cx.binary, "server-b", &url, &flags, &dir)?;
    // Kept quiet: only the wake-up probe's daemon waits here. Any local change (a job created
    // or completed on this server) would wake it too, and hide whether notices arrive.
    let mut c = ApiServer::start(&cx.binary, "server-c", &url, &flags, &dir)?;
    let (on_a, on_b, on_c) = (a.endpoint(), b.endpoint(), c.endpoint());
    let tenant = bootstrap(&on_a)?;
    let wake_key = provisioner_key(&on_a, &tenant, "wake", &wake_tags())?;

    let recorder = Recorder::default();
    let plan = LoadPlan {
        writers: vec![on_a.clone(), on_b.clone()],
        pace: Duration::from_millis(25),
        quota: None,
        daemons: (0..4)
            .map(|n| DaemonPlan {
                server: if n % 2 == 0 { on_a.clone() } else { on_b.clone() },
                name: format!("outage-{n}"),
                key: tenant.key.clone(),
            })
            .collect(),
        acquire_wait: 2,
        hold_for: Duration::from_secs(60),
        timeout: cx.pool_timeout + Duration::from_secs(10),
    };
    let load = Load::start(&plan, &tenant, &recorder)?;
    let probe_timeout = cx.pool_timeout + Duration::from_secs(10);
    let api_probes = ApiProbes::start(&[&on_a, &on_b, &on_c], &tenant, &recorder, probe_timeout)?;
    let wake_probe = WakeProbe::start(&on_a, &on_c, &tenant, &wake_key, wake_tags(), &recorder, probe_timeout)?;
    std::thread::sleep(Duration::from_secs(2));

    let mut windows = Vec::new();
    for (n, length) in outages.iter().enumerate() {
        // A clean stop and a crash (recovered from the WAL on start), in turn.
        let mode = if n % 2 == 0 { "fast" } else { "immediate" };
        let stopped = Instant::now();
        cluster.stop(mode)?;
        std::thread::sleep(*length);
        let probe_url = url.clone();
        let accepting = std::thread::spawn(move || accepting_connections_at(&probe_url, Duration::from_secs(120)));
        cluster.start_again()?;
        let back = accepting.join().ok().flatten().context("the private cluster did not come back")?;
        std::thread::sleep(watch);
        windows.push(Window { mode, stopped, back, until: Instant::now() });
    }
    let (api_probes, wakes) = (api_probes.finish(), wake_probe.finish());
    let ledger = load.finish(Duration::from_secs(30));
    let mut jobs = all_jobs(&on_a, &tenant)?;
    // The wake-up probe's jobs are judged by the probe.
    jobs.retain(|job| job["tags"]["chaos"].is_null());
    let logs = stored_logs(&on_b, &tenant, &ledger)?;
    let (facts, mut problems) = judge(&ledger, &jobs, &logs, Expect { settled: true, all_ran: false });
    let calls = recorder.calls();
    problems.extend(answer_problems(&calls, cx.pool_timeout));

    let mut recoveries = Vec::new();
    for (n, window) in windows.iter().enumerate() {
        let label =
            format!("outage {} ({}, {:.1} s)", n + 1, window.mode, (window.back - window.stopped).as_secs_f64());
        let mut parts = Vec::new();
        for endpoint in [&on_a, &on_b, &on_c] {
            let events = api_probes
                .iter()
                .filter(|p| p.server == endpoint.label && p.answered_at > window.back && p.answered_at <= window.until)
                .map(|p| (p.answered_at, p.ok));
            let recovered = back_after(window.back, events);
            check(&mut problems, &label, &format!("API on {}", endpoint.label), recovered, window);
            parts.push(format!("API {} {}", endpoint.label, seconds(recovered)));
        }
        let events = wakes
            .iter()
            .filter(|w| w.acked_at > window.back && w.acked_at <= window.until)
            .map(|w| (w.delivered_at.unwrap_or(w.acked_at), w.woken));
        let recovered = back_after(window.back, events);
        check(&mut problems, &label, "wake-ups from server-a to server-c", recovered, window);
        parts.push(format!("wake-ups {}", seconds(recovered)));
        recoveries.push(format!("{label}: back after {}", parts.join(", ")));
    }

    let refused = calls.iter().filter(|c| c.status == Some(503)).count();
    let slowest = calls.iter().map(|c| c.took.saturating_sub(c.waits)).max().unwrap_or_default();
    a.stop();
    b.stop();
    c.stop();
    let mut notes = recoveries;
    let before: Vec<&Wake> =
        wakes.iter().filter(|w| windows.first().is_some_and(|first| w.acked_at < first.stopped)).collect();
    let latencies = before
        .iter()
        .filter(|w| w.woken)
        .filter_map(|w| w.delivered_at.map(|d| d.saturating_duration_since(w.acked_at)))
        .collect();
    notes.push(format!(
        "before the first outage {} of {} probe jobs came by wake-up, median {:.0} ms",
        before.iter().filter(|w| w.woken).count(),
        before.len(),
        median(latencies).unwrap_or_default().as_secs_f64() * 1000.0
    ));
    notes.push(format!("answers: {}", tally(&calls)));
    notes.push(format!("server log lines at ERROR: {}", error_lines(&[a.log_path(), b.log_path(), c.log_path()])));
    let timeline = dir.join("timeline.txt");
    std::fs::write(&timeline, write_timeline(origin, &windows, &api_probes, &wakes))?;
    notes.push(format!("timeline of outages and probes: {}", timeline.display()));
    Ok(Outcome {
        summary: format!(
            "{} outages ({} s); {refused} answers 503, slowest {:.2} s (limit {:.1} s); {} of {} creates acknowledged, {} jobs run",
            outages.len(),
            outages.iter().map(|o| o.as_secs().to_string()).collect::<Vec<_>>().join(", "),
            slowest.as_secs_f64(),
            (cx.pool_timeout + Duration::from_secs(1)).as_secs_f64(),
            facts.acked,
            facts.creates,
            facts.acquired
        ),
        problems,
        notes,
    })
}

/// Only the wake-up probe's jobs carry these, and only its daemon's key.
fn wake_tags() -> serde_json::Value {
    json!({"chaos": "wake"})
}

struct Window {
    mode: &'static str,
    stopped: Instant,
    /// The first moment a new connection to the database succeeded.
    back: Instant,
    /// The end of watching (the next outage or the end).
    until: Instant,
}

/// Only 2xx and 503 while the database comes and goes, and none slower than the pool
/// timeout plus a second (beyond a long-poll's own wait).
fn answer_problems(calls: &[Call], pool_timeout: Duration) -> Vec<String> {
    let limit = pool_timeout + Duration::from_secs(1);
    let mut problems = Vec::new();
    for call in calls {
        let acceptable = call.status.is_some_and(|s| (200..300).contains(&s) || s == 503);
        if !acceptable {
            problems.push(format!("neither 2xx nor 503: {}", call.describe()));
        } else if call.took > call.waits + limit {
            problems.push(format!("slower than the pool timeout plus a second: {}", call.describe()));
        }
    }
    problems
}

/// How long after `back` the events turned good for good: the first event of the all-good
/// tail. `None` when the last event is bad or there is none.
fn back_after(back: Instant, events: impl Iterator<Item = (Instant, bool)>) -> Option<Duration> {
    let mut events: Vec<(Instant, bool)> = events.collect();
    events.sort_by_key(|(at, _)| *at);
    let tail_start = events.iter().rposition(|(_, good)| !good).map_or(0, |bad| bad + 1);
    events.get(tail_start).map(|(at, _)| at.saturating_duration_since(back))
}

fn check(problems: &mut Vec<String>, label: &str, what: &str, recovered: Option<Duration>, window: &Window) {
    match recovered {
        Some(after) if after <= RECOVERY_LIMIT => {}
        Some(after) => problems.push(format!(
            "{label}: {what} back only {:.2} s after the database (limit {:.0} s)",
            after.as_secs_f64(),
            RECOVERY_LIMIT.as_secs_f64()
        )),
        None => problems.push(format!(
            "{label}: {what} not back in the {:.1} s watched after the database returned",
            (window.until - window.back).as_secs_f64()
        )),
    }
}

fn seconds(recovered: Option<Duration>) -> String {
    recovered.map_or_else(|| "never (in the time watched)".into(), |d| format!("{:.2} s", d.as_secs_f64()))
}

fn median(mut samples: Vec<Duration>) -> Option<Duration> {
    samples.sort();
    samples.get(samples.len() / 2).copied()
}

/// Seconds from the start: outages, failed API probes, every wake-up probe.
fn write_timeline(origin: Instant, windows: &[Window], api: &[ApiProbe], wakes: &[Wake]) -> String {
    let at = |instant: Instant| instant.saturating_duration_since(origin).as_secs_f64();
    let mut lines: Vec<(f64, String)> = Vec::new();
    for window in windows {
        lines.push((at(window.stopped), format!("database stopped ({})", window.mode)));
        lines.push((at(window.back), "database accepts connections".into()));
    }
    for probe in api.iter().filter(|p| !p.ok) {
        lines.push((at(probe.answered_at), format!("API probe on {} failed", probe.server)));
    }
    for wake in wakes {
        let delivery = wake.delivered_at.map_or_else(
            || "never delivered".to_owned(),
            |d| format!("delivered after {:.0} ms", d.saturating_duration_since(wake.acked_at).as_secs_f64() * 1000.0),
        );
        let how = if wake.woken { "by wake-up" } else { "NOT by wake-up" };
        lines.push((at(wake.acked_at), format!("probe job created on server-a for server-c, {delivery} {how}")));
    }
    lines.sort_by(|x, y| x.0.total_cmp(&y.0));
    lines.iter().map(|(t, line)| format!("{t:8.3}  {line}\n")).collect()
}

fn error_lines(logs: &[&std::path::Path]) -> usize {
    logs.iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|text| text.lines().filter(|line| line.contains("ERROR")).count())
        .sum()
}

struct ApiProbe {
    server: String,
    answered_at: Instant,
    ok: bool,
}

/// An API read on each server every 25 ms, through the outages.
struct ApiProbes {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Vec<ApiProbe>>>,
}

impl ApiProbes {
    fn start(
        servers: &[&Arc<Endpoint>],
        tenant: &Tenant,
        recorder: &Recorder,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = servers
            .iter()
            .map(|server| {
                let (http, server, tenant, stop) =
                    (Http::new(recorder, timeout)?, (*server).clone(), tenant.clone(), stop.clone());
                Ok(std::thread::spawn(move || {
                    let path = format!("{}?limit=1", tenant.jobs_path());
                    let mut probes = Vec::new();
                    while !stop.load(Ordering::SeqCst) {
                        let reply = http.get(&server, "API probe", &path, tenant.auth());
                        probes.push(ApiProbe {
                            server: server.label.clone(),
                            answered_at: reply.answered_at,
                            ok: reply.success(),
                        });
                        std::thread::sleep(Duration::from_millis(25));
                    }
                    probes
                }))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self { stop, threads })
    }

    fn finish(self) -> Vec<ApiProbe> {
        self.stop.store(true, Ordering::SeqCst);
        self.threads.into_iter().flat_map(|probe| probe.join().unwrap_or_default()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_is_the_start_of_the_all_good_tail() {
        let back = Instant::now();
        let at = |ms: u64| back + Duration::from_millis(ms);
        let events = [(at(100), true), (at(300), false), (at(700), true), (at(900), true)];
        assert_eq!(back_after(back, events.into_iter()), Some(Duration::from_millis(700)));
        assert_eq!(back_after(back, [(at(100), true), (at(500), false)].into_iter()), None);
        assert_eq!(back_after(back, std::iter::empty()), None);
    }
}
