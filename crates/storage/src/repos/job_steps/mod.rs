//! A daemon taking a job and ending it, the two writes every job makes, run in batches (see
//! [`crate::batch`]). The steps of the daemons that ask at the same moment make one
//! transaction: the jobs that end are locked with one read; every daemon taking a job, and
//! every one ending one whose sighting is due (see [`crate::sightings`]), is marked seen with
//! one statement; those that choose among the same jobs take theirs with one locking
//! read; every job the batch moves is written by one statement; and the whole batch commits
//! once. Everything a batch writes is dated by its clock (see [`latest`]). On SQLite each step
//! is a batch of its own (see [`Store::step`]). On PostgreSQL a batch that is one step goes
//! shorter ways when this server knows enough: a daemon taking a job marks, picks and writes
//! in one statement ([`known_take`]), and one ending a job this server handed it is one
//! statement that commits alone ([`known_end`]).

mod known_end;
mod known_take;
mod with;

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use diesel::backend::Backend;
use diesel::expression::{AppearsOnTable, Expression, TypedExpressionType, ValidGrouping, is_aggregate};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Nullable, Text};
use domain::provisioner::{FinishRefusal, JobState, Liveness, ProvisionerJob, check_worker};
use domain::repo::{DaemonJobRefusal, OpError, OpResult, RepoError, RepoResult};
use uuid::Uuid;

use super::jobs::moved;
use crate::Store;
use crate::batch::Batcher;
use crate::conn::{AnyConnection, with_row_lock};
use crate::error::{Fail, copies_of};
use crate::events::{Events, StoreEvent};
use crate::prepared::{Prepared, one_of, padded};
use crate::queue_index::PendingChange;
use crate::rows::jobs::{JobRow, StateChange, is_pending};
use crate::schema::{provisioner_daemon_provisioners, provisioner_daemons, provisioner_jobs};
use crate::sightings::ChoosesBy;
use crate::sql_types::{self, Id, Instant, UtcTimestamp};

/// The store's job steps, gathered into batches.
#[derive(Default)]
pub(crate) struct JobSteps {
    batcher: Batcher<Step, Done>,
    /// Takes run as one statement (see [`known_take`]), counted before their commit.
    taken_in_one: AtomicU64,
    /// Ends run as one statement (see [`known_end`]).
    ended_in_one: AtomicU64,
    handed: known_end::Handed,
}

/// Daemons' steps (taking a job, ending one) so far, and the batches that ran them: steps
/// asked at the same moment share a batch, and its one transaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobStepBatches {
    pub batches: u64,
    pub steps: u64,
    /// Of those steps, daemons taking a job in one statement (PostgreSQL, see `known_take`).
    pub taken_in_one_statement: u64,
    /// Of those steps, daemons ending a job in one statement that commits alone
    /// (PostgreSQL, see `known_end`).
    pub ended_in_one_statement: u64,
}

/// What a daemon asks.
enum Step {
    Take { daemon: Uuid, now: DateTime<Utc> },
    End(Ending),
}

impl Step {
    fn asked_at(&self) -> DateTime<Utc> {
        match self {
            Self::Take { now, .. } => *now,
            Self::End(ending) => ending.now,
        }
    }
}

/// A step's answer.
enum Done {
    Taken(RepoResult<Option<ProvisionerJob>>),
    Ended(OpResult<ProvisionerJob, DaemonJobRefusal>),
    /// Its batch was given up by a panic in the thread running it.
    Abandoned,
}

/// A daemon ending its job.
pub(crate) struct Ending {
    pub(crate) daemon: Uuid,
    pub(crate) job: Uuid,
    pub(crate) now: DateTime<Utc>,
    pub(crate) outcome: Outcome,
}

/// How a job ends.
pub(crate) enum Outcome {
    Succeeded,
    Failed { error: String, error_code: Option<String> },
}

impl Outcome {
    fn apply(&self, state: &JobState, now: DateTime<Utc>) -> Result<JobState, FinishRefusal> {
        match self {
            Self::Succeeded => state.complete(now),
            Self::Failed { error, error_code } => state.fail(now, error.clone(), error_code.clone()),
        }
    }
}

