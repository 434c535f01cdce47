use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::authz::JobScope;
use domain::provisioner::{
    JobState, JobStatus, Liveness, LogBudget, LogLevel, LogLine, LogSource, NewJob, NewLogLine, ProvisionerJob,
    ProvisionerType, QueueInfo, QueuedJob, ReapVerdict, Reaper, Worker, check_worker, release_untouched,
};
use domain::repo::{DaemonJobRefusal, JobFilter, JobRepo, JobUpdateOutcome, OpResult, QueuedJobView, RepoResult};
use uuid::Uuid;

use super::job_steps::{Ending, Outcome, mark_all_seen};
use super::tag_sets;
use crate::Store;
use crate::conn::{AnyConnection, with_row_lock};
use crate::error::Fail;
use crate::events::StoreEvent;
use crate::prepared::Prepared;
use crate::queue_index::{Kind, PendingChange};
use crate::rows::daemons::provisioners_of;
use crate::rows::job_documents::{InputDocument, MetadataDocument};
use crate::rows::jobs::{JobRow, LogRow, StateChange};
use crate::rows::tag_sets::fingerprint;
use crate::schema::{provisioner_daemon_provisioners, provisioner_daemons, provisioner_job_logs, provisioner_jobs};
use crate::sql_types::{Id, Instant, Json};

type Backend = <AnyConnection as Connection>::Backend;
type JobQuery = provisioner_jobs::BoxedQuery<'static, Backend>;

/// Pending, running or canceling, spelled as the predicate of the partial index
/// `provisioner_jobs_active_updated`: a planner uses a partial index only for a query that
/// states its condition, and a bound parameter cannot (its value is not known when planning).
const ACTIVE: &str = "provisioner_jobs.status IN ('pending', 'running', 'canceling')";

fn active() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql(ACTIVE)
}

/// What moving `row` to `after` does to the pending set.
pub(super) fn moved(row: &JobRow, after: &JobState) -> Option<PendingChange> {
    PendingChange::of_move(
        row.organization_id,
        row.id,
        row.created_at,
        &row.provisioner,
        row.tag_set_id,
        Some(row.state().status()),
        after.status(),
    )
}

/// Saves a job's new state. `worker`, when given, is who holds the job from now on
/// (`Some(None)`: nobody, as when it is put back); otherwise its holder is left as it is.
fn save_state(
    conn: &mut AnyConnection,
    job: Id,
    state: &JobState,
    now: DateTime<Utc>,
    worker: Option<Option<Id>>,
) -> QueryResult<()> {
    let _: Id = Prepared::new(
        diesel::update(provisioner_jobs::table.find(job))
            .set((StateChange::new(state, now), worker.map(|worker| provisioner_jobs::worker_id.eq(worker))))
            .returning(provisioner_jobs::id),
    )
    .get_result(conn)?;
    Ok(())
}

fn load_jobs<R>(conn: &mut AnyConnection, query: JobQuery) -> Result<Vec<ProvisionerJob>, Fail<R>> {
    let rows: Vec<JobRow> = query.select(JobRow::as_select()).load(conn)?;
    let tags = tag_sets::load(conn, rows.iter().map(|row| row.tag_set_id))?;
    // A long history has few distinct workers: ask for each once.
    let mut workers: Vec<Id> = rows.iter().filter_map(|row| row.worker_id).collect();
    workers.sort_unstable();
    workers.dedup();
    let worker_names: HashMap<Id, String> = if workers.is_empty() {
        HashMap::new()
    } else {
        provisioner_daemons::table
            .filter(provisioner_daemons::id.eq_any(workers))
            .select((provisioner_daemons::id, provisioner_daemons::name))
            .load::<(Id, String)>(conn)?
            .into_iter()
            .collect()
    };
    rows.into_iter().map(|row| row.into_domain(&tags, &worker_names)).collect()
}

fn load_job<R>(conn: &mut AnyConnection, job: Id) -> Result<ProvisionerJob, Fail<R>> {
    load_jobs(conn, provisioner_jobs::table.filter(provisioner_jobs::id.eq(job)).into_boxed())?
        .pop()
        .ok_or(Fail::NotFound)
}

/// An online daemon, as queue numbers need it.
struct OnlineDaemon {
    id: Id,
    created_at: Instant,
    tag_set: Id,
    provisioners: Vec<ProvisionerType>,
}

