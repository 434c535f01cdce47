//! `cargo xtask bench acquire`: how fast concurrent daemons drain a queue through HTTP, on one
//! server and, with `--replicas N`, on N servers sharing one PostgreSQL database.
//!
//! Each daemon is a closed loop on its own keep-alive connection: acquire (without waiting),
//! then complete, until the queue is empty. The daemons run on one thread of raw HTTP/1.1, so
//! the client takes as little as it can of the CPU it shares with the servers. Every job must
//! be taken exactly once: a job handed out twice, or one never handed out, fails the run.
//!
//! Beside it, on a queue seeded the same way, the same daemons drain the queue straight on
//! the database with the fewest statements a job needs (see [`floor`]): the limit of the stack
//! the server is measured against.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Deserialize;
use storage::testing::Backend;
use tokio::net::TcpStream;
use uuid::Uuid;

use super::http::load::{connect, exchange};
use super::process::Server;
use super::world::{Plan, backends, database, populate};
use super::{AcquireArgs, summary};
use crate::release::build_api;

mod floor;

/// What one drained queue gave.
struct Drained {
    elapsed: Duration,
    jobs: usize,
    acquire_latencies: Vec<Duration>,
    /// How the servers' store grouped the daemons' steps, summed over the servers.
    grouped: Option<Grouped>,
}

/// How the store grouped the daemons' steps: on PostgreSQL, steps in batches (one transaction
/// each); on SQLite, writes in commits.
struct Grouped {
    groups: f64,
    members: f64,
    /// What one group holds, in words: "steps a batch", "writes a commit".
    each: &'static str,
    /// PostgreSQL: the takes, and the ends, run as one statement each.
    in_one: Option<(f64, f64)>,
}

impl Grouped {
    /// The servers' counters for `backend`, summed; `None` if they grouped nothing.
    fn read(backend: Backend, servers: &[Server]) -> anyhow::Result<Option<Self>> {
        let (groups, members, each) = match backend {
            Backend::Postgres => ("api_store_job_step_batches_total", "api_store_job_steps_total", "steps a batch"),
            Backend::Sqlite => ("api_store_group_commits_total", "api_store_grouped_writes_total", "writes a commit"),
        };
        let mut grouped = Self { groups: 0.0, members: 0.0, each, in_one: None };
        for server in servers {
            grouped.groups += server.metric(groups)?;
            grouped.members += server.metric(members)?;
            if backend == Backend::Postgres {
                let (taken, ended) = grouped.in_one.unwrap_or_default();
                grouped.in_one = Some((
                    taken + server.metric("api_store_job_takes_in_one_statement_total")?,
                    ended + server.metric("api_store_job_ends_in_one_statement_total")?,
                ));
            }
        }
        Ok((grouped.groups > 0.0).then_some(grouped))
    }
}

