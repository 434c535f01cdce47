//! What operators read: whether the database answers, and the queue's gauges. The gauges are
//! read when scraped, so that every server on one database reports the same numbers; they
//! touch only active jobs (the status index) and daemons, never the job history.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::dsl::count_star;
use diesel::prelude::*;
use domain::provisioner::JobStatus;
use domain::repo::RepoError;

use crate::Store;
use crate::error::Fail;
use crate::schema::{organizations, provisioner_daemons, provisioner_jobs};
use crate::sign_ins::DaemonSignIns;
use crate::sql_types::{Id, Instant};

/// Active jobs of one organization, provisioner and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveJobs {
    pub organization: String,
    pub provisioner: String,
    pub status: JobStatus,
    pub count: i64,
}

/// Online daemons of one organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnlineDaemons {
    pub organization: String,
    pub count: i64,
}

/// SQLite's commits so far, and the writes they held: several writes that queue behind each
/// other share one commit (one flush of the log to disk).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupedCommits {
    pub commits: u64,
    pub writes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueGauges {
    /// Pending, running and canceling jobs.
    pub jobs: Vec<ActiveJobs>,
    pub daemons: Vec<OnlineDaemons>,
}

const ACTIVE: [JobStatus; 3] = [JobStatus::Pending, JobStatus::Running, JobStatus::Canceling];

impl Store {
    /// SQLite's grouped commits so far; `None` on PostgreSQL, where each write commits alone.
    pub fn grouped_commits(&self) -> Option<GroupedCommits> {
        self.grouped.as_ref().map(|writer| {
            let (commits, writes) = writer.commits();
            GroupedCommits { commits, writes }
        })
    }

    /// How daemons' sign-ins were answered so far: from what this server kept, or read.
    pub fn daemon_sign_ins(&self) -> DaemonSignIns {
        self.sign_ins.counts()
    }

    /// A trivial query on a connection obtained within `timeout`.
    pub fn ping(&self, timeout: Duration) -> Result<(), RepoError> {
        // A connection used without asking may turn out to have lost its server; then the
        // answer is the database's own, from a connection that is asked first (see `Pooled`).
        let mut answer = Ok(());
        for _ in 0..2 {
            let mut conn = self.checkout::<std::convert::Infallible>(timeout)?;
            answer = diesel::sql_query("SELECT 1").execute(&mut **conn).map(drop).map_err(Fail::from);
            self.settle(&mut conn, &answer);
            if !answer.as_ref().is_err_and(Fail::lost_connection) {
                break;
            }
        }
        Ok(answer?)
    }

    /// Active jobs per organization, provisioner and status, and the daemons seen after
    /// `online_after` per organization, by organization name (live organizations only).
    pub fn queue_gauges(&self, online_after: DateTime<Utc>) -> Result<QueueGauges, RepoError> {
        let gauges = self.read(|conn| -> Result<QueueGauges, Fail> {
            let statuses = ACTIVE.map(JobStatus::as_str);
            let jobs: Vec<(Id, String, String, i64)> = provisioner_jobs::table
                .filter(provisioner_jobs::status.eq_any(statuses))
                .group_by((provisioner_jobs::organization_id, provisioner_jobs::provisioner, provisioner_jobs::status))
                .select((
                    provisioner_jobs::organization_id,
                    provisioner_jobs::provisioner,
                    provisioner_jobs::status,
                    count_star(),
                ))
                .load(conn)?;
            let daemons: Vec<(Id, i64)> = provisioner_daemons::table
                .filter(provisioner_daemons::last_seen_at.gt(Instant::from(online_after)))
                .group_by(provisioner_daemons::organization_id)
                .select((provisioner_daemons::organization_id, count_star()))
                .load(conn)?;
            let names: HashMap<Id, String> = organizations::table
                .filter(organizations::deleted_at.is_null())
                .select((organizations::id, organizations::name))
                .load::<(Id, String)>(conn)?
                .into_iter()
                .collect();
            let mut gauges = QueueGauges::default();
            for (organization, provisioner, status, count) in jobs {
                let Some(organization) = names.get(&organization).cloned() else { continue };
                let status =
                    JobStatus::parse(&status).ok_or_else(|| Fail::corrupt(format!("job status {status:?}")))?;
                gauges.jobs.push(ActiveJobs { organization, provisioner, status, count });
            }
            for (organization, count) in daemons {
                let Some(organization) = names.get(&organization).cloned() else { continue };
                gauges.daemons.push(OnlineDaemons { organization, count });
            }
            Ok(gauges)
        })?;
        Ok(gauges)
    }
}
