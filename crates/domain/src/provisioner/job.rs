use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::status::{JobState, JobStatus};
use super::tags::Tags;
use crate::validation::FieldError;

/// What a job does; the daemon decides how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobType {
    TemplateVersionImport,
    WorkspaceBuild,
    TemplateVersionDryRun,
}

impl JobType {
    pub const ALL: [Self; 3] = [Self::TemplateVersionImport, Self::WorkspaceBuild, Self::TemplateVersionDryRun];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TemplateVersionImport => "template_version_import",
            Self::WorkspaceBuild => "workspace_build",
            Self::TemplateVersionDryRun => "template_version_dry_run",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw).ok_or_else(|| {
            FieldError::new(
                "type",
                "oneof",
                raw,
                "must be one of template_version_import, workspace_build, template_version_dry_run",
            )
        })
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

/// Error codes a daemon may fail a job with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobErrorCode {
    RequiredTemplateVariables,
    InsufficientQuota,
}

impl JobErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequiredTemplateVariables => "REQUIRED_TEMPLATE_VARIABLES",
            Self::InsufficientQuota => "INSUFFICIENT_QUOTA",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        [Self::RequiredTemplateVariables, Self::InsufficientQuota].into_iter().find(|c| c.as_str() == raw).ok_or_else(
            || FieldError::new("error_code", "oneof", raw, "must be REQUIRED_TEMPLATE_VARIABLES or INSUFFICIENT_QUOTA"),
        )
    }
}

/// What the job works on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobInput {
    pub template_version_id: Option<Uuid>,
    pub workspace_build_id: Option<Uuid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkspaceTransition {
    Start,
    Stop,
    Delete,
}

/// Descriptive details shown beside a job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
}
