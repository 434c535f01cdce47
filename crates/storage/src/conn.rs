//! Connections: one connection type for both backends, picked from the URL, and pooled.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionDepthChange, TransactionManager};

use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::result::Error as DieselError;

use crate::health::{Backoff, PoolHealth, Reachability};

/// Every query is written once against this; diesel dispatches to the backend.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs the same diesel expression on whichever backend `conn` is: for the few statements
/// the shared query type cannot express (upserts, row locks). Each use is one line per
/// backend, side by side.
macro_rules! per_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::conn::AnyConnection::Postgresql($c) => $body,
            $crate::conn::AnyConnection::Sqlite($c) => $body,
        }
    };
}
pub(crate) use per_backend;

/// Runs `$run` with `$q` bound to the query locked for update: `FOR UPDATE` (optionally
/// `SKIP LOCKED`) on PostgreSQL; on SQLite the query as is, since the surrounding
/// `BEGIN IMMEDIATE` already holds the database's single write lock.
macro_rules! with_row_lock {
    ($conn:expr, $query:expr, skip_locked, |$q:ident, $c:ident| $run:expr) => {
        match $conn {
            $crate::conn::AnyConnection::Postgresql($c) => {
                let $q = $query.for_update().skip_locked();
                $run
            }
            $crate::conn::AnyConnection::Sqlite($c) => {
                let $q = $query;
                $run
            }
        }
    };
    ($conn:expr, $query:expr, |$q:ident, $c:ident| $run:expr) => {
        match $conn {
            $crate::conn::AnyConnection::Postgresql($c) => {
                let $q = $query.for_update();
                $run
            }
            $crate::conn::AnyConnection::Sqlite($c) => {
                let $q = $query;
                $run
            }
        }
    };
}
pub(crate) use with_row_lock;

/// Where the data lives: `postgres://` / `postgresql://` URLs, or `sqlite://<path>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(PgUrl),
    Sqlite(PathBuf),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("unsupported database URL {0:?}: use postgres://user@host:port/database or sqlite://path/to/file.db")]
    Unsupported(String),
    #[error("an in-memory SQLite database cannot be shared by a connection pool: give sqlite:// a file path")]
    InMemory,
}

impl DatabaseUrl {
    /// The database `raw` names. A PostgreSQL URL over the loopback that says nothing of TLS
    /// connects with `sslmode=allow` (without TLS first), unless `PGSSLMODE` is set.
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Self::Postgres(PgUrl::new(raw, std::env::var_os("PGSSLMODE").is_some())));
        }
        let path = raw.strip_prefix("sqlite://").ok_or_else(|| UrlError::Unsupported(raw.to_owned()))?;
        if path.is_empty() {
            return Err(UrlError::Unsupported(raw.to_owned()));
        }
        if path == ":memory:" || path.contains("mode=memory") {
            return Err(UrlError::InMemory);
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    /// The URL as given, with any password masked, for logs and errors.
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite://{}", path.display()),
            Self::Postgres(url) => {
                let url = url.as_given();
                match (url.find("://"), url.rfind('@')) {
                    (Some(scheme_end), Some(at)) if at > scheme_end => {
                        let credentials = &url[scheme_end + 3..at];
                        match credentials.split_once(':') {
                            Some((user, _)) => {
                                format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
                            }
                            None => url.to_owned(),
                        }
                    }
                    _ => url.to_owned(),
                }
            }
        }
    }

    pub(crate) fn establish(&self) -> ConnectionResult<AnyConnection> {
        match self {
            Self::Postgres(url) => PgConnection::establish(url.connecting()).map(AnyConnection::Postgresql),
            Self::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
                conn.batch_execute(SQLITE_PRAGMAS).map_err(|e| ConnectionError::BadConnection(e.to_string()))?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }
}

/// A PostgreSQL URL: as it was given, for people to read, and as the store hands it to
/// libpq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgUrl {
    given: String,
    connecting: String,
}

impl PgUrl {
    /// `given`, connected to without TLS first over the loopback unless TLS is `chosen`
    /// elsewhere (`PGSSLMODE`); see [`PgUrl::connecting`].
    fn new(given: &str, chosen: bool) -> Self {
        let plain = !chosen && PgAddress::of(given).is_some_and(|address| address.plain_by_default());
        let connecting = if plain {
            let joint = if !given.contains('?') {
                "?"
            } else if given.ends_with('?') {
                ""
            } else {
                "&"
            };
            format!("{given}{joint}sslmode=allow")
        } else {
            given.to_owned()
        };
        Self { given: given.to_owned(), connecting }
    }