/// The online daemons of the organization.
fn online_daemons<R>(
    conn: &mut AnyConnection,
    organization: Uuid,
    liveness: Liveness,
    now: DateTime<Utc>,
) -> Result<Vec<OnlineDaemon>, Fail<R>> {
    // One row per provisioner type each offers.
    let offers: Vec<(Id, Instant, Id, String)> = provisioner_daemons::table
        .inner_join(provisioner_daemon_provisioners::table)
        .filter(provisioner_daemons::organization_id.eq(Id(organization)))
        .filter(provisioner_daemons::last_seen_at.gt(Instant::from(liveness.seen_after(now))))
        .order(provisioner_daemons::id)
        .select((
            provisioner_daemons::id,
            provisioner_daemons::created_at,
            provisioner_daemons::tag_set_id,
            provisioner_daemon_provisioners::provisioner,
        ))
        .load(conn)?;
    let mut daemons: Vec<(Id, Instant, Id, Vec<String>)> = Vec::new();
    for (daemon, created_at, tag_set, provisioner) in offers {
        match daemons.last_mut() {
            Some((last, _, _, offered)) if *last == daemon => offered.push(provisioner),
            _ => daemons.push((daemon, created_at, tag_set, vec![provisioner])),
        }
    }
    Ok(daemons
        .into_iter()
        .map(|(id, created_at, tag_set, offered)| OnlineDaemon {
            id,
            created_at,
            tag_set,
            provisioners: provisioners_of(offered),
        })
        .collect())
}

/// `jobs` with their queue numbers (zeros for those not pending): this server's copy of the
/// organization's pending lines against its online daemons, so the cost does not depend on
/// how many jobs wait.
fn with_queue<R>(
    store: &Store,
    conn: &mut AnyConnection,
    organization: Uuid,
    jobs: Vec<ProvisionerJob>,
    liveness: Liveness,
    now: DateTime<Utc>,
) -> Result<Vec<QueuedJobView>, Fail<R>> {
    if !jobs.iter().any(|job| job.status() == JobStatus::Pending) {
        return Ok(jobs.into_iter().map(|job| QueuedJobView { queue: QueueInfo::default(), job }).collect());
    }
    let daemons = online_daemons(conn, organization, liveness, now)?;
    let held = store.index.lines(conn, organization)?;
    let lines = held.lines();
    let tag_set_ids: Vec<Id> =
        lines.kinds().map(|kind| kind.tag_set).chain(daemons.iter().map(|d| d.tag_set)).collect();
    let tags = store.index.tag_sets(conn, tag_set_ids.iter().copied())?;
    if tag_set_ids.iter().any(|id| !tags.contains_key(id)) {
        return Err(Fail::corrupt("missing tag set"));
    }
    let workers = daemons
        .iter()
        .map(|daemon| Worker {
            id: daemon.id.0,
            created_at: daemon.created_at.0,
            provisioners: &daemon.provisioners,
            tags: &tags[&daemon.tag_set],
        })
        .collect();
    let numbers = lines.numbers(workers, |kind| (&kind.provisioner, &tags[&kind.tag_set]));
    let views = jobs
        .into_iter()
        .map(|job| {
            let queue = if job.status() == JobStatus::Pending {
                let kind = Kind { provisioner: job.provisioner.clone(), tag_set: fingerprint(&job.tags) };
                let queued = QueuedJob {
                    id: job.id,
                    created_at: job.created_at,
                    provisioner: &job.provisioner,
                    tags: &job.tags,
                };
                numbers.info(&queued, &kind)
            } else {
                QueueInfo::default()
            };
            QueuedJobView { job, queue }
        })
        .collect();
    Ok(views)
}

fn organization_jobs(organization: Uuid) -> JobQuery {
    provisioner_jobs::table.filter(provisioner_jobs::organization_id.eq(Id(organization))).into_boxed()
}

/// Locks one job for a change by its daemon, after checking the daemon holds it.
fn lock_for_daemon(conn: &mut AnyConnection, daemon: Uuid, job: Uuid) -> Result<JobRow, Fail<DaemonJobRefusal>> {
    let row: JobRow =
        with_row_lock!(conn, provisioner_jobs::table.find(Id(job)).select(JobRow::as_select()), |q, c| q.first(c))?;
    check_worker(row.worker(), daemon).map_err(|refusal| Fail::Refused(refusal.into()))?;
    Ok(row)
}

