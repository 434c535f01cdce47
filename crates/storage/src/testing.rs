//! Throw-away databases for tests and benchmarks: a SQLite file in a temporary directory, or
//! a fresh PostgreSQL database on the server named by `TEST_DATABASE_URL`, dropped afterwards.

pub mod previous_release;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Once;
use std::time::{SystemTime, UNIX_EPOCH};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::conn::{AnyConnection, DatabaseUrl};

/// The backends a test can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for as long as this value does.
pub struct TestDatabase {
    url: String,
    backend: Backend,
    /// The SQLite file's directory; removed on drop.
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: the server's URL and this database's name, to drop it.
    postgres: Option<(String, String)>,
}

const PREFIX: &str = "apitest_";

impl TestDatabase {
    pub fn sqlite() -> Self {
        let dir = match tempfile::tempdir() {
            Ok(dir) => dir,
            Err(error) => panic!("cannot create a temporary directory: {error}"),
        };
        let url = format!("sqlite://{}", dir.path().join("api.db").display());
        Self { url, backend: Backend::Sqlite, _dir: Some(dir), postgres: None }
    }

    /// `None` (after saying so) when `TEST_DATABASE_URL` is not set; with
    /// `REQUIRE_POSTGRES=1` a missing or unreachable server fails the test instead.
    pub fn postgres() -> Option<Self> {
        postgres_server().map(|server| Self::postgres_at(&server))
    }

    /// A fresh database on the PostgreSQL server at `server`; panics if it is unreachable.
    pub fn postgres_at(server: &str) -> Self {
        let server = server.to_owned();
        let mut admin = match PgConnection::establish(&server) {
            Ok(conn) => conn,
            Err(error) => panic!("TEST_DATABASE_URL={server} is not reachable: {error}"),
        };
        static SWEEP: Once = Once::new();
        SWEEP.call_once(|| sweep_leftovers(&mut admin));
        let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let name = format!("{PREFIX}{stamp}_{}", uuid::Uuid::new_v4().simple());
        if let Err(error) = admin.batch_execute(&format!("CREATE DATABASE {name}")) {
            panic!("cannot create test database {name}: {error}");
        }
        let url = replace_database(&server, &name);
        Self { url, backend: Backend::Postgres, _dir: None, postgres: Some((server, name)) }
    }

