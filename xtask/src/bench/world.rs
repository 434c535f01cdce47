//! A database seeded for measurement, and the real server over it.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::thread;
use std::time::Duration as StdDuration;

use anyhow::Context;
use api::ServerConfig;
use chrono::{Duration, Utc};
use domain::auth::{LoginType, NewApiKey, hash_secret};
use domain::organization::OrganizationRef;
use domain::provisioner::{JobState, NewDaemon, NewProvisionerKey, ProvisionerKeyName, ProvisionerType, Tags};
use domain::repo::{ApiKeyRepo, DaemonRepo, OrganizationRepo, ProvisionerKeyRepo, UserRepo};
use domain::user::{Email, NewUser, Password, UserRealName, Username};
use storage::testing::bulk::BulkJob;
use storage::testing::{Backend, TestDatabase};
use storage::{PoolOptions, Store};
use uuid::Uuid;

use super::{BackendChoice, Common};

pub fn backends(common: &Common) -> Vec<Backend> {
    match common.backend {
        BackendChoice::Sqlite => vec![Backend::Sqlite],
        BackendChoice::Postgres => vec![Backend::Postgres],
        BackendChoice::All => {
            let reachable = diesel_reachable(&common.postgres_url);
            if !reachable {
                eprintln!("PostgreSQL at {} is not reachable: measuring SQLite only", common.postgres_url);
            }
            if reachable { vec![Backend::Sqlite, Backend::Postgres] } else { vec![Backend::Sqlite] }
        }
    }
}

/// Whether PostgreSQL answers at `url`: a TCP connection within two seconds where the URL
/// names one address, else a connection as the server makes it.
fn diesel_reachable(url: &str) -> bool {
    let Ok(storage::DatabaseUrl::Postgres(url)) = storage::DatabaseUrl::parse(url) else { return false };
    match url.tcp_address() {
        Some(address) => std::net::ToSocketAddrs::to_socket_addrs(&address)
            .into_iter()
            .flatten()
            .any(|address| std::net::TcpStream::connect_timeout(&address, StdDuration::from_secs(2)).is_ok()),
        None => <diesel::PgConnection as diesel::Connection>::establish(url.connecting()).is_ok(),
    }
}

pub fn database(backend: Backend, common: &Common) -> TestDatabase {
    match backend {
        Backend::Sqlite => TestDatabase::sqlite(),
        Backend::Postgres => TestDatabase::postgres_at(&common.postgres_url),
    }
}

/// What a benchmark needs to talk to the seeded server.
pub struct World {
    pub base: String,
    pub token: String,
    pub organization: Uuid,
    handle: actix_web::dev::ServerHandle,
}

/// How the seeded data looks.
pub struct Plan {
    pub jobs: usize,
    pub pending: usize,
    pub daemons: usize,
    /// Daemons share this many tag sets (`pool=a`, `pool=b`, ...); `None`: all untagged.
    pub tag_sets: Option<usize>,
}

fn tags(pool: Option<usize>) -> anyhow::Result<Tags> {
    let raw: BTreeMap<String, String> =
        pool.map(|n| [("pool".to_owned(), char::from(b'a' + (n % 26) as u8).to_string())].into()).unwrap_or_default();
    Ok(Tags::normalise_for_organization(raw)?)
}

/// What was seeded: enough to talk to a server over the database.
pub struct Seeded {
    pub token: String,
    pub organization: Uuid,
    /// `(daemon id, key secret)`.
    pub daemons: Vec<(Uuid, String)>,
    pub pending_job: Uuid,
}

/// Seeds the database and starts the real server over it, in this process.
pub fn seed(db: &TestDatabase, plan: &Plan) -> anyhow::Result<World> {
    let seeded = populate(db, plan)?;
    let (address, handle) = serve(db.url())?;
    Ok(World { base: format!("http://{address}"), token: seeded.token, organization: seeded.organization, handle })
}