fn insert_logs(conn: &mut AnyConnection, job: Id, lines: &[NewLogLine], now: DateTime<Utc>) -> QueryResult<()> {
    for line in lines {
        diesel::insert_into(provisioner_job_logs::table)
            .values((
                provisioner_job_logs::job_id.eq(job),
                provisioner_job_logs::created_at.eq(Instant::from(now)),
                provisioner_job_logs::source.eq(line.source.as_str()),
                provisioner_job_logs::level.eq(line.level.as_str()),
                provisioner_job_logs::stage.eq(&line.stage),
                provisioner_job_logs::output.eq(&line.output),
            ))
            .execute(conn)?;
    }
    Ok(())
}

impl JobRepo for Store {
    fn create_job(&self, new: &NewJob, liveness: Liveness, now: DateTime<Utc>) -> RepoResult<QueuedJobView> {
        self.write(|conn, events| {
            let job = Id(Uuid::now_v7());
            let tag_set = tag_sets::ensure(conn, &new.tags)?;
            let state = JobState::default();
            diesel::insert_into(provisioner_jobs::table)
                .values((
                    provisioner_jobs::id.eq(job),
                    provisioner_jobs::organization_id.eq(Id(new.organization_id)),
                    provisioner_jobs::initiator_id.eq(Id(new.initiator_id)),
                    provisioner_jobs::created_at.eq(Instant::from(now)),
                    provisioner_jobs::job_type.eq(new.job_type.as_str()),
                    provisioner_jobs::provisioner.eq(new.provisioner.as_str()),
                    provisioner_jobs::file_id.eq(new.file_id.map(Id)),
                    provisioner_jobs::tag_set_id.eq(tag_set),
                    provisioner_jobs::input.eq(Json(InputDocument::from(&new.input))),
                    provisioner_jobs::metadata.eq(Json(MetadataDocument::from(&new.metadata))),
                    StateChange::new(&state, now),
                ))
                .execute(conn)?;
            // Its waiting daemons learn of it from this change; its tags are known already.
            self.index.tags.learn(tag_set, &new.tags);
            events.pending(PendingChange::of_move(
                Id(new.organization_id),
                job,
                Instant::from(now),
                new.provisioner.as_str(),
                tag_set,
                None,
                state.status(),
            ));
            // Everything the answer needs is read before the commit: once the job exists,
            // nothing may fail and make its creator retry into a duplicate.
            let created = load_job(conn, job)?;
            with_queue(self, conn, new.organization_id, vec![created], liveness, now)?.pop().ok_or(Fail::NotFound)
        })
        .map_err(Into::into)
    }

    fn jobs(
        &self,
        organization: Uuid,
        filter: &JobFilter,
        liveness: Liveness,
        now: DateTime<Utc>,
    ) -> RepoResult<Vec<QueuedJobView>> {
        self.read(|conn| {
            let mut query = organization_jobs(organization);
            if !filter.ids.is_empty() {
                query =
                    query.filter(provisioner_jobs::id.eq_any(filter.ids.iter().copied().map(Id).collect::<Vec<_>>()));
            }
            match filter.statuses.as_slice() {
                [] => {}
                // One status is an equality: PostgreSQL reads `= ANY(array)` as several values
                // and sorts every matching job before the limit, where an equality walks the
                // (organization, status, created_at) index newest first and stops at the limit.
                [one] => query = query.filter(provisioner_jobs::status.eq(one.as_str())),
                many => {
                    query = query
                        .filter(provisioner_jobs::status.eq_any(many.iter().map(|s| s.as_str()).collect::<Vec<_>>()))
                }
            }
            if let Some(initiator) = filter.initiator {
                query = query.filter(provisioner_jobs::initiator_id.eq(Id(initiator)));
            }
            if let JobScope::InitiatedBy(user) = filter.scope {
                query = query.filter(provisioner_jobs::initiator_id.eq(Id(user)));
            }
            if !filter.tags.is_empty() {
                query = query.filter(provisioner_jobs::tag_set_id.eq_any(tag_sets::matching(conn, &filter.tags)?));
            }
            if let Some(after) = filter.after {
                let created_at = Instant::from(after.created_at());
                // The first condition alone bounds the index range; the second drops the
                // jobs of the cursor's own instant that were already listed.
                query = query
                    .filter(provisioner_jobs::created_at.le(created_at))
                    .filter(provisioner_jobs::created_at.lt(created_at).or(provisioner_jobs::id.lt(Id(after.id()))));
            }
            query = query.order((provisioner_jobs::created_at.desc(), provisioner_jobs::id.desc()));
            if let Some(limit) = filter.limit {
                query = query.limit(i64::from(limit));
            }
            let jobs = load_jobs(conn, query)?;
            with_queue(self, conn, organization, jobs, liveness, now)
        })
        .map_err(Into::into)
    }

