//! PostgreSQL: a daemon ending a job this server handed it, in one statement that commits
//! alone.
//!
//! Ending a job is decided by the domain from the job's state and holder. This server
//! remembers both for the jobs it handed out ([`Handed`]), as it wrote them, so the decision
//! can be made before anything is read, and the write made only if the job is still exactly
//! as remembered: one statement that writes the end where the state and holder are unchanged,
//! and sends its notices to other servers if anyone follows the job (see
//! `JobRepo::follow_job`). Followers are the only ones there an end wakes, and a notifying
//! commit is dear: PostgreSQL lets one commit that notifies run at a time, and wakes every
//! listening server at each. Anything else (a job canceled meanwhile, handed out by another
//! server, refused, or a daemon whose sighting is due) goes the longer way, which reads the
//! job and decides from what it finds.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, PoisonError};

use diesel::dsl::{AsSelect, sql};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Text};
use domain::provisioner::{JobState, JobStatus, ProvisionerJob, Tags};
use domain::repo::{DaemonJobRefusal, OpError, OpResult};

use super::with::With;
use super::{Ending, announce_end};
use crate::Store;
use crate::conn::AnyConnection;
use crate::error::Fail;
use crate::events::Events;
use crate::prepared::Prepared;
use crate::rows::jobs::{JobRow, StateChange};
use crate::schema::provisioner_jobs;
use crate::sql_types::Id;

/// More jobs than a server has running at once: reaching it forgets them all (their ends
/// then go the longer way) rather than grow.
const MOST_HANDED: usize = 4096;

/// Jobs this server handed to daemons and has not seen end.
#[derive(Default)]
pub(super) struct Handed(Mutex<HashMap<Id, HandedJob>>);

/// A job as this server handed it out.
struct HandedJob {
    worker: Id,
    /// Its state as written.
    state: JobState,
    /// Its tags, for the answer: nothing is read once the end has committed.
    tags: Tags,
}

impl Handed {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Id, HandedJob>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `job`, just committed as handed to its worker.
    pub(super) fn record(&self, job: &ProvisionerJob) {
        let Some(worker) = job.worker_id else { return };
        let mut handed = self.lock();
        if handed.len() >= MOST_HANDED {
            handed.clear();
        }
        let kept = HandedJob { worker: Id(worker), state: job.state.clone(), tags: job.tags.clone() };
        handed.insert(Id(job.id), kept);
    }

    /// `job` ended the longer way: nothing to remember.
    pub(super) fn forget(&self, job: Id) {
        self.lock().remove(&job);
    }

    /// `job` as it was handed to `worker`, forgotten from now on; `None` if this server did
    /// not hand it to `worker`.
    fn take(&self, job: Id, worker: Id) -> Option<HandedJob> {
        let mut handed = self.lock();
        match handed.remove(&job) {
            Some(kept) if kept.worker == worker => Some(kept),
            Some(other) => {
                handed.insert(job, other);
                None
            }
            None => None,
        }
    }
}

impl Store {
    /// Ends the job in one statement if this server handed it to the daemon and it is still
    /// as handed; `None` when the longer way must decide.
    pub(super) fn end_known(&self, ending: &Ending) -> Option<OpResult<ProvisionerJob, DaemonJobRefusal>> {
        let (daemon, job, now) = (Id(ending.daemon), Id(ending.job), ending.now);
        if self.grouped.is_some() {
            return None;
        }
        // A sighting that is due is written the longer way.
        let (marking, mut fresh) = self.to_mark(std::iter::once(daemon), now);
        let name = fresh.remove(&daemon).filter(|_| marking.is_empty())?;
        let HandedJob { state: handed, tags, .. } = self.steps.handed.take(job, daemon)?;
        let ended = ending.outcome.apply(&handed, now).ok()?;
        // A job entering or leaving the queue is the queue numbers' to hear first (see
        // `Store::write`): that is not one statement's work.
        if [handed.status(), ended.status()].contains(&JobStatus::Pending) {
            return None;
        }
        let mut events = Events::default();
        announce_end(&mut events, job.0, None);
        let (channels, payloads): (Vec<&str>, Vec<String>) = events.notices().into_iter().unzip();
        let told = channels.len();
        let change = StateChange::new(&ended, now);
        let was = StateChange::new(&handed, now);
        let writing = diesel::update(
            provisioner_jobs::table
                .filter(provisioner_jobs::id.eq(job))
                .filter(provisioner_jobs::worker_id.eq(daemon))
                .filter(provisioner_jobs::started_at.is_not_distinct_from(was.started_at))
                .filter(provisioner_jobs::completed_at.is_not_distinct_from(was.completed_at))
                .filter(provisioner_jobs::canceled_at.is_not_distinct_from(was.canceled_at))
                .filter(provisioner_jobs::error.is_not_distinct_from(was.error))
                .filter(provisioner_jobs::error_code.is_not_distinct_from(was.error_code)),
        )
        .set(&change)
        .returning((JobRow::as_returning(), provisioner_jobs::followed));
        // A follower marks the job before it reads it: the mark is on the row this statement
        // writes, so either the statement sees it or the follower reads the job as ended.
        let telling = sql::<Bool>("SELECT pg_notify(notice.channel, notice.payload) FROM ended, unnest(")
            .bind::<Array<Text>, _>(channels)
            .sql(", ")
            .bind::<Array<Text>, _>(payloads)
            .sql(") AS notice(channel, payload) WHERE ended.followed");
        let statement =
            With::<(BigInt, AsSelect<JobRow, Pg>, Bool)>::new("SELECT (SELECT count(*) FROM told), ended.* FROM ended")
                .part("ended", writing)
                .part("told", telling);
        let written = self.conn().and_then(|mut conn| {
            let rows = match &mut **conn {
                AnyConnection::Postgresql(pg) => Prepared::new(statement).load(pg).map_err(Fail::from),
                AnyConnection::Sqlite(_) => Ok(Vec::new()),
            };
            self.settle(&mut conn, &rows);
            rows
        });
        let (sent, row, followed): (i64, JobRow, bool) = match written {
            Ok(mut rows) => rows.pop()?,
            Err(fail) => return Some(Err(OpError::from(fail.committing()))),
        };
        // Committed: from here on the job has ended, whatever else goes wrong.
        self.steps.ended_in_one.fetch_add(1, Ordering::Relaxed);
        let told = if followed { told } else { 0 };
        if usize::try_from(sent).ok() != Some(told) {
            tracing::error!(job = %job.0, sent, told, "a job ended in one statement sent other notices than it should");
        }
        events.publish(&self.hub, &self.index.tags);
        let tags = HashMap::from([(row.tag_set_id, tags)]);
        Some(row.into_domain(&tags, &HashMap::from([(daemon, name)])).map_err(OpError::from))
    }
}
