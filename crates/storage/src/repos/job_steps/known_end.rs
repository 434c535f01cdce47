//! PostgreSQL: a daemon ending a job this server handed it, in one statement that commits
//! alone.
//!
//! Ending a job is decided by the domain from the job's state and holder. This server
//! remembers both for the jobs it handed out ([`Handed`]), as it wrote them, so the decision
//! can be made before anything is read, and the write made only if the job is still exactly
//! as remembered: one statement that writes the end where the state and holder are unchanged,
//! and carries the notices the end sends. Anything else (a job canceled meanwhile, handed out
//! by another server, refused, or a daemon whose sighting is due) goes the longer way, which
//! reads the job and decides from what it finds.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, PoisonError};

use diesel::dsl::{AsSelect, sql};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Text};
use domain::provisioner::{JobState, JobStatus, ProvisionerJob};
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

/// Jobs this server handed to daemons and has not seen end: for each, its holder and its
/// state as written.
#[derive(Default)]
pub(super) struct Handed(Mutex<HashMap<Id, (Id, JobState)>>);

impl Handed {
    /// `job`, just committed as handed to `worker` in `state`.
    pub(super) fn record(&self, job: Id, worker: Id, state: JobState) {
        let mut handed = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if handed.len() >= MOST_HANDED {
            handed.clear();
        }
        handed.insert(job, (worker, state));
    }

    /// The state `job` was handed to `worker` in, forgotten from now on; `None` if this server
    /// did not hand it to `worker`.
    fn take(&self, job: Id, worker: Id) -> Option<JobState> {
        let mut handed = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match handed.remove(&job) {
            Some((holder, state)) if holder == worker => Some(state),
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
        let handed = self.steps.handed.take(job, daemon)?;
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
        let ending = diesel::update(
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
        .returning(JobRow::as_returning());
        let telling = sql::<Bool>("SELECT pg_notify(notice.channel, notice.payload) FROM ended, unnest(")
            .bind::<Array<Text>, _>(channels)
            .sql(", ")
            .bind::<Array<Text>, _>(payloads)
            .sql(") AS notice(channel, payload)");
        let statement =
            With::<(BigInt, AsSelect<JobRow, Pg>)>::new("SELECT (SELECT count(*) FROM told), ended.* FROM ended")
                .part("ended", ending)
                .part("told", telling);
        let written = (|| -> Result<Option<ProvisionerJob>, Fail<DaemonJobRefusal>> {
            let mut conn = self.conn()?;
            let rows: Result<Vec<(i64, JobRow)>, Fail<DaemonJobRefusal>> = match &mut **conn {
                AnyConnection::Postgresql(pg) => Prepared::new(statement).load(pg).map_err(Fail::from),
                AnyConnection::Sqlite(_) => Ok(Vec::new()),
            };
            self.settle(&mut conn, &rows);
            let Some((sent, row)) = rows?.pop() else { return Ok(None) };
            // Committed already: the job did end, whatever went wrong with telling of it.
            if usize::try_from(sent).ok() != Some(told) {
                tracing::error!(job = %job.0, sent, told, "a job ended in one statement sent too few notices");
            }
            let tags = self.index.tag_sets(&mut conn, vec![row.tag_set_id])?;
            row.into_domain(&tags, &HashMap::from([(daemon, name)])).map(Some)
        })();
        match written {
            // Changed since it was handed out: the longer way reads it and decides.
            Ok(None) => None,
            Ok(Some(job)) => {
                self.steps.ended_in_one.fetch_add(1, Ordering::Relaxed);
                events.publish(&self.hub, &self.index.tags);
                Some(Ok(job))
            }
            Err(fail) => Some(Err(OpError::from(fail))),
        }
    }
}