    fn job(
        &self,
        organization: Uuid,
        job: Uuid,
        liveness: Liveness,
        now: DateTime<Utc>,
    ) -> RepoResult<Option<QueuedJobView>> {
        self.read(|conn| {
            let jobs = load_jobs(conn, organization_jobs(organization).filter(provisioner_jobs::id.eq(Id(job))))?;
            Ok(with_queue(self, conn, organization, jobs, liveness, now)?.pop())
        })
        .map_err(Into::into)
    }

    fn cancel_job(
        &self,
        organization: Uuid,
        job: Uuid,
        now: DateTime<Utc>,
    ) -> OpResult<ProvisionerJob, domain::provisioner::CancelRefusal> {
        self.write(|conn, events| {
            let row: JobRow = with_row_lock!(
                conn,
                provisioner_jobs::table
                    .filter(provisioner_jobs::organization_id.eq(Id(organization)))
                    .filter(provisioner_jobs::id.eq(Id(job)))
                    .select(JobRow::as_select()),
                |q, c| q.first(c)
            )?;
            let state = row.state().cancel(now).map_err(Fail::Refused)?;
            save_state(conn, row.id, &state, now, None)?;
            events.pending(moved(&row, &state));
            events.push(StoreEvent::JobChanged(job));
            load_job(conn, row.id)
        })
        .map_err(Into::into)
    }

    fn acquire_job(&self, daemon: Uuid, now: DateTime<Utc>) -> RepoResult<Option<ProvisionerJob>> {
        self.take_job(daemon, now)
    }

    fn release_job(&self, daemon: Uuid, job: Uuid) -> RepoResult<bool> {
        self.write(|conn, events| {
            let row = match lock_for_daemon(conn, daemon, job) {
                Ok(row) => row,
                Err(Fail::Refused(_)) => return Ok(false),
                Err(other) => return Err(other.map_refusal(|_| Fail::NotFound)),
            };
            let Some(state) = release_untouched(&row.state(), row.updated_at.0) else {
                return Ok(false);
            };
            save_state(conn, row.id, &state, row.updated_at.0, Some(None))?;
            // Back in the queue: its change wakes a daemon that can run it.
            events.pending(moved(&row, &state));
            Ok(true)
        })
        .map_err(Into::into)
    }

    fn update_job(
        &self,
        daemon: Uuid,
        job: Uuid,
        logs: &[NewLogLine],
        budget: LogBudget,
        now: DateTime<Utc>,
    ) -> OpResult<JobUpdateOutcome, DaemonJobRefusal> {
        let (marking, _) = self.to_mark([Id(daemon)].into_iter(), now);
        let (updated, seen) = self.write(|conn, events| {
            let row = lock_for_daemon(conn, daemon, job)?;
            let state = row.state();
            state.check_updatable().map_err(|refusal| Fail::Refused(refusal.into()))?;
            let used = u64::try_from(row.logs_length).unwrap_or(0);
            let (admitted, overflowed) = budget.admit(used, logs);
            let admitted = &logs[..admitted];
            insert_logs(conn, row.id, admitted, now)?;
            let added = i64::try_from(LogBudget::bytes_of(admitted)).unwrap_or(i64::MAX);
            diesel::update(provisioner_jobs::table.find(row.id))
                .set((
                    provisioner_jobs::logs_length.eq(row.logs_length.saturating_add(added)),
                    provisioner_jobs::logs_overflowed.eq(row.logs_overflowed || overflowed),
                    provisioner_jobs::updated_at.eq(Instant::from(now)),
                ))
                .execute(conn)?;
            let seen = mark_all_seen(conn, &marking, &self.liveness, now)?;
            events.push(StoreEvent::JobChanged(job));
            Ok((JobUpdateOutcome { canceled: state.canceled_at.is_some() }, seen))
        })?;
        self.sightings_committed(&seen, now);
        Ok(updated)
    }