/// What a batch answers: for each ending, its job or why not; for each daemon asking, `None`
/// if it does not exist, else the job it took, if any.
type Answers = (Vec<OpResult<ProvisionerJob, DaemonJobRefusal>>, Vec<Option<Option<ProvisionerJob>>>);

/// A batch's answers, and the daemons it marked seen.
type Written = (Answers, HashMap<Id, SeenDaemon>);

impl Store {
    /// The oldest pending job `daemon` can run, now its own; `None` if there is none.
    pub(crate) fn take_job(&self, daemon: Uuid, now: DateTime<Utc>) -> RepoResult<Option<ProvisionerJob>> {
        match self.step(Step::Take { daemon, now }) {
            Done::Taken(taken) => taken,
            Done::Abandoned => Err(abandoned()),
            Done::Ended(_) => Err(mismatched()),
        }
    }

    /// Ends a daemon's job, as its outcome says.
    pub(crate) fn end_job(&self, ending: Ending) -> OpResult<ProvisionerJob, DaemonJobRefusal> {
        match self.step(Step::End(ending)) {
            Done::Ended(ended) => ended,
            Done::Abandoned => Err(OpError::Repo(abandoned())),
            Done::Taken(_) => Err(OpError::Repo(mismatched())),
        }
    }

    /// Batches of job steps run so far, and the steps they held.
    pub fn job_step_batches(&self) -> JobStepBatches {
        let (batches, steps) = self.steps.batcher.counts();
        JobStepBatches {
            batches,
            steps,
            taken_in_one_statement: self.steps.taken_in_one.load(Ordering::Relaxed),
            ended_in_one_statement: self.steps.ended_in_one.load(Ordering::Relaxed),
        }
    }

    fn step(&self, step: Step) -> Done {
        // SQLite's statements are calls inside this process and its commits are grouped
        // already (`group_commit`): there a batch saves nothing, and waiting for one was
        // measured to cost, so each step is a batch of its own.
        if self.grouped.is_some() {
            return self.run_steps(vec![step]).pop().unwrap_or(Done::Abandoned);
        }
        self.steps.batcher.submit(step, |steps| self.run_steps(steps), || Done::Abandoned)
    }

    /// Runs a batch of steps; each is answered in the order it came. A batch that is one
    /// daemon ending a job this server handed it is one statement (see [`known_end`]).
    fn run_steps(&self, steps: Vec<Step>) -> Vec<Done> {
        if let [Step::End(ending)] = steps.as_slice()
            && let Some(ended) = self.end_known(ending)
        {
            return vec![Done::Ended(ended)];
        }
        self.run_together(steps)
    }

    /// Runs steps in one write; each is answered in the order it came.
    fn run_together(&self, steps: Vec<Step>) -> Vec<Done> {
        let now = latest(steps.iter().map(Step::asked_at));
        let mut endings = Vec::new();
        let mut askers = Vec::new();
        for step in &steps {
            match step {
                Step::Take { daemon, .. } => askers.push(Id(*daemon)),
                Step::End(ending) => endings.push(ending),
            }
        }
        let written = self.write(|conn, events| self.run_in(conn, events, &endings, &askers, now));
        let (ended, taken) = match written {
            Ok((answers, seen)) => {
                self.sightings_committed(&seen, now);
                // Only PostgreSQL's ends go the short way (see `known_end`).
                if self.grouped.is_none() {
                    answers.1.iter().flatten().flatten().for_each(|job| self.steps.handed.record(job));
                    let ended = answers.0.iter().filter_map(|ended| ended.as_ref().ok());
                    ended.for_each(|job| self.steps.handed.forget(Id(job.id)));
                }
                answers
            }
            Err(fail) => {
                let failed = copies_of(fail.into(), steps.len());
                return steps
                    .iter()
                    .zip(failed)
                    .map(|(step, error)| match step {
                        Step::Take { .. } => Done::Taken(Err(error)),
                        Step::End(_) => Done::Ended(Err(OpError::Repo(error))),
                    })
                    .collect();
            }
        };
        let (mut ended, mut taken) = (ended.into_iter(), taken.into_iter());
        steps
            .iter()
            .map(|step| match step {
                Step::Take { .. } => Done::Taken(taken.next().flatten().ok_or(RepoError::NotFound)),
                Step::End(_) => Done::Ended(ended.next().unwrap_or_else(|| Err(OpError::Repo(mismatched())))),
            })
            .collect()
    }