/// Seeds the database: an owner with a token, daemons, and the jobs of the plan.
pub fn populate(db: &TestDatabase, plan: &Plan) -> anyhow::Result<Seeded> {
    let now = domain::time::truncate(Utc::now());
    let store = Store::open(db.url(), PoolOptions::default(), now)?;
    let password = Password::parse("correct-horse-battery-staple", &[])?;
    let owner = NewUser {
        email: Email::parse("bench@example.com")?,
        username: Username::parse("bench")?,
        name: UserRealName::default(),
        hashed_password: api::secrets::hash_password(&password)?,
        site_roles: vec![],
        organization_ids: vec![],
    };
    let (owner, _) = store.create_first_user(&owner, now).map_err(|e| anyhow::anyhow!("{e}"))?;
    let organization = store.organization(&OrganizationRef::Default)?.context("no default organization")?.id;
    let token = api::secrets::new_api_token();
    store.insert_api_key(NewApiKey::new(&token, owner.id, LoginType::Token, "bench".into(), Duration::days(1)), now)?;

    let pools = plan.tag_sets.unwrap_or(1).max(1);
    let mut daemons = Vec::new();
    for pool in 0..pools {
        let secret = api::secrets::new_provisioner_key();
        let key = store.create_provisioner_key(
            &NewProvisionerKey {
                organization_id: organization,
                name: ProvisionerKeyName::parse(&format!("pool-{pool}")).map_err(|e| anyhow::anyhow!("{e}"))?,
                tags: tags(plan.tag_sets.map(|_| pool))?,
                hashed_secret: hash_secret(&secret),
            },
            now,
        )?;
        for n in (pool..plan.daemons).step_by(pools) {
            let daemon = store.register_daemon(
                &NewDaemon {
                    organization_id: organization,
                    key_id: key.id,
                    name: format!("daemon-{n}"),
                    version: "bench".into(),
                    provisioners: vec![ProvisionerType::from_stored("terraform".into())],
                    tags: key.tags.clone(),
                },
                now,
            )?;
            daemons.push((daemon.id, secret.clone()));
        }
    }

    // History first (30 days back), then the pending jobs, newest of all.
    let history = plan.jobs.saturating_sub(plan.pending);
    let span = Duration::days(30).num_milliseconds() as f64;
    let mut jobs = Vec::with_capacity(plan.jobs);
    for n in 0..plan.jobs {
        let created_at = if n < history {
            now - Duration::days(30) + Duration::milliseconds((span * n as f64 / history.max(1) as f64) as i64)
        } else {
            // Within the last 20 minutes, so the reaper (30 min) leaves them alone.
            now - Duration::minutes(20)
                + Duration::milliseconds(((n - history) * 1_200_000 / plan.pending.max(1)) as i64)
        };
        let state = if n < history {
            let started = created_at + Duration::seconds(5);
            let completed = Some(started + Duration::seconds(60));
            match n % 20 {
                0 => JobState {
                    started_at: Some(started),
                    completed_at: completed,
                    error: Some("boom".into()),
                    ..Default::default()
                },
                1 => JobState {
                    started_at: Some(started),
                    completed_at: completed,
                    canceled_at: completed,
                    ..Default::default()
                },
                _ => JobState { started_at: Some(started), completed_at: completed, ..Default::default() },
            }
        } else {
            JobState::default()
        };
        let worker = (n < history && !daemons.is_empty()).then(|| daemons[n % daemons.len()].0);
        jobs.push(BulkJob {
            id: Uuid::now_v7(),
            created_at,
            state,
            tags: tags(plan.tag_sets.map(|_| n % pools))?,
            worker,
        });
    }
    let pending_job = jobs.last().map(|job| job.id).unwrap_or_default();
    for chunk in jobs.chunks(10_000) {
        store.insert_jobs_bulk(organization, owner.id, "terraform", chunk)?;
    }
    store.close();
    Ok(Seeded { token: token.to_string(), organization, daemons, pending_job })
}

/// Starts the real server on its own thread.
fn serve(url: &str) -> anyhow::Result<(std::net::SocketAddr, actix_web::dev::ServerHandle)> {
    let mut config = ServerConfig::new("127.0.0.1:0", url);
    // One client sends thousands of requests a minute on purpose: as `--api-rate-limit 0`.
    config.api_rate_limit = 0;
    let (ready, started) = mpsc::channel();
    thread::spawn(move || {
        let result = actix_web::rt::System::new().block_on(async move {
            match api::Application::build(config).await {
                Ok(application) => {
                    let _ = ready.send(Ok((application.address(), application.handle())));
                    application.run().await.map_err(anyhow::Error::from)
                }
                Err(error) => {
                    let _ = ready.send(Err(anyhow::anyhow!("{error:#}")));
                    Ok(())
                }
            }
        });
        if let Err(error) = result {
            eprintln!("server: {error:#}");
        }
    });
    started.recv().context("the server thread died")?
}

impl World {
    /// Stops the server (waiting for it, from outside its runtime).
    pub fn stop(self) {
        actix_web::rt::System::new().block_on(self.handle.stop(false));
    }
}
