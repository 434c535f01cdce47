//! Databases the faults run on: a SQLite file, a throw-away database on the shared
//! PostgreSQL, and a private PostgreSQL cluster that may be stopped (the shared one never is).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::cleanup::{Guard, Undo};
use super::net::free_port;

/// Which engine a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }
}

/// A database for one scenario; removed when dropped (SQLite files stay with the run's logs).
pub enum Database {
    Sqlite { path: PathBuf },
    Postgres(ThrowawayDatabase),
}

impl Database {
    /// A fresh database: a file in `dir`, or a new database on the shared PostgreSQL server.
    pub fn fresh(engine: Engine, dir: &Path, postgres_url: &str) -> anyhow::Result<Self> {
        match engine {
            Engine::Sqlite => {
                std::fs::create_dir_all(dir)?;
                let path = dir.join("api.db");
                for stale in ["api.db", "api.db-wal", "api.db-shm"] {
                    let _ = std::fs::remove_file(dir.join(stale));
                }
                Ok(Database::Sqlite { path })
            }
            Engine::Postgres => Ok(Database::Postgres(ThrowawayDatabase::create(postgres_url)?)),
        }
    }

    pub fn url(&self) -> String {
        match self {
            Database::Sqlite { path } => format!("sqlite://{}", path.display()),
            Database::Postgres(db) => db.url.clone(),
        }
    }

    /// SQLite's own checks of the file: `integrity_check` and `foreign_key_check`. Problems
    /// found, empty when the file is sound; nothing to check on PostgreSQL.
    pub fn integrity_problems(&self) -> anyhow::Result<Vec<String>> {
        let Database::Sqlite { path } = self else { return Ok(Vec::new()) };
        let mut conn = SqliteConnection::establish(&path.display().to_string())?;
        #[derive(QueryableByName)]
        struct Integrity {
            #[diesel(sql_type = Text)]
            integrity_check: String,
        }
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let mut problems: Vec<String> = diesel::sql_query("PRAGMA integrity_check")
            .load::<Integrity>(&mut conn)?
            .into_iter()
            .map(|row| row.integrity_check)
            .filter(|line| line != "ok")
            .map(|line| format!("integrity_check: {line}"))
            .collect();
        let dangling =
            diesel::sql_query("SELECT count(*) AS n FROM pragma_foreign_key_check").get_result::<Count>(&mut conn)?.n;
        if dangling > 0 {
            problems.push(format!("foreign_key_check: {dangling} rows point at nothing"));
        }
        Ok(problems)
    }
}

const PREFIX: &str = "chaos_";

/// A database of its own on the shared server, dropped afterwards (also on Ctrl-C).
pub struct ThrowawayDatabase {
    pub url: String,
    _guard: Guard,
}

impl ThrowawayDatabase {
    pub fn create(admin_url: &str) -> anyhow::Result<Self> {
        let mut admin = PgConnection::establish(admin_url)
            .with_context(|| format!("PostgreSQL at {admin_url} is not reachable (set --postgres-url)"))?;
        sweep_leftovers(&mut admin);
        let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let name = format!("{PREFIX}{stamp}_{}", uuid::Uuid::new_v4().simple());
        admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
        let guard = Guard::new(Undo::Database { admin_url: admin_url.to_owned(), name: name.clone() });
        Ok(Self { url: with_database(admin_url, &name), _guard: guard })
    }
}

/// Databases left by a run that was killed outright (SIGKILL reaches no clean-up), once a
/// day has passed: a younger one may belong to a run still going.
fn sweep_leftovers(admin: &mut PgConnection) {
    static SWEPT: AtomicBool = AtomicBool::new(false);
    if SWEPT.swap(true, Ordering::Relaxed) {
        return;
    }
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        datname: String,
    }
    let Ok(names) =
        diesel::sql_query("SELECT datname FROM pg_database WHERE datname LIKE 'chaos\\_%'").load::<Name>(admin)
    else {
        return;
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    for Name { datname } in names {
        let stamp = datname.trim_start_matches(PREFIX).split('_').next().and_then(|s| s.parse::<u64>().ok());
        if stamp.is_some_and(|stamp| now.saturating_sub(stamp) > 86_400) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {datname} WITH (FORCE)"));
        }
    }
}

pub fn drop_database(admin_url: &str, name: &str) {
    if let Ok(mut admin) = PgConnection::establish(admin_url) {
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
}

/// The same server URL naming another database.
fn with_database(server: &str, name: &str) -> String {
    let (base, query) = server.split_once('?').map_or((server, None), |(b, q)| (b, Some(q)));
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = base[after_scheme..].find('/').map_or(base, |slash| &base[..after_scheme + slash]);
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

const POSTGRES_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL tool, run as `postgres` when we are root (PostgreSQL refuses to run as root).
pub fn postgres_tool(program: &Path, as_postgres: bool) -> Command {
    if as_postgres {
        let mut command = super::cleanup::detached("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        super::cleanup::detached(program)
    }
}

/// A cluster of our own in a temporary directory on a free port: the one fault tests may
/// stop. Stopped and removed when dropped.
pub struct PrivateCluster {
    dir: PathBuf,
    data: PathBuf,
    port: u16,
    as_postgres: bool,
    _guard: Guard,
}

impl PrivateCluster {
    pub fn start() -> anyhow::Result<Self> {
        let bin = Path::new(POSTGRES_BIN);
        if !bin.join("initdb").exists() {
            bail!("no PostgreSQL 15 server binaries in {POSTGRES_BIN}");
        }
        // SAFETY: geteuid(2) cannot fail.
        let as_postgres = unsafe { libc::geteuid() } == 0;
        let dir = std::env::temp_dir().join(format!("chaos-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&dir)?;
        let data = dir.join("data");
        let guard =
            Guard::new(Undo::Cluster { pg_ctl: bin.join("pg_ctl"), data: data.clone(), dir: dir.clone(), as_postgres });
        if as_postgres {
            run(super::cleanup::unblocked("chown").args(["postgres"]).arg(&dir), "chown")?;
        }
        let mut initdb = postgres_tool(&bin.join("initdb"), as_postgres);
        initdb.arg("-D").arg(&data).args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"]);
        run(&mut initdb, "initdb")?;
        let cluster = Self { dir, data, port: free_port()?, as_postgres, _guard: guard };
        cluster.start_again()?;
        Ok(cluster)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl(&self) -> Command {
        let mut command = postgres_tool(&Path::new(POSTGRES_BIN).join("pg_ctl"), self.as_postgres);
        command.arg("-D").arg(&self.data);
        command
    }

    /// Starts it and waits until it accepts connections.
    pub fn start_again(&self) -> anyhow::Result<()> {
        // fsync off: the machine does not crash here, only the database is stopped, and the
        // kernel keeps what was written. Commits stay synchronous, so none is lost.
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log");
        run(self.pg_ctl().arg("-l").arg(&log).args(["-w", "-t", "60", "-o", &options, "start"]), "pg_ctl start")
    }

    /// `fast`: clients are told and disconnected; `immediate`: a crash, recovered on start.
    pub fn stop(&self, mode: &str) -> anyhow::Result<()> {
        run(self.pg_ctl().args(["-m", mode, "-w", "-t", "60", "stop"]), "pg_ctl stop")
    }
}

fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let output = command.stdin(Stdio::null()).output().with_context(|| format!("cannot run {what}"))?;
    if !output.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

/// The first moment a new connection succeeds, polling every 10 ms from now, for at most
/// `limit`.
pub fn accepting_connections_at(url: &str, limit: Duration) -> Option<Instant> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if PgConnection::establish(url).is_ok() {
            return Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}