    fn run_in(
        &self,
        conn: &mut AnyConnection,
        events: &mut Events,
        endings: &[&Ending],
        askers: &[Id],
        now: DateTime<Utc>,
    ) -> Result<Written, Fail> {
        if let ([], [daemon]) = (endings, askers)
            && let Some(taken) = self.take_known(conn, events, *daemon, now)?
        {
            return Ok(taken);
        }
        let mut writes = Vec::new();
        let (verdicts, mut rows) = end_each(conn, events, endings, now, &mut writes)?;
        let finishers = verdicts.iter().filter_map(|verdict| verdict.as_ref().ok().copied());
        // Those taking a job are always marked: the marking says what they can run, and
        // holds their rows while they take it.
        let (mut marking, fresh) = self.to_mark(finishers, now);
        marking.extend(askers.iter().copied());
        let seen = mark_all_seen(conn, &marking, &self.liveness, now)?;
        let started = self.take_for(conn, events, askers, &seen, now, &mut writes)?;
        write_jobs(conn, writes)?;
        let ended: Vec<&Ending> = endings.iter().zip(&verdicts).filter(|(_, v)| v.is_ok()).map(|(e, _)| *e).collect();
        let tag_sets = ended
            .iter()
            .filter_map(|ending| rows.get(&Id(ending.job)))
            .chain(started.iter().flatten().flatten())
            .map(|row| row.tag_set_id);
        let tags = self.index.tag_sets(conn, tag_sets.collect::<Vec<_>>())?;
        let name_of = |daemon: Id| {
            let name = seen.get(&daemon).map(|seen| seen.name.clone()).or_else(|| fresh.get(&daemon).cloned());
            HashMap::from([(daemon, name.unwrap_or_default())])
        };
        // The answers are the rows as just written: nothing is read again.
        let ended = endings
            .iter()
            .zip(verdicts)
            .map(|(ending, verdict)| match verdict {
                Ok(daemon) => {
                    let row =
                        rows.remove(&Id(ending.job)).ok_or_else(|| Fail::corrupt("a job ended twice in one batch"))?;
                    row.into_domain(&tags, &name_of(daemon)).map(Ok)
                }
                Err(why) => Ok(Err(why)),
            })
            .collect::<Result<Vec<_>, Fail>>()?;
        let taken = askers
            .iter()
            .zip(started)
            .map(|(daemon, started)| match started {
                Some(Some(row)) => row.into_domain(&tags, &name_of(*daemon)).map(|job| Some(Some(job))),
                Some(None) => Ok(Some(None)),
                None => Ok(None),
            })
            .collect::<Result<Vec<_>, Fail>>()?;
        Ok(((ended, taken), seen))
    }

    /// Of `daemons`, those whose sightings are to be marked; the names of the others, whose
    /// sightings this server saw committed and are not due (see [`crate::sightings`]).
    pub(crate) fn to_mark(
        &self,
        daemons: impl Iterator<Item = Id>,
        now: DateTime<Utc>,
    ) -> (Vec<Id>, HashMap<Id, String>) {
        let (mut marking, mut fresh) = (Vec::new(), HashMap::new());
        for daemon in daemons {
            match self.sightings.fresh(daemon, &self.liveness, now) {
                Some(name) => {
                    fresh.insert(daemon, name);
                }
                None => marking.push(daemon),
            }
        }
        (marking, fresh)
    }

