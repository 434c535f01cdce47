use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use domain::provisioner::{JobState, JobType, ProvisionerJob, ProvisionerType, Tags};
use uuid::Uuid;

use super::job_documents::{input_from_json, metadata_from_json};
use crate::convert::{id, naive, utc};
use crate::error::Fail;
use crate::schema::provisioner_jobs;

#[derive(Queryable, Selectable)]
#[diesel(table_name = provisioner_jobs)]
pub(crate) struct JobRow {
    pub(crate) id: String,
    pub(crate) organization_id: String,
    pub(crate) initiator_id: String,
    pub(crate) created_at: NaiveDateTime,
    pub(crate) updated_at: NaiveDateTime,
    pub(crate) started_at: Option<NaiveDateTime>,
    pub(crate) completed_at: Option<NaiveDateTime>,
    pub(crate) canceled_at: Option<NaiveDateTime>,
    pub(crate) error: Option<String>,
    pub(crate) error_code: Option<String>,
    pub(crate) job_type: String,
    pub(crate) provisioner: String,
    pub(crate) file_id: Option<String>,
    pub(crate) tag_set_id: String,
    pub(crate) input: String,
    pub(crate) metadata: String,
    pub(crate) worker_id: Option<String>,
    pub(crate) logs_length: i64,
    pub(crate) logs_overflowed: bool,
}

pub(crate) fn state_of(
    started_at: Option<NaiveDateTime>,
    completed_at: Option<NaiveDateTime>,
    canceled_at: Option<NaiveDateTime>,
    error: Option<String>,
    error_code: Option<String>,
) -> JobState {
    JobState {
        started_at: started_at.map(utc),
        completed_at: completed_at.map(utc),
        canceled_at: canceled_at.map(utc),
        error,
        error_code,
    }
}

impl JobRow {
    pub(crate) fn state(&self) -> JobState {
        state_of(self.started_at, self.completed_at, self.canceled_at, self.error.clone(), self.error_code.clone())
    }

    pub(crate) fn worker<R>(&self) -> Result<Option<Uuid>, Fail<R>> {
        self.worker_id.as_deref().map(id).transpose()
    }

    pub(crate) fn into_domain<R>(
        self,
        tags: &HashMap<String, Tags>,
        worker_names: &HashMap<String, String>,
    ) -> Result<ProvisionerJob, Fail<R>> {
        let state = self.state();
        Ok(ProvisionerJob {
            id: id(&self.id)?,
            organization_id: id(&self.organization_id)?,
            initiator_id: id(&self.initiator_id)?,
            created_at: utc(self.created_at),
            updated_at: utc(self.updated_at),
            worker_id: self.worker()?,
            worker_name: self.worker_id.as_ref().and_then(|w| worker_names.get(w)).cloned().unwrap_or_default(),
            state,
            job_type: JobType::parse(&self.job_type).map_err(Fail::corrupt)?,
            provisioner: ProvisionerType::from_stored(self.provisioner),
            file_id: self.file_id.as_deref().map(id).transpose()?,
            tags: tags.get(&self.tag_set_id).cloned().ok_or_else(|| Fail::corrupt("missing tag set"))?,
            input: input_from_json(&self.input)?,
            metadata: metadata_from_json(&self.metadata)?,
            logs_overflowed: self.logs_overflowed,
        })
    }
}

/// The columns a change of state writes, status included, always together.
#[derive(AsChangeset, Insertable)]
#[diesel(table_name = provisioner_jobs, treat_none_as_null = true)]
pub(crate) struct StateChange {
    pub(crate) started_at: Option<NaiveDateTime>,
    pub(crate) completed_at: Option<NaiveDateTime>,
    pub(crate) canceled_at: Option<NaiveDateTime>,
    pub(crate) error: Option<String>,
    pub(crate) error_code: Option<String>,
    pub(crate) status: String,
    pub(crate) updated_at: NaiveDateTime,
}

impl StateChange {
    pub(crate) fn new(state: &JobState, now: DateTime<Utc>) -> Self {
        Self {
            started_at: state.started_at.map(naive),
            completed_at: state.completed_at.map(naive),
            canceled_at: state.canceled_at.map(naive),
            error: state.error.clone(),
            error_code: state.error_code.clone(),
            status: state.status().as_str().to_owned(),
            updated_at: naive(now),
        }
    }
}
