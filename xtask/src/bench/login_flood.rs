//! `cargo xtask bench login-flood`: wrong-password sign-ins from many clients at once, while
//! one more client reads an organization. Signing in needs no account and each check costs
//! argon2's core and memory, so this is the cheapest way to take a server's CPU and memory:
//! the reader's latency and the server's resident memory say whether the bound on password
//! hashing holds. Runs the release `api` binary in its own process, so that its memory is its
//! own, with both rate limits off: the flood stands for clients on many addresses.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::json;
use storage::testing::Backend;

use super::LoginFloodArgs;
use super::process::{Server, memory};
use super::world::{backends, database};
use crate::release::build_api;

const PASSWORD: &str = "correct-horse-battery-staple";
const EMAIL: &str = "owner@example.com";

pub fn run(args: &LoginFloodArgs) -> anyhow::Result<()> {
    let api = build_api()?;
    for backend in backends(&args.common) {
        let db = database(backend, &args.common);
        let server = Server::start(&api, db.url())?;
        let result = measure(&server, backend, args);
        drop(server);
        result?;
    }
    Ok(())
}

fn measure(server: &Server, backend: Backend, args: &LoginFloodArgs) -> anyhow::Result<()> {
    let http = reqwest::blocking::Client::new();
    let first = json!({ "email": EMAIL, "username": "owner", "password": PASSWORD });
    let created = http.post(format!("{}/api/v2/users/first", server.base)).json(&first).send()?;
    if created.status() != 201 {
        bail!("creating the first user answered {}", created.status());
    }
    let login =
        http.post(format!("{}/api/v2/users/login", server.base)).json(&json!({ "email": EMAIL, "password": PASSWORD }));
    let login: serde_json::Value = login.send()?.json()?;
    let token = login["session_token"].as_str().unwrap_or_default().to_owned();

    let before = server.memory("VmRSS");
    let alone = read_for(&server.base, &token, Duration::from_secs(args.baseline_seconds))?;

    let flooding = Arc::new(AtomicBool::new(true));
    // Resident memory in KiB, sampled every 50 ms while the flood runs.
    let peak_rss = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (flooding, peak_rss, pid) = (Arc::clone(&flooding), Arc::clone(&peak_rss), server.pid());
        thread::spawn(move || {
            while flooding.load(Ordering::Relaxed) {
                peak_rss.fetch_max((memory(pid, "VmRSS") * 1024.0) as u64, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let flood = {
        let (base, flooding, clients) = (server.base.clone(), Arc::clone(&flooding), args.clients);
        thread::spawn(move || flood(&base, clients, flooding))
    };
    thread::sleep(Duration::from_millis(500));
    let under_flood = read_for(&server.base, &token, Duration::from_secs(args.seconds));
    flooding.store(false, Ordering::Relaxed);
    let answers = flood.join().map_err(|_| anyhow::anyhow!("the flood panicked"))??;
    let _ = sampler.join();
    let under_flood = under_flood?;
    thread::sleep(Duration::from_secs(1));
    let after = server.memory("VmRSS");

    let (alone_median, alone_p99) = (quantile(&alone, 0.5), quantile(&alone, 0.99));
    let (flood_median, flood_p99) = (quantile(&under_flood, 0.5), quantile(&under_flood, 0.99));
    let sent: u64 = answers.values().sum();
    let described: Vec<String> = answers.iter().map(|(status, n)| format!("{n} answered {status}")).collect();
    println!(
        "{backend:?}: a reader GETs /api/v2/organizations/default while {} clients send wrong-password logins",
        args.clients
    );
    println!(
        "  reader alone ({} s):       median {alone_median:.2} ms, p99 {alone_p99:.2} ms ({} requests)",
        args.baseline_seconds,
        alone.len()
    );
    println!(
        "  reader under flood ({} s): median {flood_median:.2} ms, p99 {flood_p99:.2} ms ({} requests): p99 under 50 ms: {}",
        args.seconds,
        under_flood.len(),
        if flood_p99 < 50.0 { "yes" } else { "NO" }
    );
    println!("  flood: {sent} sign-ins ({:.0}/s): {}", sent as f64 / (args.seconds as f64 + 0.5), described.join(", "));
    println!(
        "  server memory: {before:.0} MiB before, {:.0} MiB peak under the flood (VmHWM {:.0} MiB), {after:.0} MiB after",
        peak_rss.load(Ordering::Relaxed) as f64 / 1024.0,
        server.memory("VmHWM"),
    );
    Ok(())
}

/// Latencies, in milliseconds, of back-to-back reads for `period`.
fn read_for(base: &str, token: &str, period: Duration) -> anyhow::Result<Vec<f64>> {
    let http = reqwest::blocking::Client::new();
    let url = format!("{base}/api/v2/organizations/default");
    let mut latencies = Vec::new();
    let until = Instant::now() + period;
    while Instant::now() < until {
        let asked = Instant::now();
        let response = http.get(&url).header("Coder-Session-Token", token).send()?;
        let status = response.status();
        response.bytes()?;
        latencies.push(asked.elapsed().as_secs_f64() * 1000.0);
        if status != 200 {
            bail!("the reader got {status}");
        }
        thread::sleep(Duration::from_millis(5));
    }
    Ok(latencies)
}

/// `clients` concurrent loops of wrong-password sign-ins until told to stop; answers by status.
fn flood(base: &str, clients: usize, flooding: Arc<AtomicBool>) -> anyhow::Result<BTreeMap<u16, u64>> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let http = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;
        let url = format!("{base}/api/v2/users/login");
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let (http, url, flooding) = (http.clone(), url.clone(), Arc::clone(&flooding));
                tokio::spawn(async move {
                    let mut answers: BTreeMap<u16, u64> = BTreeMap::new();
                    while flooding.load(Ordering::Relaxed) {
                        let body = json!({ "email": EMAIL, "password": "not-the-password" });
                        let status = match http.post(&url).json(&body).send().await {
                            Ok(response) => response.status().as_u16(),
                            Err(_) => 0,
                        };
                        *answers.entry(status).or_default() += 1;
                    }
                    answers
                })
            })
            .collect();
        let mut all = BTreeMap::new();
        for task in tasks {
            for (status, n) in task.await? {
                *all.entry(status).or_default() += n;
            }
        }
        Ok(all)
    })
}

/// The `q` quantile of latencies (nearest rank).
fn quantile(samples: &[f64], q: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(index).copied().unwrap_or(0.0)
}