    /// After the commit of a write that marked `seen`.
    pub(crate) fn sightings_committed(&self, seen: &HashMap<Id, SeenDaemon>, now: DateTime<Utc>) {
        let committed = seen.iter().map(|(daemon, seen)| {
            let chooses_by = ChoosesBy { organization: seen.organization, tag_set: seen.tag_set };
            (*daemon, seen.name.as_str(), chooses_by, seen.last_seen_at)
        });
        self.sightings.committed(committed, &self.liveness, now);
    }

    /// For each daemon in turn, `None` if it does not exist, else the job it took (as now
    /// written), if any.
    fn take_for(
        &self,
        conn: &mut AnyConnection,
        events: &mut Events,
        askers: &[Id],
        seen: &HashMap<Id, SeenDaemon>,
        now: DateTime<Utc>,
        writes: &mut Vec<JobWrite>,
    ) -> Result<Vec<Option<Option<JobRow>>>, Fail> {
        let mut taken: Vec<Option<Option<JobRow>>> =
            askers.iter().map(|daemon| seen.contains_key(daemon).then_some(None)).collect();
        // Daemons that choose among the same jobs take the oldest ones in the order they asked.
        let mut choosing: Vec<Choosing> = Vec::new();
        for (asked, daemon) in askers.iter().enumerate() {
            let Some(seen) = seen.get(daemon) else { continue };
            match choosing
                .iter_mut()
                .find(|same| (same.organization, same.tag_set) == (seen.organization, seen.tag_set))
            {
                Some(same) => same.askers.push(asked),
                None => choosing.push(Choosing {
                    organization: seen.organization,
                    tag_set: seen.tag_set,
                    askers: vec![asked],
                }),
            }
        }
        // Daemons of one organization and tag set may still offer different provisioners:
        // each set of them chooses apart.
        choosing = choosing
            .into_iter()
            .flat_map(|same| same.split_by(|asked| seen.get(&askers[asked]).map(|seen| &seen.offered)))
            .collect();
        let mut starting: Vec<(usize, JobRow, JobState)> = Vec::new();
        for same in choosing {
            let oldest = self.oldest_runnable(conn, &same, askers[same.askers[0]])?;
            for (asked, row) in same.askers.into_iter().zip(oldest) {
                if let Some(state) = row.state().start(now) {
                    starting.push((asked, row, state));
                }
            }
        }
        for (asked, row, state) in starting {
            writes.push(JobWrite { job: row.id, change: StateChange::new(&state, now), holder: Some(askers[asked]) });
            // No wake-up: a job starting wakes nobody (followers wait for its lines or its
            // end). Its leaving the queue is the one notice, for every server's queue numbers.
            events.pending(moved(&row, &state));
            taken[asked] = Some(Some(row.started_by(askers[asked], &state, now)));
        }
        Ok(taken)
    }

    /// As many of the oldest pending jobs as `same` has daemons, that they can run, locked;
    /// `one` of them names the provisioners they all offer. A job another writer is taking
    /// is skipped, not waited for, so no job goes to two daemons.
    fn oldest_runnable(&self, conn: &mut AnyConnection, same: &Choosing, one: Id) -> Result<Vec<JobRow>, Fail> {
        let runnable = self.runnable_by(conn, same.tag_set)?;
        if runnable.is_empty() {
            return Ok(Vec::new());
        }
        let most = i64::try_from(same.askers.len()).unwrap_or(i64::MAX);
        let oldest = oldest_pending(same.organization, one, runnable, most);
        let rows =
            with_row_lock!(conn, oldest.select(JobRow::as_select()), skip_locked, |q, c| Prepared::new(q).load(c))?;
        Ok(rows)
    }

    /// The tag sets of the jobs a daemon of `tag_set` can run, decided over this server's
    /// copy of the (small) table of distinct sets rather than over every waiting job.
    fn runnable_by(&self, conn: &mut AnyConnection, tag_set: Id) -> Result<Vec<Id>, Fail> {
        let worker_tags = self.index.tag_set(conn, tag_set)?;
        Ok(self.index.tags.runnable_by(conn, &worker_tags)?)
    }
}