    /// The URL as given.
    pub fn as_given(&self) -> &str {
        &self.given
    }

    /// What libpq is handed: the URL with `sslmode=allow` when it reaches the server over the
    /// loopback and says nothing of TLS. libpq's default (`prefer`) encrypts whenever the
    /// server offers it, and on the loopback that protects traffic that never leaves the host
    /// while adding to every round trip (see the README's PostgreSQL section for what it cost
    /// here); a job step makes several. `allow` still falls back to TLS for a server that
    /// accepts nothing else. A URL naming its `sslmode`, several hosts, or its host in the
    /// query is handed over as it is.
    pub fn connecting(&self) -> &str {
        &self.connecting
    }

    /// The one host and port the URL reaches over TCP (port 5432 unless it names one);
    /// `None` when it names several hosts, none (a local socket), or its host in the query.
    pub fn tcp_address(&self) -> Option<(&str, u16)> {
        let address = PgAddress::of(&self.given)?;
        if address.several || address.host.is_empty() || address.named("host") || address.named("hostaddr") {
            return None;
        }
        let port = match address.port {
            Some(port) => port.parse().ok()?,
            None => 5432,
        };
        Some((address.host, port))
    }
}

/// The parts of a PostgreSQL URL that say where it connects.
struct PgAddress<'a> {
    /// The host, without an IPv6 address's brackets; empty when none is named.
    host: &'a str,
    port: Option<&'a str>,
    /// Several hosts (`h1,h2`): `host` and `port` are the first's.
    several: bool,
    query: &'a str,
}

impl<'a> PgAddress<'a> {
    fn of(url: &'a str) -> Option<Self> {
        let (_, rest) = url.split_once("://")?;
        let (address, query) = rest.split_once('?').unwrap_or((rest, ""));
        let authority = address.split('/').next().unwrap_or_default();
        let hosts = authority.rsplit_once('@').map_or(authority, |(_, hosts)| hosts);
        let several = hosts.contains(',');
        let first = hosts.split(',').next().unwrap_or_default();
        let (host, port) = match first.strip_prefix('[') {
            Some(bracketed) => {
                let (host, after) = bracketed.split_once(']').unwrap_or((bracketed, ""));
                (host, after.strip_prefix(':'))
            }
            None => match first.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (first, None),
            },
        };
        Some(Self { host, port, several, query })
    }

    fn named(&self, key: &str) -> bool {
        self.query.split('&').any(|pair| pair.split('=').next() == Some(key))
    }

    /// Whether the URL says nothing of TLS and can only reach a server on this host: not all
    /// of several hosts need be on the loopback, and a host in the query overrides this one.
    fn plain_by_default(&self) -> bool {
        let loopback = self.host.eq_ignore_ascii_case("localhost")
            || self.host.parse::<std::net::IpAddr>().is_ok_and(|address| address.is_loopback());
        loopback && !self.several && !self.named("sslmode") && !self.named("host") && !self.named("hostaddr")
    }
}

/// Per connection: wait for a busy writer instead of failing at once, enforce foreign keys
/// (off by default in SQLite), and let readers proceed while one connection writes. Public
/// for tools that open their own connections to compare with the store's.
pub const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL;";

/// Picks the connection type from the URL and reports the real error when it cannot
/// connect (diesel's own `AnyConnection::establish` tries both and hides both errors).
pub(crate) struct Manager {
    pub(crate) url: DatabaseUrl,
    health: PoolHealth,
    /// Set when the store closes: nobody waits for a connection any more.
    closed: Arc<AtomicBool>,
    /// Connections that lost their server so far (see [`Pooled`]).
    losses: Arc<AtomicU64>,
}

/// How long a PostgreSQL connection that has just answered is taken to be alive without
/// asking it.
const TRUST: Duration = Duration::from_millis(250);

