//! SQLite's writes, committed in groups.
//!
//! SQLite has one writer at a time, and each commit writes the write-ahead log and waits for
//! the disk (fsync). Committed one by one, writes queue behind each other's disk waits. Here
//! every write of the process runs on one connection: a write that finds others queued behind
//! it leaves its transaction open for them, and the last of the group commits for all. Each
//! write is a savepoint of its own, so one that fails is undone alone; nobody is answered
//! before the commit that holds their write, and if that commit fails, every write of the
//! group fails.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use diesel::connection::TransactionManager;
use diesel::r2d2::PooledConnection;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::conn::{AnyConnection, Manager, begin, in_transaction, write_transaction};
use crate::error::Fail;

/// At most this many writes share a commit, so a steady stream of writers still commits.
const MOST_PER_GROUP: usize = 64;

/// The process's SQLite writer. See the module's documentation.
#[derive(Default)]
pub(crate) struct GroupWriter {
    turn: Mutex<Turn>,
    /// Writers waiting for [`Self::turn`]: while there are some, a group stays open.
    queued: AtomicUsize,
    /// Commits so far, and the writes they held.
    commits: AtomicU64,
    committed_writes: AtomicU64,
}

#[derive(Default)]
struct Turn {
    /// Taken from the pool at the first write and kept.
    conn: Option<PooledConnection<Manager>>,
    /// The group whose transaction is open on `conn`.
    open: Option<Group>,
}

struct Group {
    writes: usize,
    outcome: Arc<Outcome>,
}

/// How a group's commit ended, for the writes that left before it: `Err` holds the reason.
#[derive(Default)]
struct Outcome {
    settled: Mutex<Option<Result<(), String>>>,
    told: Condvar,
}

impl Outcome {
    fn settle(&self, result: Result<(), String>) {
        *self.settled.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
        self.told.notify_all();
    }

    fn wait(&self) -> Result<(), String> {
        let mut settled = self.settled.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(result) = &*settled {
                return result.clone();
            }
            settled = self.told.wait(settled).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl GroupWriter {
    /// Runs `f` as one write and returns once it is committed. `connect` gives the writer its
    /// connection the first time.
    pub(crate) fn write<T, R>(
        &self,
        connect: impl FnOnce() -> Result<PooledConnection<Manager>, Fail<R>>,
        f: impl FnOnce(&mut AnyConnection) -> Result<T, Fail<R>>,
    ) -> Result<T, Fail<R>> {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let mut guard = self.turn.lock().unwrap_or_else(PoisonError::into_inner);
        self.queued.fetch_sub(1, Ordering::SeqCst);
        let turn = &mut *guard;
        let conn: &mut AnyConnection = match &mut turn.conn {
            Some(conn) => conn,
            empty => empty.insert(connect()?),
        };
        let group = match &mut turn.open {
            Some(group) => group,
            closed => {
                begin(conn)?;
                closed.insert(Group { writes: 0, outcome: Arc::default() })
            }
        };
        group.writes += 1;
        // Inside the group's transaction, each write is a savepoint.
        let written = match catch_unwind(AssertUnwindSafe(|| write_transaction(conn, f))) {
            Ok(written) => written,
            Err(panic) => {
                abandon(turn, "another write of its group failed");
                drop(guard);
                resume_unwind(panic);
            }
        };
        // A failure of the database itself may have ended the transaction: commit what is left.
        let broken = matches!(written, Err(Fail::Db(_) | Fail::Pool(_) | Fail::InDoubt(_)));
        if !broken && group.writes < MOST_PER_GROUP && self.queued.load(Ordering::SeqCst) > 0 {
            let outcome = Arc::clone(&group.outcome);
            drop(guard);
            return match (written, outcome.wait()) {
                (Ok(value), Ok(())) => Ok(value),
                (Ok(_), Err(reason)) => Err(group_failed(reason)),
                (Err(refused), _) => Err(refused),
            };
        }
        let committed = self.commit(turn);
        match (written, committed) {
            (Ok(value), Ok(())) => Ok(value),
            (Ok(_), Err(error)) => Err(error.into()),
            (Err(failed), _) => Err(failed),
        }
    }

    /// Runs `f` in this process's turn, once any open group has committed: for work on
    /// another connection that takes SQLite's write lock, which then finds it free.
    pub(crate) fn between_groups<T>(&self, f: impl FnOnce() -> T) -> T {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let mut guard = self.turn.lock().unwrap_or_else(PoisonError::into_inner);
        self.queued.fetch_sub(1, Ordering::SeqCst);
        // Its writes learn how it went; a failed commit leaves no group either way.
        let _ = self.commit(&mut guard);
        f()
    }

    /// Commits the open group and tells its writes how it went.
    fn commit(&self, turn: &mut Turn) -> Result<(), DieselError> {
        let (Some(conn), Some(group)) = (turn.conn.as_mut(), turn.open.as_ref()) else {
            return Ok(());
        };
        let committed = Manage::commit_transaction(conn);
        match &committed {
            Ok(()) => {
                self.commits.fetch_add(1, Ordering::Relaxed);
                self.committed_writes.fetch_add(group.writes as u64, Ordering::Relaxed);
                group.outcome.settle(Ok(()));
                turn.open = None;
            }
            Err(error) => abandon(turn, &error.to_string()),
        }
        committed
    }

    /// Commits so far, and how many writes they held.
    pub(crate) fn commits(&self) -> (u64, u64) {
        (self.commits.load(Ordering::Relaxed), self.committed_writes.load(Ordering::Relaxed))
    }
}

/// Ends the open group without its writes: rolls back what is left of its transaction, fails
/// the writes waiting for it, and gives up the connection, whose state is no longer known.
fn abandon(turn: &mut Turn, reason: &str) {
    if let Some(mut conn) = turn.conn.take() {
        while in_transaction(&mut conn) && Manage::rollback_transaction(&mut conn).is_ok() {}
    }
    if let Some(group) = turn.open.take() {
        group.outcome.settle(Err(reason.to_owned()));
    }
}

/// What a write is told when the commit it waited for failed.
fn group_failed<R>(reason: String) -> Fail<R> {
    Fail::Db(DieselError::DatabaseError(DatabaseErrorKind::Unknown, Box::new(reason)))
}

/// The derived connection is its own transaction manager.
type Manage = AnyConnection;
