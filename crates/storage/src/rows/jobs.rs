use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::provisioner::{
    JobState, JobStatus, JobType, LogLevel, LogLine, LogSource, ProvisionerJob, ProvisionerType, Tags,
};
use uuid::Uuid;

use super::job_documents::{InputDocument, MetadataDocument};
use crate::error::Fail;
use crate::schema::{provisioner_job_logs, provisioner_jobs};
use crate::sql_types::{Id, Instant, Json};

/// The job is pending: spelled out rather than bound, so that a plan PostgreSQL keeps for every
/// use of a statement can still read the index of pending jobs alone
/// (`provisioner_jobs_pending`): a plan made for any value of a bound status cannot.
pub(crate) fn is_pending() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql(&format!("provisioner_jobs.status = '{}'", JobStatus::Pending.as_str()))
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = provisioner_jobs)]
pub(crate) struct JobRow {
    pub(crate) id: Id,
    pub(crate) organization_id: Id,
    pub(crate) initiator_id: Id,
    pub(crate) created_at: Instant,
    pub(crate) updated_at: Instant,
    pub(crate) started_at: Option<Instant>,
    pub(crate) completed_at: Option<Instant>,
    pub(crate) canceled_at: Option<Instant>,
    pub(crate) error: Option<String>,
    pub(crate) error_code: Option<String>,
    pub(crate) job_type: String,
    pub(crate) provisioner: String,
    pub(crate) file_id: Option<Id>,
    pub(crate) tag_set_id: Id,
    pub(crate) input: Json<InputDocument>,
    pub(crate) metadata: Json<MetadataDocument>,
    pub(crate) worker_id: Option<Id>,
    pub(crate) logs_length: i64,
    pub(crate) logs_overflowed: bool,
}

/// The columns a job's state is read from; its status follows from them.
pub(crate) type StateColumns = (Option<Instant>, Option<Instant>, Option<Instant>, Option<String>, Option<String>);

pub(crate) fn state_of((started_at, completed_at, canceled_at, error, error_code): StateColumns) -> JobState {
    JobState {
        started_at: started_at.map(|at| at.0),
        completed_at: completed_at.map(|at| at.0),
        canceled_at: canceled_at.map(|at| at.0),
        error,
        error_code,
    }
}

impl JobRow {
    pub(crate) fn state(&self) -> JobState {
        state_of((self.started_at, self.completed_at, self.canceled_at, self.error.clone(), self.error_code.clone()))
    }

    pub(crate) fn worker(&self) -> Option<Uuid> {
        self.worker_id.map(|worker| worker.0)
    }

    /// The row as `worker` taking it leaves it.
    pub(crate) fn started_by(self, worker: Id, state: &JobState, now: DateTime<Utc>) -> Self {
        Self { worker_id: Some(worker), ..self.moved_to(state, now) }
    }

    /// The row as saving `state` (see [`StateChange`]) leaves it.
    pub(crate) fn moved_to(self, state: &JobState, now: DateTime<Utc>) -> Self {
        let change = StateChange::new(state, now);
        Self {
            started_at: change.started_at,
            completed_at: change.completed_at,
            canceled_at: change.canceled_at,
            error: change.error,
            error_code: change.error_code,
            updated_at: change.updated_at,
            ..self
        }
    }

    pub(crate) fn into_domain<R>(
        self,
        tags: &HashMap<Id, Tags>,
        worker_names: &HashMap<Id, String>,
    ) -> Result<ProvisionerJob, Fail<R>> {
        let state = self.state();
        Ok(ProvisionerJob {
            id: self.id.0,
            organization_id: self.organization_id.0,
            initiator_id: self.initiator_id.0,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
            worker_id: self.worker(),
            worker_name: self.worker_id.and_then(|worker| worker_names.get(&worker)).cloned().unwrap_or_default(),
            state,
            job_type: JobType::parse(&self.job_type).map_err(Fail::corrupt)?,
            provisioner: ProvisionerType::from_stored(self.provisioner),
            file_id: self.file_id.map(|file| file.0),
            tags: tags.get(&self.tag_set_id).cloned().ok_or_else(|| Fail::corrupt("missing tag set"))?,
            input: self.input.0.into(),
            metadata: self.metadata.0.into(),
            logs_overflowed: self.logs_overflowed,
        })
    }
}

/// The columns a change of state writes, status included, always together.
#[derive(Debug, Clone, PartialEq, Eq, AsChangeset, Insertable)]
#[diesel(table_name = provisioner_jobs, treat_none_as_null = true)]
pub(crate) struct StateChange {
    pub(crate) started_at: Option<Instant>,
    pub(crate) completed_at: Option<Instant>,
    pub(crate) canceled_at: Option<Instant>,
    pub(crate) error: Option<String>,
    pub(crate) error_code: Option<String>,
    pub(crate) status: String,
    pub(crate) updated_at: Instant,
}

impl StateChange {
    pub(crate) fn new(state: &JobState, now: DateTime<Utc>) -> Self {
        Self {
            started_at: state.started_at.map(Into::into),
            completed_at: state.completed_at.map(Into::into),
            canceled_at: state.canceled_at.map(Into::into),
            error: state.error.clone(),
            error_code: state.error_code.clone(),
            status: state.status().as_str().to_owned(),
            updated_at: now.into(),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = provisioner_job_logs)]
pub(crate) struct LogRow {
    pub(crate) id: i64,
    pub(crate) job_id: Id,
    pub(crate) created_at: Instant,
    pub(crate) source: String,
    pub(crate) level: String,
    pub(crate) stage: String,
    pub(crate) output: String,
}

impl LogRow {
    pub(crate) fn into_domain<R>(self) -> Result<LogLine, Fail<R>> {
        Ok(LogLine {
            id: self.id,
            job_id: self.job_id.0,
            created_at: self.created_at.0,
            source: LogSource::parse(&self.source).map_err(Fail::corrupt)?,
            level: LogLevel::parse(&self.level).map_err(Fail::corrupt)?,
            stage: self.stage,
            output: self.output,
        })
    }
}