    pub fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite()),
            Backend::Postgres => Self::postgres(),
        }
    }

    /// The same database again, for a second server; the original still owns (and drops) it.
    pub fn sharing(other: &TestDatabase) -> Self {
        Self { url: other.url.clone(), backend: other.backend, _dir: None, postgres: None }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs SQL on this database behind the application's back (to break it, in tests).
    pub fn execute(&self, sql: &str) {
        if let Err(error) = self.try_execute(sql) {
            panic!("cannot run {sql:?}: {error}");
        }
    }

    /// Runs SQL on this database behind the application's back; the database's refusal as
    /// text (to check a constraint holds).
    pub fn try_execute(&self, sql: &str) -> Result<(), String> {
        match self.connect()? {
            AnyConnection::Postgresql(mut conn) => conn.batch_execute(sql).map_err(|e| e.to_string()),
            AnyConnection::Sqlite(mut conn) => conn.batch_execute(sql).map_err(|e| e.to_string()),
        }
    }

    /// How many rows `table` holds, deleted or not.
    pub fn count_rows(&self, table: &str) -> i64 {
        self.number(&format!("SELECT count(*) AS number FROM {table}"))
    }

    /// PostgreSQL: how many times `index` has been read, as far as the statistics have heard
    /// (each session reports when it goes idle, within seconds).
    pub fn index_scans(&self, index: &str) -> i64 {
        self.number(&format!("SELECT idx_scan AS number FROM pg_stat_user_indexes WHERE indexrelname = '{index}'"))
    }

    /// The one number `sql` answers, named `number`.
    fn number(&self, sql: &str) -> i64 {
        #[derive(QueryableByName)]
        struct Number {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            number: i64,
        }
        let answered: QueryResult<Number> = match self.connect().unwrap_or_else(|e| panic!("{e}")) {
            AnyConnection::Postgresql(mut conn) => diesel::sql_query(sql).get_result(&mut conn),
            AnyConnection::Sqlite(mut conn) => diesel::sql_query(sql).get_result(&mut conn),
        };
        answered.unwrap_or_else(|e| panic!("{sql}: {e}")).number
    }

    /// A connection of its own to this database, configured as the server's are.
    pub fn connect(&self) -> Result<AnyConnection, String> {
        DatabaseUrl::parse(&self.url).map_err(|e| e.to_string())?.establish().map_err(|e| e.to_string())
    }

    /// PostgreSQL: refuses new connections and ends the open ones (`true`), or lets them in
    /// again (`false`) — the database goes down and comes back.
    pub fn set_reachable(&self, reachable: bool) {
        let Some((server, name)) = &self.postgres else {
            panic!("only a PostgreSQL test database can be taken down");
        };
        let mut admin = PgConnection::establish(server).unwrap_or_else(|e| panic!("{e}"));
        // ALLOW_CONNECTIONS holds superusers out too (a connection limit does not).
        let sql = if reachable {
            format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true")
        } else {
            format!(
                "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false; \
                 SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            )
        };
        admin.batch_execute(&sql).unwrap_or_else(|e| panic!("{e}"));
        // pg_terminate_backend only signals: until a backend has exited, its connection may
        // still answer, and a test would see the database up after taking it down.
        let gone = format!("SELECT 1 FROM pg_stat_activity WHERE datname = '{name}'");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !reachable && std::time::Instant::now() < deadline {
            let left = diesel::sql_query(&gone).execute(&mut admin).unwrap_or_else(|e| panic!("{e}"));
            if left == 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

/// A PostgreSQL server of a test's own, in a temporary directory on a free port: for tests
/// that stop and restart the database, which must never happen to the shared server behind
/// `TEST_DATABASE_URL`. Stopped and removed when dropped.
pub struct PrivateCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl PrivateCluster {
    /// Creates and starts the cluster. `None` (after saying so) when PostgreSQL's server
    /// programs are not installed; with `REQUIRE_POSTGRES=1` that fails the test instead.
    pub fn start() -> Option<Self> {
        let Some(bin) = server_programs() else {
            let required = std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
            assert!(!required, "REQUIRE_POSTGRES=1 but no PostgreSQL server programs (initdb, pg_ctl) were found");
            eprintln!("skipped: no PostgreSQL server programs for a private cluster");
            return None;
        };
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        // PostgreSQL refuses to run as root: the cluster belongs to `postgres` then.
        if running_as_root() {
            run(Command::new("chown").arg("-R").arg("postgres").arg(dir.path()));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .unwrap_or_else(|e| panic!("no free port: {e}"));
        let cluster = Self { dir, bin, port };
        run(cluster.tool("initdb").arg("-D").arg(cluster.data()).args(["-A", "trust", "-U", "postgres"]));
        cluster.start_again();
        Some(cluster)
    }

    /// A database on this cluster (`postgres` exists from the start).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Shuts the server down as an administrator would (`pg_ctl stop -m fast`): sessions end.
    pub fn stop(&self) {
        run(self.tool("pg_ctl").arg("-D").arg(self.data()).args(["-m", "fast", "-w", "stop"]));
    }

    /// Starts the server and returns once it accepts connections.
    pub fn start_again(&self) {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.dir.path().display());
        let log = self.dir.path().join("log");
        run(self.tool("pg_ctl").arg("-D").arg(self.data()).arg("-l").arg(log).args(["-w", "-o", &options, "start"]));
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn tool(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = self.tool("pg_ctl").arg("-D").arg(self.data()).args(["-m", "immediate", "-w", "stop"]).output();
    }
}

/// The newest installed PostgreSQL's `bin` directory (Debian's layout), or `PG_BIN`.
fn server_programs() -> Option<PathBuf> {
    if let Ok(bin) = std::env::var("PG_BIN") {
        return Some(PathBuf::from(bin));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

fn run(command: &mut Command) {
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    if !output.status.success() {
        panic!(
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// One index and the bytes it takes on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSize {
    pub table: String,
    pub index: String,
    pub bytes: i64,
}

#[derive(QueryableByName)]
struct IndexSizeRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    index_name: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    bytes: i64,
}

impl TestDatabase {
    /// Every index of the schema with its size: `pg_relation_size` on PostgreSQL, the pages
    /// `dbstat` counts on SQLite. Sorted by table, then index.
    pub fn index_sizes(&self) -> Result<Vec<IndexSize>, String> {
        let rows: Vec<IndexSizeRow> = match self.backend {
            Backend::Postgres => {
                let mut conn = PgConnection::establish(&self.url).map_err(|e| e.to_string())?;
                diesel::sql_query(
                    "SELECT t.relname::text AS table_name, i.relname::text AS index_name, \
                     pg_relation_size(i.oid) AS bytes \
                     FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
                     JOIN pg_namespace n ON n.oid = t.relnamespace \
                     WHERE n.nspname = 'public' AND t.relname NOT LIKE '\\_\\_%'",
                )
                .load(&mut conn)
                .map_err(|e| e.to_string())?
            }
            Backend::Sqlite => {
                let path = self.url.trim_start_matches("sqlite://");
                let mut conn = SqliteConnection::establish(path).map_err(|e| e.to_string())?;
                diesel::sql_query(
                    "SELECT m.tbl_name AS table_name, m.name AS index_name, SUM(d.pgsize) AS bytes \
                     FROM sqlite_master m JOIN dbstat d ON d.name = m.name \
                     WHERE m.type = 'index' AND m.tbl_name NOT LIKE '\\_\\_%' ESCAPE '\\' GROUP BY m.name",
                )
                .load(&mut conn)
                .map_err(|e| e.to_string())?
            }
        };
        let mut sizes: Vec<IndexSize> = rows
            .into_iter()
            .map(|row| IndexSize { table: row.table_name, index: row.index_name, bytes: row.bytes })
            .collect();
        sizes.sort_by(|a, b| (&a.table, &a.index).cmp(&(&b.table, &b.index)));
        Ok(sizes)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((server, name)) = &self.postgres
            && let Ok(mut admin) = PgConnection::establish(server)
        {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// `postgres://user@host:port/db?opts` with another database name.
fn replace_database(server: &str, name: &str) -> String {
    let (base, query) = server.split_once('?').map_or((server, None), |(b, q)| (b, Some(q)));
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

#[derive(QueryableByName)]
struct DatabaseName {
    #[diesel(sql_type = Text)]
    datname: String,
}

/// Databases left by runs that crashed before dropping theirs, older than an hour.
fn sweep_leftovers(admin: &mut PgConnection) {
    let Ok(names) = diesel::sql_query("SELECT datname FROM pg_database WHERE datname LIKE 'apitest\\_%'")
        .load::<DatabaseName>(admin)
    else {
        return;
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    for DatabaseName { datname } in names {
        let created = datname.trim_start_matches(PREFIX).split('_').next().and_then(|s| s.parse::<u64>().ok());
        if created.is_some_and(|created| now.saturating_sub(created) > 3600) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {datname} WITH (FORCE)"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_in_any_url_shape() {
        assert_eq!(replace_database("postgres://u@h:5432/test", "x"), "postgres://u@h:5432/x");
        assert_eq!(
            replace_database("postgres://u@h:5432/test?sslmode=disable", "x"),
            "postgres://u@h:5432/x?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}

/// Bulk loading for benchmarks and load tools: rows decided by the caller, written in large
/// batches in one transaction, bypassing the per-job use case (and its notices).
pub mod bulk {
    use chrono::{DateTime, Utc};
    use diesel::prelude::*;
    use domain::provisioner::{JobState, Tags};
    use domain::repo::RepoError;
    use uuid::Uuid;

    use crate::Store;
    use crate::conn::{per_backend, write_transaction};
    use crate::error::Fail;
    use crate::repos::tag_sets;
    use crate::schema::provisioner_jobs;
    use crate::sql_types::{Id, Instant, Json};

    /// One historical or pending job.
    pub struct BulkJob {
        pub id: Uuid,
        pub created_at: DateTime<Utc>,
        pub state: JobState,
        pub tags: Tags,
        pub worker: Option<Uuid>,
    }

    const BATCH: usize = 500;

    impl Store {
        /// Inserts `jobs` of one organization and initiator, `template_version_import` on
        /// `provisioner`.
        pub fn insert_jobs_bulk(
            &self,
            organization: Uuid,
            initiator: Uuid,
            provisioner: &str,
            jobs: &[BulkJob],
        ) -> Result<(), RepoError> {
            let mut conn = self.pool.get().map_err(|e| RepoError::Unavailable(Box::new(e)))?;
            let result: Result<(), Fail> = write_transaction(&mut conn, |conn| {
                let mut tag_set_ids = std::collections::HashMap::new();
                for job in jobs {
                    if !tag_set_ids.contains_key(&job.tags) {
                        tag_set_ids.insert(job.tags.clone(), tag_sets::ensure(conn, &job.tags)?);
                    }
                }
                for chunk in jobs.chunks(BATCH) {
                    let rows = || -> Vec<_> {
                        chunk
                            .iter()
                            .map(|job| {
                                let state = &job.state;
                                (
                                    provisioner_jobs::id.eq(Id(job.id)),
                                    provisioner_jobs::organization_id.eq(Id(organization)),
                                    provisioner_jobs::initiator_id.eq(Id(initiator)),
                                    provisioner_jobs::created_at.eq(Instant::from(job.created_at)),
                                    provisioner_jobs::updated_at.eq(Instant::from(
                                        state.completed_at.or(state.started_at).unwrap_or(job.created_at),
                                    )),
                                    provisioner_jobs::started_at.eq(state.started_at.map(Instant::from)),
                                    provisioner_jobs::completed_at.eq(state.completed_at.map(Instant::from)),
                                    provisioner_jobs::canceled_at.eq(state.canceled_at.map(Instant::from)),
                                    provisioner_jobs::error.eq(state.error.clone()),
                                    provisioner_jobs::status.eq(state.status().as_str()),
                                    provisioner_jobs::job_type.eq("template_version_import"),
                                    provisioner_jobs::provisioner.eq(provisioner),
                                    provisioner_jobs::tag_set_id
                                        .eq(tag_set_ids.get(&job.tags).copied().unwrap_or(Id(Uuid::nil()))),
                                    provisioner_jobs::input.eq(Json(serde_json::json!({}))),
                                    provisioner_jobs::metadata.eq(Json(serde_json::json!({}))),
                                    provisioner_jobs::worker_id.eq(job.worker.map(Id)),
                                )
                            })
                            .collect()
                    };
                    // Multi-row INSERT is a per-backend statement in diesel.
                    per_backend!(conn, |c| diesel::insert_into(provisioner_jobs::table).values(rows()).execute(c))?;
                }
                Ok(())
            });
            result.map_err(Into::into)
        }
    }
}

/// The first user ("owner", an owner of the default organization), as a server's first
/// sign-up makes it: the user and the default organization's id.
pub fn first_owner(store: &crate::Store) -> (domain::user::User, uuid::Uuid) {
    use domain::repo::UserRepo;
    use domain::user::{Email, NewUser, UserRealName, Username};
    let new = NewUser {
        email: Email::parse("owner@example.com").unwrap_or_else(|e| panic!("{e}")),
        username: Username::parse("owner").unwrap_or_else(|e| panic!("{e}")),
        name: UserRealName::default(),
        hashed_password: "x".into(),
        site_roles: vec![],
        organization_ids: vec![],
    };
    let now = domain::time::truncate(chrono::Utc::now());
    store.create_first_user(&new, now).unwrap_or_else(|e| panic!("{e}"))
}

/// The PostgreSQL server named by `TEST_DATABASE_URL`, for a test that runs on it; `None`
/// (after saying so) when it is not set, which `REQUIRE_POSTGRES=1` makes a failure instead.
pub fn postgres_server() -> Option<String> {
    let required = std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
    let Ok(server) = std::env::var("TEST_DATABASE_URL") else {
        assert!(!required, "REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set");
        eprintln!("skipped: PostgreSQL variant (set TEST_DATABASE_URL to run it)");
        return None;
    };
    Some(server)
}