/// The `most` oldest pending jobs of `organization` whose tag set is one of `runnable`, for
/// the provisioners `daemon` offers: the daemons' pick, before it is locked.
#[diesel::dsl::auto_type(no_type_alias)]
fn oldest_pending(organization: Id, daemon: Id, runnable: Vec<Id>, most: i64) -> _ {
    let pending: diesel::expression::SqlLiteral<diesel::sql_types::Bool> = is_pending();
    let runnable: Vec<Id> = padded(runnable);
    provisioner_jobs::table
        .filter(provisioner_jobs::organization_id.eq(organization))
        .filter(pending)
        .filter(
            provisioner_jobs::provisioner.eq_any(
                provisioner_daemon_provisioners::table
                    .filter(provisioner_daemon_provisioners::daemon_id.eq(daemon))
                    .select(provisioner_daemon_provisioners::provisioner),
            ),
        )
        .filter(provisioner_jobs::tag_set_id.eq_any(runnable))
        .order((provisioner_jobs::created_at, provisioner_jobs::id))
        .limit(most)
}

/// An ending's verdict: the daemon that ended its job, or why it could not.
type Verdict = Result<Id, OpError<DaemonJobRefusal>>;

/// Each ending's verdict in turn: its daemon once the end is written, else why not; and the
/// locked rows, as now written. A job is ended only by the daemon that holds it, and only if
/// its state allows; the others change nothing. A failure of the database fails the batch.
fn end_each(
    conn: &mut AnyConnection,
    events: &mut Events,
    endings: &[&Ending],
    now: DateTime<Utc>,
    writes: &mut Vec<JobWrite>,
) -> Result<(Vec<Verdict>, HashMap<Id, JobRow>), Fail> {
    if endings.is_empty() {
        return Ok((Vec::new(), HashMap::new()));
    }
    // Kept current as jobs end, so that a job ended twice in one batch is refused the second time.
    let mut rows = lock_jobs(conn, endings.iter().map(|ending| Id(ending.job)).collect())?;
    let mut verdicts = Vec::with_capacity(endings.len());
    // Jobs by the state they move to: one statement writes each state's jobs.
    for ending in endings {
        let job = Id(ending.job);
        let Some(row) = rows.remove(&job) else {
            verdicts.push(Err(OpError::Repo(RepoError::NotFound)));
            continue;
        };
        let decided = check_worker(row.worker(), ending.daemon)
            .map_err(DaemonJobRefusal::from)
            .and_then(|()| ending.outcome.apply(&row.state(), now).map_err(DaemonJobRefusal::from));
        match decided {
            Ok(state) => {
                announce_end(events, ending.job, moved(&row, &state));
                writes.push(JobWrite { job, change: StateChange::new(&state, now), holder: row.worker_id });
                rows.insert(job, row.moved_to(&state, now));
                verdicts.push(Ok(Id(ending.daemon)));
            }
            Err(refusal) => {
                rows.insert(job, row);
                verdicts.push(Err(OpError::Refused(refusal)));
            }
        }
    }
    Ok((verdicts, rows))
}

/// What a job ending tells: that it left the queue, if it did (`left`), and its followers,
/// who wake. Acquirers do not, since a job ending frees none for them.
fn announce_end(events: &mut Events, job: Uuid, left: Option<PendingChange>) {
    events.pending(left);
    events.push(StoreEvent::JobChanged(job));
}

/// A job a batch moves: its new state, and who holds it from now on.
#[derive(Clone)]
struct JobWrite {
    job: Id,
    change: StateChange,
    holder: Option<Id>,
}

