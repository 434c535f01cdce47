//! Memory under two loads anyone can make: a flood of wrong-password sign-ins (no account
//! needed) and many concurrent unlimited job lists. The server's peak resident memory
//! (`VmHWM`) must stay within the budget; what it keeps afterwards is reported.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;

use super::db::{Database, Engine};
use super::http::{Http, Recorder, tally};
use super::server::{ApiServer, HealthWatch, Memory, mib};
use super::tenant::{OWNER_EMAIL, Tenant, bootstrap};
use super::{Context, Outcome};

const BUDGET: u64 = 256 * 1024 * 1024;
const CLIENTS: usize = 64;
const LISTED_JOBS: usize = 10_000;
const LISTED_PENDING: usize = 500;

pub fn login_flood(cx: &Context, engine: Engine) -> anyhow::Result<Outcome> {
    let dir = cx.dir(&format!("login-flood-{}", engine.name()));
    let db = Database::fresh(engine, &dir, &cx.postgres_url)?;
    let mut server = ApiServer::start(&cx.binary, "server", &db.url(), &cx.flags(&[]), &dir)?;
    let endpoint = server.endpoint();
    bootstrap(&endpoint)?;
    let before = server.memory().unwrap_or_default();
    let length = if cx.quick { Duration::from_secs(5) } else { Duration::from_secs(10) };

    let recorder = Recorder::default();
    let until = Instant::now() + length;
    let health = HealthWatch::start(&endpoint.base());
    let clients = (0..CLIENTS)
        .map(|n| {
            let (http, endpoint) = (Http::new(&recorder, Duration::from_secs(120))?, endpoint.clone());
            Ok(std::thread::spawn(move || {
                // Half guess the owner's password, half try addresses nobody has.
                let email = if n % 2 == 0 { OWNER_EMAIL.to_owned() } else { format!("nobody-{n}@example.com") };
                let mut attempt = 0;
                while Instant::now() < until {
                    attempt += 1;
                    let body = json!({"email": email, "password": format!("wrong-password-{n}-{attempt}")});
                    http.post(&endpoint, "login", "/api/v2/users/login", super::http::Auth::Anonymous, &body);
                }
            }))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for client in clients {
        let _ = client.join();
    }
    let (slowest_health, health_failures) = health.finish();
    let (peak, after) = peak_and_after(&server, cx.quick);
    server.stop();

    let calls = recorder.calls();
    let mut problems = over_budget(peak);
    let mut wrong = BTreeMap::new();
    for call in &calls {
        // 401: wrong password; 429: rate limited; 503: shed under load (said honestly).
        if !call.status.is_some_and(|s| matches!(s, 401 | 429 | 503)) {
            *wrong.entry(call.status.map_or("no answer".into(), |s| s.to_string())).or_insert(0) += 1;
        }
    }
    problems
        .extend(wrong.iter().map(|(status, n)| format!("{n} sign-ins answered {status} (expected 401, 429 or 503)")));
    if !calls.iter().any(|c| c.status == Some(401)) {
        problems.push("no sign-in was answered 401: the server is not judging passwords at all".into());
    }
    Ok(Outcome {
        summary: format!(
            "{CLIENTS} clients for {} s, {} wrong-password sign-ins: peak RSS {} (budget {}), {} after",
            length.as_secs(),
            calls.len(),
            mib(peak.peak),
            mib(BUDGET),
            mib(after.resident)
        ),
        problems,
        notes: vec![
            format!("answers: {}", tally(&calls)),
            format!("RSS before the load {}", mib(before.resident)),
            format!("/healthz meanwhile: slowest {:.2} s, {health_failures} failed", slowest_health.as_secs_f64()),
        ],
    })
}

pub fn list_flood(cx: &Context, engine: Engine) -> anyhow::Result<Outcome> {
    let dir = cx.dir(&format!("list-flood-{}", engine.name()));
    let db = Database::fresh(engine, &dir, &cx.postgres_url)?;
    let mut server = ApiServer::start(&cx.binary, "server", &db.url(), &cx.flags(&[]), &dir)?;
    let endpoint = server.endpoint();
    let tenant = bootstrap(&endpoint)?;
    server.stop();
    seed(&db.url(), &tenant)?;
    // A fresh process, so that its peak is the listing's alone.
    server.restart()?;
    let before = server.memory().unwrap_or_default();
    let length = if cx.quick { Duration::ZERO } else { Duration::from_secs(10) };

    let until = Instant::now() + length;
    let started = Instant::now();
    let health = HealthWatch::start(&endpoint.base());
    let url = format!("{}{}?limit=0", endpoint.base(), tenant.jobs_path());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (url, token) = (url.clone(), tenant.token.clone());
            std::thread::spawn(move || -> Vec<(Option<u16>, u64)> {
                let Ok(client) = reqwest::blocking::Client::builder().timeout(Duration::from_secs(300)).build() else {
                    return Vec::new();
                };
                let mut lists = Vec::new();
                // Each client lists at least once, then again until the time is up.
                loop {
                    let answer =
                        client.get(&url).header("Coder-Session-Token", &token).send().and_then(|mut response| {
                            let status = response.status().as_u16();
                            response.copy_to(&mut std::io::sink()).map(|bytes| (Some(status), bytes))
                        });
                    lists.push(answer.unwrap_or((None, 0)));
                    if Instant::now() >= until {
                        return lists;
                    }
                }
            })
        })
        .collect();
    let lists: Vec<(Option<u16>, u64)> = clients.into_iter().flat_map(|c| c.join().unwrap_or_default()).collect();
    let elapsed = started.elapsed();
    let (slowest_health, health_failures) = health.finish();
    let (peak, after) = peak_and_after(&server, cx.quick);
    server.stop();

    let mut problems = over_budget(peak);
    let mut statuses = BTreeMap::new();
    for (status, _) in &lists {
        *statuses.entry(status.map_or("no answer".into(), |s| s.to_string())).or_insert(0) += 1;
    }
    for (status, n) in &statuses {
        if !matches!(status.as_str(), "200" | "429" | "503") {
            problems.push(format!("{n} lists answered {status}"));
        }
    }
    let size = lists.iter().find(|(status, _)| *status == Some(200)).map_or(0, |(_, bytes)| *bytes);
    Ok(Outcome {
        summary: format!(
            "{CLIENTS} clients, {} lists of {LISTED_JOBS} jobs ({:.1} MB each) in {:.1} s: peak RSS {} (budget {}), {} after",
            lists.len(),
            size as f64 / 1e6,
            elapsed.as_secs_f64(),
            mib(peak.peak),
            mib(BUDGET),
            mib(after.resident)
        ),
        problems,
        notes: vec![
            format!("answers: {}", statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect::<Vec<_>>().join(" ")),
            format!("RSS before the load {}", mib(before.resident)),
            format!("/healthz meanwhile: slowest {:.2} s, {health_failures} failed", slowest_health.as_secs_f64()),
        ],
    })
}