    fn complete_job(&self, daemon: Uuid, job: Uuid, now: DateTime<Utc>) -> OpResult<ProvisionerJob, DaemonJobRefusal> {
        self.end_job(Ending { daemon, job, now, outcome: Outcome::Succeeded })
    }

    fn fail_job(
        &self,
        daemon: Uuid,
        job: Uuid,
        error: String,
        error_code: Option<String>,
        now: DateTime<Utc>,
    ) -> OpResult<ProvisionerJob, DaemonJobRefusal> {
        self.end_job(Ending { daemon, job, now, outcome: Outcome::Failed { error, error_code } })
    }

    fn follow_job(&self, job: Uuid) -> RepoResult<()> {
        self.write(|conn, _| {
            // Written once: a job already marked is left as it is.
            let unfollowed = provisioner_jobs::table.find(Id(job)).filter(provisioner_jobs::followed.eq(false));
            diesel::update(unfollowed).set(provisioner_jobs::followed.eq(true)).execute(conn)?;
            Ok(())
        })
        .map_err(Into::into)
    }

    fn job_logs(&self, job: Uuid, after: i64) -> RepoResult<Vec<LogLine>> {
        self.read(|conn| {
            let rows: Vec<LogRow> = provisioner_job_logs::table
                .filter(provisioner_job_logs::job_id.eq(Id(job)))
                .filter(provisioner_job_logs::id.gt(after))
                .order(provisioner_job_logs::id)
                .select(LogRow::as_select())
                .load(conn)?;
            rows.into_iter().map(LogRow::into_domain).collect()
        })
        .map_err(Into::into)
    }

    fn reap_jobs(&self, reaper: Reaper, now: DateTime<Utc>) -> RepoResult<Vec<(Uuid, ReapVerdict)>> {
        /// Jobs reaped per transaction; the rest wait for the next round.
        const BATCH: i64 = 100;
        self.write(|conn, events| {
            let started: Vec<&str> = [JobStatus::Running, JobStatus::Canceling].iter().map(|s| s.as_str()).collect();
            let overdue = provisioner_jobs::table
                .filter(active())
                .filter(
                    provisioner_jobs::status
                        .eq(JobStatus::Pending.as_str())
                        .and(provisioner_jobs::updated_at.lt(Instant::from(reaper.pending_cutoff(now))))
                        .or(provisioner_jobs::status
                            .eq_any(started)
                            .and(provisioner_jobs::updated_at.lt(Instant::from(reaper.hung_cutoff(now))))),
                )
                .order(provisioner_jobs::updated_at)
                .limit(BATCH);
            // Another server reaping at the same time takes other jobs.
            let rows: Vec<JobRow> =
                with_row_lock!(conn, overdue.select(JobRow::as_select()), skip_locked, |q, c| q.load(c))?;
            let mut reaped = Vec::new();
            for row in rows {
                let state = row.state();
                let Some(verdict) = reaper.verdict(&state, row.updated_at.0, now) else {
                    continue;
                };
                let last_stage: Option<String> = provisioner_job_logs::table
                    .filter(provisioner_job_logs::job_id.eq(row.id))
                    .order(provisioner_job_logs::id.desc())
                    .select(provisioner_job_logs::stage)
                    .first(conn)
                    .optional()?;
                let stage = last_stage.unwrap_or_else(|| "Unknown".to_owned());
                let notice: Vec<NewLogLine> = verdict
                    .log_notice()
                    .into_iter()
                    .map(|output| NewLogLine {
                        source: LogSource::ProvisionerDaemon,
                        level: LogLevel::Error,
                        stage: stage.clone(),
                        output,
                    })
                    .collect();
                insert_logs(conn, row.id, &notice, now)?;
                let terminated = state.terminate(now, verdict.error_message());
                save_state(conn, row.id, &terminated, now, None)?;
                events.pending(moved(&row, &terminated));
                events.push(StoreEvent::JobChanged(row.id.0));
                reaped.push((row.id.0, verdict));
            }
            Ok(reaped)
        })
        .map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reapers_literal_names_the_domains_active_statuses() {
        let active: Vec<String> =
            JobStatus::ALL.into_iter().filter(|s| s.is_active()).map(|s| format!("'{}'", s.as_str())).collect();
        assert_eq!(ACTIVE, format!("provisioner_jobs.status IN ({})", active.join(", ")));
    }
}