/// Writes every job a batch moves in one statement, each row its own values.
fn write_jobs(conn: &mut AnyConnection, writes: Vec<JobWrite>) -> Result<(), Fail> {
    if writes.is_empty() {
        return Ok(());
    }
    let count = writes.len();
    let writes = padded(writes);
    let target =
        provisioner_jobs::table.filter(one_of(provisioner_jobs::id, writes.iter().map(|write| write.job).collect()));
    let written = Prepared::new(
        diesel::update(target).set((
            provisioner_jobs::started_at
                .eq(PerJob::<Nullable<UtcTimestamp>, _>::new(each(&writes, |w| w.change.started_at))),
            provisioner_jobs::completed_at
                .eq(PerJob::<Nullable<UtcTimestamp>, _>::new(each(&writes, |w| w.change.completed_at))),
            provisioner_jobs::canceled_at
                .eq(PerJob::<Nullable<UtcTimestamp>, _>::new(each(&writes, |w| w.change.canceled_at))),
            provisioner_jobs::error.eq(PerJob::<Nullable<Text>, _>::new(each(&writes, |w| w.change.error.clone()))),
            provisioner_jobs::error_code
                .eq(PerJob::<Nullable<Text>, _>::new(each(&writes, |w| w.change.error_code.clone()))),
            provisioner_jobs::status.eq(PerJob::<Text, _>::new(each(&writes, |w| w.change.status.clone()))),
            provisioner_jobs::updated_at.eq(PerJob::<UtcTimestamp, _>::new(each(&writes, |w| w.change.updated_at))),
            provisioner_jobs::worker_id.eq(PerJob::<Nullable<sql_types::Uuid>, _>::new(each(&writes, |w| w.holder))),
        )),
    )
    .execute(conn)?;
    if written != count {
        return Err(Fail::corrupt(format!("{written} of {count} locked jobs written")));
    }
    Ok(())
}

/// Each job with its value of one column.
fn each<T>(writes: &[JobWrite], value: impl Fn(&JobWrite) -> T) -> Vec<(Id, T)> {
    writes.iter().map(|write| (write.job, value(write))).collect()
}

/// `CASE id WHEN <job> THEN <value> ... END`: one column's value for each job, so that jobs
/// moving to different states are written in one statement. Its text depends only on how
/// many jobs it names.
#[derive(Debug, Clone)]
struct PerJob<ST, T> {
    values: Vec<(Id, T)>,
    column_type: PhantomData<ST>,
}

impl<ST, T> PerJob<ST, T> {
    fn new(values: Vec<(Id, T)>) -> Self {
        Self { values, column_type: PhantomData }
    }
}

impl<ST: TypedExpressionType, T> Expression for PerJob<ST, T> {
    type SqlType = ST;
}

impl<ST: TypedExpressionType, T> AppearsOnTable<provisioner_jobs::table> for PerJob<ST, T> {}

impl<ST, T> ValidGrouping<()> for PerJob<ST, T> {
    type IsAggregate = is_aggregate::Never;
}

impl<ST, T> QueryId for PerJob<ST, T> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST, T, DB> QueryFragment<DB> for PerJob<ST, T>
where
    DB: Backend + HasSqlType<ST> + HasSqlType<sql_types::Uuid>,
    T: ToSql<ST, DB>,
    Id: ToSql<sql_types::Uuid, DB>,
    provisioner_jobs::id: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("CASE ");
        provisioner_jobs::id.walk_ast(out.reborrow())?;
        for (job, value) in &self.values {
            out.push_sql(" WHEN ");
            out.push_bind_param::<sql_types::Uuid, _>(job)?;
            out.push_sql(" THEN ");
            out.push_bind_param::<ST, _>(value)?;
        }
        out.push_sql(" END");
        Ok(())
    }
}

/// The jobs, locked for a change, by id. Locked in id order, so that two batches sharing
/// jobs do not each wait for the other.
fn lock_jobs(conn: &mut AnyConnection, jobs: Vec<Id>) -> Result<HashMap<Id, JobRow>, Fail> {
    let query = provisioner_jobs::table.filter(one_of(provisioner_jobs::id, jobs)).order(provisioner_jobs::id);
    let rows: Vec<JobRow> = with_row_lock!(conn, query.select(JobRow::as_select()), |q, c| Prepared::new(q).load(c))?;
    Ok(rows.into_iter().map(|row| (row.id, row)).collect())
}

/// Daemons asking together that choose among the same jobs: of one organization and tag set,
/// and offering the same provisioners.
struct Choosing {
    organization: Id,
    tag_set: Id,
    /// Where they are in the batch's askers, in the order they asked.
    askers: Vec<usize>,
}