/// A pooled connection and what its last use said about it.
///
/// Why: asking PostgreSQL `SELECT 1` before every use doubled the round trips of a request
/// that needs one statement. A connection that answered a moment ago is alive but for a
/// server going away at that very moment, so it is not asked again for a quarter of a second
/// (`TRUST`); the first connection found dead makes every other one be asked before its next
/// use, and is closed.
pub struct Pooled {
    conn: AnyConnection,
    trusted_until: Option<std::time::Instant>,
    /// [`Manager::losses`] when it last answered.
    losses_seen: u64,
    lost: bool,
}

impl Pooled {
    /// After a use: `lost` when it failed because the server is gone.
    pub(crate) fn settle(&mut self, lost: bool, losses: &AtomicU64) {
        if lost {
            self.lost = true;
            losses.fetch_add(1, Ordering::SeqCst);
        } else {
            self.trusted_until = Some(std::time::Instant::now() + TRUST);
            self.losses_seen = losses.load(Ordering::SeqCst);
        }
    }

    fn trusted(&self, losses: &AtomicU64) -> bool {
        !self.lost
            && self.losses_seen == losses.load(Ordering::SeqCst)
            && self.trusted_until.is_some_and(|until| std::time::Instant::now() < until)
    }
}

impl std::ops::Deref for Pooled {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

/// How long one connection attempt keeps retrying PostgreSQL on its own short backoff
/// before it gives up and leaves the next try to r2d2.
const RECONNECT_PATIENCE: Duration = Duration::from_secs(60);

impl ManageConnection for Manager {
    type Connection = Pooled;
    type Error = r2d2::Error;

    /// r2d2 spaces its own retries up to half the pool timeout apart, so requests would go
    /// on failing for seconds after the database is back. Retrying here, a fraction of a
    /// second apart, brings the pool back almost as soon as the database is; a missing
    /// SQLite file is not worth retrying. A closed store stops retrying: a process must not
    /// be inside libpq on another thread while it exits.
    fn connect(&self) -> Result<Pooled, r2d2::Error> {
        let give_up = std::time::Instant::now() + RECONNECT_PATIENCE;
        let mut backoff = Backoff::new();
        loop {
            let retry = matches!(self.url, DatabaseUrl::Postgres(_))
                && !self.closed.load(Ordering::SeqCst)
                && std::time::Instant::now() < give_up;
            match self.url.establish() {
                Ok(conn) => {
                    let losses_seen = self.losses.load(Ordering::SeqCst);
                    return Ok(Pooled { conn, trusted_until: None, losses_seen, lost: false });
                }
                Err(error) if retry => {
                    self.health.0.failed(&error);
                    std::thread::sleep(backoff.next_wait());
                }
                Err(error) => return Err(r2d2::Error::ConnectionError(error)),
            }
        }
    }

    /// Asked at every checkout. A PostgreSQL connection may have been dropped by the server
    /// since it was last used, so one not trusted (see [`Pooled`]) is asked; an open SQLite
    /// file cannot hang up, so it is not asked: there a `SELECT 1` is work for nothing.
    fn is_valid(&self, conn: &mut Pooled) -> Result<(), r2d2::Error> {
        if matches!(conn.conn, AnyConnection::Sqlite(_)) || conn.trusted(&self.losses) {
            return Ok(());
        }
        conn.conn.ping().map_err(r2d2::Error::QueryError)?;
        conn.settle(false, &self.losses);
        Ok(())
    }

    fn has_broken(&self, conn: &mut Pooled) -> bool {
        std::thread::panicking() || conn.lost || conn.conn.is_broken()
    }
}

pub(crate) type Pool = r2d2::Pool<Manager>;

/// How many connections, and how long a request waits for one before the database counts
/// as unavailable.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    pub max_size: u32,
    pub connection_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self { max_size: 16, connection_timeout: Duration::from_secs(5) }
    }
}

/// Connections are opened lazily; the caller checks the database is reachable first. An
/// outage is logged when it starts and when it ends, not at every failed attempt.
pub(crate) fn pool(
    url: &DatabaseUrl,
    options: PoolOptions,
    closed: Arc<AtomicBool>,
    losses: Arc<AtomicU64>,
) -> (Pool, Arc<Reachability>) {
    let reachability = Reachability::new("connection pool");
    let health = PoolHealth(Arc::clone(&reachability));
    let pool = r2d2::Pool::builder()
        .max_size(options.max_size)
        .min_idle(Some(0))
        .connection_timeout(options.connection_timeout)
        .error_handler(Box::new(health.clone()))
        .event_handler(Box::new(health.clone()))
        .build_unchecked(Manager { url: url.clone(), health, closed, losses });
    (pool, reachability)
}

