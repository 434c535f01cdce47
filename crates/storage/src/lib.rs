//! The domain's repositories on SQLite (embedded, the default) and PostgreSQL, behind one
//! [`Store`]. Which backend runs is decided by the URL and stays inside this crate: every
//! query is written once against [`conn::AnyConnection`], and the few statements that must
//! differ (row locks, upserts) match on the connection in one place each.

mod batch;
pub mod conn;
mod error;
mod events;
mod group_commit;
mod health;
pub mod migrate;
pub mod observe;
mod prepared;
mod queue_index;
pub(crate) mod repos;
mod rows;
mod schema;
mod sightings;
mod sign_ins;
mod sql_types;
mod tag_catalog;
#[cfg(feature = "testing")]
pub mod testing;
mod wake_socket;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::r2d2::PooledConnection;
use domain::provisioner::Liveness;

pub use conn::{DatabaseUrl, PgUrl, PoolOptions, SQLITE_PRAGMAS, UrlError};
pub use events::{JobQueued, StoreEvent};
pub use repos::{DaemonProfile, JobStepBatches};
pub use sign_ins::DaemonSignIns;

use conn::{AnyConnection, Manager, Pool, write_transaction_sending};
use error::{Fail, NoConnection};
use events::{EventHub, Events, Followers};
use group_commit::GroupWriter;
use health::Reachability;
use queue_index::{Feed, QueueIndex};
use sign_ins::SignIns;

/// How long a caller waits for a connection while the database is known to be away.
const OUTAGE_WAIT: Duration = Duration::from_millis(500);

/// Why a store could not be opened; each reads as one line.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error("cannot connect to the database {url}: {reason}")]
    Connect { url: String, reason: diesel::ConnectionError },
    #[error("cannot migrate the database {url}: {reason}")]
    Migrate { url: String, reason: migrate::MigrationError },
    #[error("cannot prepare the database {url}: {reason}")]
    Setup { url: String, reason: domain::repo::RepoError },
    #[error("cannot start the notification listener: {0}")]
    Listener(#[from] std::io::Error),
}

/// The data store: a connection pool plus the change notices of its writes. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    /// Whether the pool can reach the database at the moment.
    reachability: Arc<Reachability>,
    /// Set by [`Store::close`].
    closed: Arc<AtomicBool>,
    /// Pooled connections found dead so far.
    losses: Arc<AtomicU64>,
    url: DatabaseUrl,
    hub: Arc<EventHub>,
    /// This server's copy of the pending lines, for queue numbers.
    index: Arc<QueueIndex>,
    /// SQLite's writes, which commit in groups; none on PostgreSQL, whose writes each take a
    /// pooled connection and commit on their own.
    grouped: Option<Arc<GroupWriter>>,
    /// Daemons' requests to take and end jobs, run in batches.
    steps: Arc<repos::JobSteps>,
    /// Daemons' sign-ins looked up, kept while nothing that could change them is written.
    sign_ins: Arc<SignIns>,
    /// The daemons' sightings this server saw committed, so that steps skip those not due.
    sightings: Arc<sightings::Sightings>,
    /// When a daemon counts as online, which says how often its steps write its sighting.
    liveness: Liveness,
    /// On PostgreSQL, held while any clone lives: its closing stops the listener at once.
    _listening: Option<Arc<std::os::unix::net::UnixStream>>,
}

impl Store {
    /// Connects (failing fast with the database's own error), migrates, makes sure the
    /// default organization exists, and on PostgreSQL starts listening to other servers.
    pub fn open(url: &str, options: PoolOptions, now: DateTime<Utc>) -> Result<Self, OpenError> {
        let url = DatabaseUrl::parse(url)?;
        let redacted = url.redacted();
        let mut conn = url.establish().map_err(|reason| OpenError::Connect { url: redacted.clone(), reason })?;
        migrate::run(&mut conn).map_err(|reason| OpenError::Migrate { url: redacted.clone(), reason })?;
        repos::organizations::ensure_default(&mut conn, now)
            .map_err(|fail| OpenError::Setup { url: redacted.clone(), reason: fail.into() })?;
        drop(conn);
        let closed = Arc::<AtomicBool>::default();
        let losses = Arc::<AtomicU64>::default();
        let (pool, reachability) = conn::pool(&url, options, Arc::clone(&closed), Arc::clone(&losses));
        let feed = match &url {
            DatabaseUrl::Sqlite(_) => Feed::LocalWrites,
            DatabaseUrl::Postgres(_) => Feed::Listener,
        };
        let grouped: Option<Arc<GroupWriter>> = match &url {
            DatabaseUrl::Sqlite(_) => Some(Arc::default()),
            DatabaseUrl::Postgres(_) => None,
        };
        let index = Arc::new(QueueIndex::new(feed, grouped.clone()));
        let hub = Arc::<EventHub>::default();
        // On PostgreSQL kept only once the listener hears every change. On SQLite this
        // process makes every change (the queue's copies assume so too), and forgets them
        // at once when it does.
        let sign_ins = Arc::new(SignIns::default());
        let listening = match &url {
            DatabaseUrl::Postgres(pg_url) => {
                let followers = Followers { index: Arc::downgrade(&index), sign_ins: Arc::downgrade(&sign_ins) };
                Some(Arc::new(events::spawn_listener(pg_url.connecting().to_owned(), Arc::downgrade(&hub), followers)?))
            }
            DatabaseUrl::Sqlite(_) => {
                sign_ins.hearing(true);
                None
            }
        };
        Ok(Self {
            pool,
            reachability,
            closed,
            losses,
            url,
            hub,
            index,
            grouped,
            steps: Arc::default(),
            sign_ins,
            sightings: Arc::default(),
            liveness: Liveness::default(),
            _listening: listening,
        })
    }