impl Choosing {
    /// Apart by the provisioners each offers (`offered`), keeping the order they asked in.
    fn split_by<'a>(self, offered: impl Fn(usize) -> Option<&'a Vec<String>>) -> Vec<Self> {
        let mut apart: Vec<(Option<&Vec<String>>, Self)> = Vec::new();
        for asked in self.askers {
            let theirs = offered(asked);
            match apart.iter_mut().find(|(same, _)| *same == theirs) {
                Some((_, same)) => same.askers.push(asked),
                None => apart.push((
                    theirs,
                    Self { organization: self.organization, tag_set: self.tag_set, askers: vec![asked] },
                )),
            }
        }
        apart.into_iter().map(|(_, same)| same).collect()
    }
}

/// A daemon as marking it seen answers it: what choosing its job needs, and its name for
/// the answer.
pub(crate) struct SeenDaemon {
    organization: Id,
    tag_set: Id,
    name: String,
    /// The provisioners it offers, in name order.
    offered: Vec<String>,
    /// Its sighting as the marking left it.
    last_seen_at: DateTime<Utc>,
}

/// Marks the daemons seen, in one statement with reading what they are and what they offer;
/// those that do not exist are left out.
pub(crate) fn mark_all_seen(
    conn: &mut AnyConnection,
    daemons: &[Id],
    liveness: &Liveness,
    now: DateTime<Utc>,
) -> QueryResult<HashMap<Id, SeenDaemon>> {
    if daemons.is_empty() {
        return Ok(HashMap::new());
    }
    // Provisioner names are a closed set of words (a CHECK keeps them so): none holds a comma.
    let offered = diesel::dsl::sql::<Nullable<Text>>(
        "(SELECT string_agg(provisioner, ',' ORDER BY provisioner) FROM provisioner_daemon_provisioners \
         WHERE provisioner_daemon_provisioners.daemon_id = provisioner_daemons.id)",
    );
    let seen: Vec<(Id, Id, Id, String, Option<String>, Instant)> = Prepared::new(
        diesel::update(provisioner_daemons::table.filter(one_of(provisioner_daemons::id, daemons.to_vec())))
            .set(provisioner_daemons::last_seen_at.eq(sighting(liveness, now)))
            .returning((
                provisioner_daemons::id,
                provisioner_daemons::organization_id,
                provisioner_daemons::tag_set_id,
                provisioner_daemons::name,
                offered,
                provisioner_daemons::last_seen_at,
            )),
    )
    .load(conn)?;
    Ok(seen
        .into_iter()
        .map(|(id, organization, tag_set, name, offered, last_seen_at)| {
            let offered = offered.map(|names| names.split(',').map(str::to_owned).collect()).unwrap_or_default();
            (id, SeenDaemon { organization, tag_set, name, offered, last_seen_at: last_seen_at.0 })
        })
        .collect())
}

/// A daemon's sighting as marking it at `now` leaves it. It is written again only once due
/// (`Liveness::sighting_kept_for`); until then the row is rewritten unchanged, which
/// PostgreSQL does in place (HOT), with no new entry in the index of sightings.
#[diesel::dsl::auto_type(no_type_alias)]
fn sighting(liveness: &Liveness, now: DateTime<Utc>) -> _ {
    let due_before: Instant = Instant::from(liveness.sighting_due_before(now));
    let now: Instant = Instant::from(now);
    diesel::dsl::case_when(provisioner_daemons::last_seen_at.lt(due_before), now.into_sql::<UtcTimestamp>())
        .otherwise(provisioner_daemons::last_seen_at)
}

/// A batch's clock: the latest of its requests', so that nothing it writes is dated before
/// a request it holds was made.
fn latest(instants: impl Iterator<Item = DateTime<Utc>>) -> DateTime<Utc> {
    instants.max().unwrap_or(DateTime::UNIX_EPOCH)
}

fn abandoned() -> RepoError {
    RepoError::Other("another request of its batch failed".into())
}

/// A step answered as the other kind: a fault of this module, reported rather than panicked.
fn mismatched() -> RepoError {
    RepoError::Other("a job step was answered as another kind".into())
}