impl Drained {
    fn per_second(&self) -> f64 {
        self.jobs as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

pub fn run(args: &AcquireArgs) -> anyhow::Result<()> {
    let api = build_api()?;
    for backend in backends(&args.common) {
        // The yardstick first, then the server, each on a freshly seeded queue.
        let floor = drain_alone(backend, args)?;
        report(backend, "the database alone", args, &floor);
        let single = drain_on(&api, backend, args, 1)?;
        report(backend, "1 server", args, &single);
        println!(
            "{backend:?}: one server reaches {:.0} % of the database alone",
            100.0 * single.per_second() / floor.per_second().max(f64::EPSILON)
        );
        if args.replicas <= 1 {
            continue;
        }
        if backend == Backend::Sqlite {
            println!("{backend:?}: --replicas is for PostgreSQL; a SQLite database belongs to one server");
            continue;
        }
        let spread = drain_on(&api, backend, args, args.replicas)?;
        report(backend, &format!("{} servers", args.replicas), args, &spread);
        println!(
            "{backend:?}: {} servers reach {:.0} % of one server's rate",
            args.replicas,
            100.0 * spread.per_second() / single.per_second().max(f64::EPSILON)
        );
    }
    Ok(())
}

fn report(backend: Backend, who: &str, args: &AcquireArgs, drained: &Drained) {
    let (median, p95) = summary(drained.acquire_latencies.clone());
    let grouped = drained
        .grouped
        .as_ref()
        .map(|g| {
            let share = |count: f64| 100.0 * count / (drained.jobs.max(1) as f64);
            let one = g.in_one.map(|(taken, ended)| {
                format!(", in one statement: {:.0} % of takes, {:.0} % of ends", share(taken), share(ended))
            });
            format!("; {:.1} {}{}", g.members / g.groups, g.each, one.unwrap_or_default())
        })
        .unwrap_or_default();
    println!(
        "{backend:?}, {who}: {} daemons ran {} jobs in {:.2} s: {:.0} acquisitions/s (acquire median {median:.2} ms, p95 {p95:.2} ms{grouped}; each job is acquire + complete, each run once)",
        args.daemons,
        drained.jobs,
        drained.elapsed.as_secs_f64(),
        drained.per_second(),
    );
}

/// Seeds a fresh database and drains the queue with [`floor`]'s statements alone.
fn drain_alone(backend: Backend, args: &AcquireArgs) -> anyhow::Result<Drained> {
    let db = database(backend, &args.common);
    let seeded = populate(&db, &plan(args))?;
    let daemons: Vec<Uuid> = seeded.daemons.iter().map(|(id, _)| *id).collect();
    tally(floor::drain(db.url(), seeded.organization, &daemons)?, args.jobs)
}

fn plan(args: &AcquireArgs) -> Plan {
    Plan { jobs: args.jobs, pending: args.jobs, daemons: args.daemons, tag_sets: None }
}

/// Seeds a fresh database, starts `servers` servers over it, spreads the daemons over them
/// and drains the queue.
fn drain_on(api: &Path, backend: Backend, args: &AcquireArgs, servers: usize) -> anyhow::Result<Drained> {
    let db = database(backend, &args.common);
    let seeded = populate(&db, &plan(args))?;
    let servers: Vec<Server> = (0..servers).map(|_| Server::start(api, db.url())).collect::<anyhow::Result<_>>()?;
    let addresses: Vec<SocketAddr> = servers
        .iter()
        .map(|server| server.base.trim_start_matches("http://").parse().context("a server address"))
        .collect::<anyhow::Result<_>>()?;
    let daemons: Vec<Daemon> = seeded
        .daemons
        .iter()
        .enumerate()
        .map(|(n, (id, key))| Daemon { id: *id, key: key.clone(), server: addresses[n % addresses.len()] })
        .collect();
    let mut drained = tally(drain(daemons)?, args.jobs)?;
    drained.grouped = Grouped::read(backend, &servers)?;
    Ok(drained)
}

/// What the daemons did together; fails unless every job was handed out exactly once.
fn tally(worked: Vec<Worked>, jobs: usize) -> anyhow::Result<Drained> {
    let mut taken: Vec<Uuid> = worked.iter().flat_map(|daemon| daemon.taken.iter().copied()).collect();
    let handed_out = taken.len();
    taken.sort_unstable();
    taken.dedup();
    if taken.len() != handed_out {
        bail!("{} jobs were handed out more than once", handed_out - taken.len());
    }
    if handed_out != jobs {
        bail!("{handed_out} of {jobs} jobs ran");
    }
    let elapsed = worked.iter().map(|daemon| daemon.finished).max().unwrap_or_default();
    let acquire_latencies = worked.into_iter().flat_map(|daemon| daemon.latencies).collect();
    Ok(Drained { elapsed, jobs: handed_out, acquire_latencies, grouped: None })
}

struct Daemon {
    id: Uuid,
    key: String,
    server: SocketAddr,
}

/// What one daemon did.
#[derive(Default)]
struct Worked {
    taken: Vec<Uuid>,
    latencies: Vec<Duration>,
    /// Since the start, when it found the queue empty.
    finished: Duration,
}

#[derive(Deserialize)]
struct Taken {
    id: Uuid,
}

fn drain(daemons: Vec<Daemon>) -> anyhow::Result<Vec<Worked>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let mut connected = Vec::with_capacity(daemons.len());
        for daemon in daemons {
            let stream = connect(daemon.server).await?;
            connected.push((daemon, stream));
        }
        let started = Instant::now();
        let loops: Vec<_> =
            connected.into_iter().map(|(daemon, stream)| tokio::spawn(work(daemon, stream, started))).collect();
        let mut worked = Vec::with_capacity(loops.len());
        for one in loops {
            worked.push(one.await??);
        }
        Ok(worked)
    })
}

/// One daemon's loop: acquire and complete until the queue is empty.
async fn work(daemon: Daemon, mut stream: TcpStream, started: Instant) -> anyhow::Result<Worked> {
    let post = |path: String| {
        format!(
            "POST /api/v2/provisionerdaemons/{}/{path} HTTP/1.1\r\nHost: {}\r\nCoder-Provisioner-Daemon-Key: {}\r\nContent-Length: 0\r\n\r\n",
            daemon.id, daemon.server, daemon.key
        )
        .into_bytes()
    };
    let acquire = post("acquire?timeout=0".into());
    let mut worked = Worked::default();
    let mut body = Vec::with_capacity(8192);
    loop {
        let asked = Instant::now();
        match exchange(&mut stream, &acquire, &mut body).await? {
            204 => break,
            200 => worked.latencies.push(asked.elapsed()),
            other => bail!("acquire answered {other}: {}", String::from_utf8_lossy(&body)),
        }
        let Taken { id } = serde_json::from_slice(&body).context("the acquired job")?;
        worked.taken.push(id);
        let status = exchange(&mut stream, &post(format!("jobs/{id}/complete")), &mut body).await?;
        if status != 200 {
            bail!("complete answered {status}: {}", String::from_utf8_lossy(&body));
        }
    }
    worked.finished = started.elapsed();
    Ok(worked)
}