/// Runs `f` in a write transaction, or in a savepoint when `conn` is already inside one (what
/// `f` wrote is then undone alone if it fails). See [`begin`].
pub(crate) fn write_transaction<T, E>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<DieselError>,
{
    write_transaction_sending(conn, |conn| f(conn).map(|value| (value, None)))
}

/// [`write_transaction`] where `f` also answers statements to run just before the commit, in
/// the same round trip as the `COMMIT` (plain SQL without parameters: a write's notices to
/// other servers). If they fail, the transaction is rolled back, as when a commit fails.
pub(crate) fn write_transaction_sending<T, E>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<(T, Option<String>), E>,
) -> Result<T, E>
where
    E: From<DieselError>,
{
    begin(conn)?;
    match f(conn) {
        Ok((value, along)) => {
            commit_with(conn, along.as_deref())?;
            Ok(value)
        }
        Err(error) => match Manage::rollback_transaction(conn) {
            Ok(()) | Err(DieselError::BrokenTransactionManager) => Err(error),
            Err(rollback_error) => Err(rollback_error.into()),
        },
    }
}

/// Commits (or releases the savepoint), with `along` run first: in the same round trip as the
/// `COMMIT` when this is the outermost transaction. diesel's own commit sends `COMMIT` alone,
/// so the transaction's depth is kept here as it would keep it. If `along` fails, what it was
/// to be committed with is rolled back.
fn commit_with(conn: &mut AnyConnection, along: Option<&str>) -> QueryResult<()> {
    let Some(along) = along else {
        return Manage::commit_transaction(conn);
    };
    let outermost = depth(conn) == Some(1);
    let sent = if outermost { conn.batch_execute(&format!("{along}; COMMIT")) } else { conn.batch_execute(along) };
    match sent {
        Ok(()) if outermost => {
            let left = per_backend!(conn, |c| {
                <AnsiTransactionManager as TransactionManager<_>>::transaction_manager_status_mut(c)
                    .transaction_state()?
                    .change_transaction_depth(TransactionDepthChange::DecreaseDepth)
            });
            match left {
                // The connection may have seen the transaction end already.
                Ok(()) | Err(DieselError::NotInTransaction) => Ok(()),
                Err(other) => Err(other),
            }
        }
        Ok(()) => Manage::commit_transaction(conn),
        // Whatever failed, the transaction is over or aborted: roll back what is left.
        Err(failed) => match Manage::rollback_transaction(conn) {
            Ok(()) => Err(failed),
            Err(rollback_error) => {
                per_backend!(conn, |c| {
                    <AnsiTransactionManager as TransactionManager<_>>::transaction_manager_status_mut(c).set_in_error()
                });
                Err(DieselError::RollbackErrorOnCommit {
                    rollback_error: Box::new(rollback_error),
                    commit_error: Box::new(failed),
                })
            }
        },
    }
}

/// Begins a write transaction, or a savepoint inside one. SQLite's outermost is `BEGIN
/// IMMEDIATE`: the write lock is taken up front, so two writers queue on `busy_timeout`
/// instead of one failing with "database is locked" when a read turns into a write halfway.
pub(crate) fn begin(conn: &mut AnyConnection) -> QueryResult<()> {
    let outermost = !in_transaction(conn);
    match conn {
        AnyConnection::Sqlite(sqlite) if outermost => {
            AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")
        }
        _ => Manage::begin_transaction(conn),
    }
}

/// Whether `conn` is inside a transaction; on SQLite that means it holds the write lock,
/// since every transaction here is `BEGIN IMMEDIATE`.
pub(crate) fn in_transaction(conn: &mut AnyConnection) -> bool {
    depth(conn).is_some()
}

/// How many transactions and savepoints `conn` is inside (`None`: none).
fn depth(conn: &mut AnyConnection) -> Option<u32> {
    per_backend!(conn, |c| {
        let status = <AnsiTransactionManager as TransactionManager<_>>::transaction_manager_status_mut(c);
        status.transaction_depth().ok().flatten().map(std::num::NonZeroU32::get)
    })
}