    /// The store with `liveness` as its servers' window of daemons online (the default one
    /// until told): daemons' steps keep their sightings fresh enough for it.
    pub fn with_liveness(mut self, liveness: Liveness) -> Self {
        self.liveness = liveness;
        self
    }

    /// Calls `subscriber` for every change this store, or another server on the same
    /// PostgreSQL database, makes. It runs on the writing thread: keep it short.
    pub fn subscribe(&self, subscriber: impl Fn(StoreEvent) + Send + Sync + 'static) {
        self.hub.subscribe(Box::new(subscriber));
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Stops reconnecting in the background, for a process about to exit (every clone shares
    /// this). Calls still work, each connection attempt made once as it is needed.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// A pooled connection. While the database is known to be away, a caller is told so within
    /// [`OUTAGE_WAIT`] instead of the whole pool timeout: a request needing several connections
    /// would otherwise wait several timeouts. The pool keeps reconnecting meanwhile, and its
    /// first new connection ends the outage.
    fn conn<R>(&self) -> Result<PooledConnection<Manager>, Fail<R>> {
        self.checkout(self.pool.connection_timeout())
    }

    /// [`Self::conn`] waiting at most `wait`.
    fn checkout<R>(&self, wait: Duration) -> Result<PooledConnection<Manager>, Fail<R>> {
        let wait = if self.reachability.is_down() { wait.min(OUTAGE_WAIT) } else { wait };
        self.pool
            .get_timeout(wait)
            .map_err(|pool| Fail::Pool(NoConnection { pool, reason: self.reachability.refusal() }))
    }

    /// Runs read-only work on a pooled connection.
    fn read<T, R>(&self, f: impl FnOnce(&mut AnyConnection) -> Result<T, Fail<R>>) -> Result<T, Fail<R>> {
        let mut conn = self.conn()?;
        let result = f(&mut conn);
        self.settle(&mut conn, &result);
        result
    }

    /// Tells the connection what `outcome` says of it (see [`conn::Pooled`]).
    fn settle<T, R>(&self, conn: &mut conn::Pooled, outcome: &Result<T, Fail<R>>) {
        conn.settle(outcome.as_ref().err().is_some_and(Fail::lost_connection), &self.losses);
    }

    /// Runs a use case in one write transaction; the events it records reach other servers
    /// if it commits, and this process after it did. Whatever the use case answers is read
    /// inside `f`: once the change is committed nothing may fail, or a client would be told
    /// of an error for a change that was made (and retry it).
    fn write<T, R>(&self, f: impl FnOnce(&mut AnyConnection, &mut Events) -> Result<T, Fail<R>>) -> Result<T, Fail<R>> {
        let mut events = Events::default();
        let mut applied = false;
        let mut echoing = false;
        // Answers, with the value, the notices that go to other servers with the commit.
        let work = |c: &mut AnyConnection| -> Result<(T, Option<String>), Fail<R>> {
            let value = f(c, &mut events)?;
            // Before the commit, while the write still holds its lock: see `queue_index`.
            self.index.apply_own(events.pending_changes());
            if self.index.follows_listener() {
                self.hub.expect_echoes(events.pending_changes());
                echoing = true;
            }
            applied = true;
            Ok((value, events.peer_notices(c)))
        };
        let written = match &self.grouped {
            // SQLite: one process, nobody else to tell.
            Some(writer) => writer.write(|| self.conn(), |c| work(c).map(|(value, _)| value)),
            None => {
                let mut conn = self.conn()?;
                let written = write_transaction_sending(&mut conn, work);
                self.settle(&mut conn, &written);
                written
            }
        };
        // Even a write whose commit went unanswered may have changed them.
        if events.changes_sign_ins() {
            self.sign_ins.forget();
        }
        let value = match written {
            Ok(value) => value,
            Err(error) => {
                if applied {
                    self.index.forget(events.pending_changes().iter().map(|change| change.organization));
                }
                if echoing {
                    self.hub.forget_echoes(events.pending_changes());
                }
                return Err(error);
            }
        };
        events.publish(&self.hub, &self.index.tags);
        Ok(value)
    }
}