/// `LISTED_JOBS` jobs written straight into the database, as `cargo xtask bench` seeds: through
/// the API this takes minutes, because each create costs more the more jobs are pending (a
/// finding of its own). Most are finished history; `LISTED_PENDING` wait in the queue.
fn seed(database_url: &str, tenant: &Tenant) -> anyhow::Result<()> {
    use chrono::{Duration as Span, Utc};
    use domain::provisioner::{JobState, Tags};
    use storage::testing::bulk::BulkJob;

    let now = Utc::now();
    let store = storage::Store::open(database_url, storage::PoolOptions::default(), now)?;
    let organization = uuid::Uuid::parse_str(&tenant.organization)?;
    let owner = uuid::Uuid::parse_str(&tenant.owner)?;
    let tags = Tags::normalise_for_organization(BTreeMap::new())?;
    let jobs: Vec<BulkJob> = (0..LISTED_JOBS)
        .map(|n| {
            let created_at = now - Span::seconds((LISTED_JOBS - n) as i64);
            let state = if n + LISTED_PENDING < LISTED_JOBS {
                let started = created_at + Span::milliseconds(100);
                JobState {
                    started_at: Some(started),
                    completed_at: Some(started + Span::milliseconds(500)),
                    ..JobState::default()
                }
            } else {
                JobState::default()
            };
            BulkJob { id: uuid::Uuid::now_v7(), created_at, state, tags: tags.clone(), worker: None }
        })
        .collect();
    for chunk in jobs.chunks(2_000) {
        store.insert_jobs_bulk(organization, owner, "terraform", chunk)?;
    }
    Ok(())
}

/// The peak so far, then what is left after the server has had a moment to give memory back.
fn peak_and_after(server: &ApiServer, quick: bool) -> (Memory, Memory) {
    let peak = server.memory().unwrap_or_default();
    std::thread::sleep(if quick { Duration::from_secs(2) } else { Duration::from_secs(5) });
    (peak, server.memory().unwrap_or_default())
}

fn over_budget(memory: Memory) -> Vec<String> {
    if memory.peak > BUDGET {
        vec![format!("peak resident memory {} is over the {} budget", mib(memory.peak), mib(BUDGET))]
    } else {
        Vec::new()
    }
}