/// The derived connection is its own transaction manager, delegating to the backend's.
type Manage = AnyConnection;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_url_that_says_nothing_of_tls_connects_without_it_first() {
        let plain = |url: &str| PgUrl::new(url, false).connecting().to_owned();
        assert_eq!(plain("postgres://u@127.0.0.1:5432/db"), "postgres://u@127.0.0.1:5432/db?sslmode=allow");
        assert_eq!(
            plain("postgresql://localhost/db?application_name=api"),
            "postgresql://localhost/db?application_name=api&sslmode=allow"
        );
        assert_eq!(plain("postgres://u:p@[::1]:5433/db"), "postgres://u:p@[::1]:5433/db?sslmode=allow");
        assert_eq!(plain("postgres://127.0.0.2/db"), "postgres://127.0.0.2/db?sslmode=allow");
        // What it says is kept.
        for kept in [
            "postgres://u@127.0.0.1/db?sslmode=require",
            "postgres://u@localhost/db?connect_timeout=5&sslmode=verify-full",
            "postgres://u@db.internal:5432/db",
            "postgres://u@10.0.0.7/db",
            "postgres:///db?host=/var/run/postgresql",
            "postgres://localhost/db?hostaddr=10.0.0.7",
            "postgres://[2001:db8::1]/db",
            "postgres://localhost:5432,db.internal:5432/db",
        ] {
            assert_eq!(plain(kept), kept);
        }
    }

    #[test]
    fn tls_chosen_in_the_environment_keeps_every_url_as_given() {
        let url = "postgres://u@127.0.0.1:5432/db";
        assert_eq!(PgUrl::new(url, true).connecting(), url);
    }

    /// Errors and logs quote what the operator wrote, not what libpq was handed.
    #[test]
    fn a_url_is_read_back_as_given_with_its_password_masked() {
        let url = DatabaseUrl::Postgres(PgUrl::new("postgres://u:secret@127.0.0.1/db", false));
        assert_eq!(url.redacted(), "postgres://u:***@127.0.0.1/db");
        let DatabaseUrl::Postgres(pg) = &url else { unreachable!() };
        assert_eq!(pg.as_given(), "postgres://u:secret@127.0.0.1/db");
        assert_eq!(pg.connecting(), "postgres://u:secret@127.0.0.1/db?sslmode=allow");
    }

    #[test]
    fn a_url_names_the_one_address_it_reaches_over_tcp() {
        let address = |url: &str| PgUrl::new(url, false).tcp_address().map(|(host, port)| (host.to_owned(), port));
        assert_eq!(address("postgres://u:p@127.0.0.1/db"), Some(("127.0.0.1".into(), 5432)));
        assert_eq!(address("postgresql://u@db.internal:6432/db?sslmode=require"), Some(("db.internal".into(), 6432)));
        assert_eq!(address("postgres://[::1]:5433/db"), Some(("::1".into(), 5433)));
        assert_eq!(address("postgres://[2001:db8::1]/db"), Some(("2001:db8::1".into(), 5432)));
        for none in [
            "postgres:///db",
            "postgres:///db?host=/var/run/postgresql",
            "postgres://localhost/db?hostaddr=10.0.0.7",
            "postgres://a:5432,b:5432/db",
            "postgres://h:not-a-port/db",
        ] {
            assert_eq!(address(none), None, "{none}");
        }
    }

    #[test]
    fn urls_pick_the_backend() {
        assert_eq!(DatabaseUrl::parse("sqlite://api.db"), Ok(DatabaseUrl::Sqlite("api.db".into())));
        assert_eq!(DatabaseUrl::parse("sqlite:///var/lib/api.db"), Ok(DatabaseUrl::Sqlite("/var/lib/api.db".into())));
        assert!(matches!(DatabaseUrl::parse("postgresql://u@h/db"), Ok(DatabaseUrl::Postgres(_))));
        assert!(matches!(DatabaseUrl::parse("mysql://u@h/db"), Err(UrlError::Unsupported(_))));
        assert!(matches!(DatabaseUrl::parse("api.db"), Err(UrlError::Unsupported(_))));
        assert_eq!(DatabaseUrl::parse("sqlite://:memory:"), Err(UrlError::InMemory));
    }

    #[derive(diesel::QueryableByName)]
    struct ForeignKeys {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        foreign_keys: i32,
    }

    #[test]
    fn every_pooled_sqlite_connection_enforces_foreign_keys() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = DatabaseUrl::Sqlite(dir.path().join("pool.db"));
        let options = PoolOptions { max_size: 4, connection_timeout: Duration::from_secs(5) };
        let (pool, _) = pool(&url, options, Arc::default(), Arc::default());
        // All four at once: each is a connection of its own.
        let mut held: Vec<_> = (0..4).map(|_| pool.get().unwrap_or_else(|e| panic!("{e}"))).collect();
        for conn in &mut held {
            let AnyConnection::Sqlite(sqlite) = &mut ***conn else {
                panic!("not SQLite");
            };
            let setting: ForeignKeys =
                diesel::sql_query("PRAGMA foreign_keys").get_result(sqlite).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(setting.foreign_keys, 1);
        }
    }

    #[derive(diesel::QueryableByName)]
    struct Written {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        written: i64,
    }

    fn written(conn: &mut AnyConnection) -> i64 {
        let count: Written = diesel::sql_query("SELECT count(*) AS written FROM written")
            .get_result(conn)
            .unwrap_or_else(|e| panic!("{e}"));
        count.written
    }

    /// What runs with the commit is delivered only if the write commits, and undoes it if it fails.
    #[test]
    fn statements_sent_with_the_commit_share_its_fate() {
        let Some(url) = crate::testing::postgres_server() else {
            return;
        };
        let connect = |url: &str| AnyConnection::establish(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        let mut conn = connect(&url);
        let mut listener = PgConnection::establish(&url).unwrap_or_else(|e| panic!("{e}"));
        let channel = format!("commit_test_{}", std::process::id());
        listener.batch_execute(&format!("LISTEN {channel}")).unwrap_or_else(|e| panic!("{e}"));
        conn.batch_execute("CREATE TEMP TABLE written (n int)").unwrap_or_else(|e| panic!("{e}"));
        let insert = |conn: &mut AnyConnection| diesel::sql_query("INSERT INTO written VALUES (1)").execute(conn);

        let told = format!("SELECT pg_notify('{channel}', 'it''s written')");
        let committed: QueryResult<()> =
            write_transaction_sending(&mut conn, |c| Ok(((), Some(insert(c).map(|_| told)?))));
        assert!(committed.is_ok(), "{committed:?}");
        assert!(!in_transaction(&mut conn));
        assert_eq!(written(&mut conn), 1);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let heard = loop {
            let heard: Vec<_> = listener.notifications_iter().map(|n| n.unwrap_or_else(|e| panic!("{e}"))).collect();
            if !heard.is_empty() || std::time::Instant::now() > deadline {
                break heard;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(heard.iter().map(|n| n.payload.as_str()).collect::<Vec<_>>(), ["it's written"]);

        // A payload over PostgreSQL's 8 000 bytes fails the notice, and with it the write.
        let too_long = format!("SELECT pg_notify('{channel}', repeat('x', 9000))");
        let failed: QueryResult<()> =
            write_transaction_sending(&mut conn, |c| Ok(((), Some(insert(c).map(|_| too_long.clone())?))));
        assert!(failed.is_err());
        assert!(!in_transaction(&mut conn), "the failed commit left a transaction open");
        assert_eq!(written(&mut conn), 1, "the write whose notice failed was kept");
        assert!(listener.notifications_iter().next().is_none());

        // Inside a transaction, a failing notice undoes its own savepoint alone.
        let outer: QueryResult<()> = write_transaction(&mut conn, |c| {
            insert(c)?;
            let inner: QueryResult<()> =
                write_transaction_sending(c, |c| Ok(((), Some(insert(c).map(|_| too_long.clone())?))));
            assert!(inner.is_err());
            assert_eq!(depth(c), Some(1), "the failed savepoint was left open");
            Ok(())
        });
        assert!(outer.is_ok(), "{outer:?}");
        assert_eq!(written(&mut conn), 2, "the outer write is kept, the savepoint's undone");
    }

    #[test]
    fn passwords_are_masked_in_logs() {
        let url = DatabaseUrl::parse("postgres://app:s3cret@db:5432/api").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(url.redacted(), "postgres://app:***@db:5432/api");
    }
}
