use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::status::{JobState, JobStatus};
use super::tags::Tags;
use crate::closed_set::closed_set;
use crate::validation::FieldError;

closed_set! {
    /// What a job does; the daemon decides how.
    pub enum JobType {
        TemplateVersionImport => "template_version_import",
        WorkspaceBuild => "workspace_build",
        TemplateVersionDryRun => "template_version_dry_run",
    }
    else |raw| -> FieldError {
        FieldError::new(
            "type",
            "oneof",
            raw,
            "must be one of template_version_import, workspace_build, template_version_dry_run",
        )
    }
}

/// The provisioner a job needs and a daemon offers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProvisionerType(String);

impl ProvisionerType {
    pub const KNOWN: [&'static str; 2] = ["echo", "terraform"];
    pub const DEFAULT: &'static str = "terraform";

    pub fn parse(field: &'static str, raw: &str) -> Result<Self, FieldError> {
        if Self::KNOWN.contains(&raw) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(field, "oneof", raw, "must be one of echo, terraform"))
        }
    }

    /// A provisioner read back from the store.
    pub fn from_stored(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

closed_set! {
    /// Error codes a daemon may fail a job with.
    pub enum JobErrorCode {
        RequiredTemplateVariables => "REQUIRED_TEMPLATE_VARIABLES",
        InsufficientQuota => "INSUFFICIENT_QUOTA",
    }
    else |raw| -> FieldError {
        FieldError::new("error_code", "oneof", raw, "must be REQUIRED_TEMPLATE_VARIABLES or INSUFFICIENT_QUOTA")
    }
}

/// What the job works on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_version_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_build_id: Option<Uuid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkspaceTransition {
    Start,
    Stop,
    Delete,
}

/// Descriptive details shown beside a job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobMetadata {
    pub template_version_name: String,
    pub template_id: Option<Uuid>,
    pub template_name: String,
    pub template_display_name: String,
    pub template_icon: String,
    pub workspace_id: Option<Uuid>,
    pub workspace_name: String,
    pub workspace_build_transition: Option<WorkspaceTransition>,
}

/// A job as stored, with its worker's name when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionerJob {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub initiator_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub state: JobState,
    pub job_type: JobType,
    pub provisioner: ProvisionerType,
    pub file_id: Option<Uuid>,
    pub tags: Tags,
    pub input: JobInput,
    pub metadata: JobMetadata,
    pub worker_id: Option<Uuid>,
    pub worker_name: String,
    pub logs_overflowed: bool,
}

impl ProvisionerJob {
    pub fn status(&self) -> JobStatus {
        self.state.status()
    }
}

/// A job to create, already checked; its tags are normalised for its initiator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub organization_id: Uuid,
    pub initiator_id: Uuid,
    pub job_type: JobType,
    pub provisioner: ProvisionerType,
    pub file_id: Option<Uuid>,
    pub tags: Tags,
    pub input: JobInput,
    pub metadata: JobMetadata,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_types_and_provisioners_are_closed_sets() {
        assert_eq!(JobType::parse("workspace_build"), Ok(JobType::WorkspaceBuild));
        assert!(JobType::parse("build").is_err());
        assert!(ProvisionerType::parse("provisioner", "echo").is_ok());
        assert!(ProvisionerType::parse("provisioner", "ansible").is_err());
        assert_eq!(JobErrorCode::parse("INSUFFICIENT_QUOTA"), Ok(JobErrorCode::InsufficientQuota));
        assert!(JobErrorCode::parse("OOPS").is_err());
    }

    #[test]
    fn metadata_reads_partial_json() {
        let metadata: Result<JobMetadata, _> = serde_json::from_str(r#"{"template_name":"docker"}"#);
        assert_eq!(metadata.ok().map(|m| m.template_name), Some("docker".to_owned()));
    }
}
