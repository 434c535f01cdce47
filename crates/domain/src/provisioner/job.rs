use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::status::{JobState, JobStatus};
use super::tags::Tags;
use crate::closed_set::closed_set;
use crate::validation::FieldError;

closed_set! {
    /// What a job does; the daemon decides how.
    pub enum JobType {
        /// Read a template version: its parameters and resources.
        TemplateVersionImport => "template_version_import",
        /// Start, stop or delete a workspace.
        WorkspaceBuild => "workspace_build",
        /// Plan a template version without applying it.
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
    /// The provisioner types this service accepts.
    pub const KNOWN: [&'static str; 2] = ["echo", "terraform"];
    /// The provisioner a job needs when its creator names none.
    pub const DEFAULT: &'static str = "terraform";

    /// Checks a provisioner type named in the request field `field`.
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

    /// The type's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

closed_set! {
    /// Error codes a daemon may fail a job with.
    pub enum JobErrorCode {
        /// The template needs variables nobody gave.
        RequiredTemplateVariables => "REQUIRED_TEMPLATE_VARIABLES",
        /// The workspace would exceed its owner's quota.
        InsufficientQuota => "INSUFFICIENT_QUOTA",
    }
    else |raw| -> FieldError {
        FieldError::new("error_code", "oneof", raw, "must be REQUIRED_TEMPLATE_VARIABLES or INSUFFICIENT_QUOTA")
    }
}

/// What the job works on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobInput {
    /// The template version it imports or plans.
    pub template_version_id: Option<Uuid>,
    /// The workspace build it carries out.
    pub workspace_build_id: Option<Uuid>,
}

/// What a workspace build does to its workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkspaceTransition {
    /// Bring the workspace up.
    Start,
    /// Take it down, keeping its state.
    Stop,
    /// Remove it.
    Delete,
}

/// Descriptive details shown beside a job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobMetadata {
    /// Name of the template version.
    pub template_version_name: String,
    /// The template's id.
    pub template_id: Option<Uuid>,
    /// The template's name.
    pub template_name: String,
    /// The template's display name.
    pub template_display_name: String,
    /// The template's icon.
    pub template_icon: String,
    /// The workspace's id, for builds.
    pub workspace_id: Option<Uuid>,
    /// The workspace's name, for builds.
    pub workspace_name: String,
    /// What the build does, for builds.
    pub workspace_build_transition: Option<WorkspaceTransition>,
}

/// A job as stored, with its worker's name when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionerJob {
    /// Its id.
    pub id: Uuid,
    /// The organization it belongs to.
    pub organization_id: Uuid,
    /// The user who created it.
    pub initiator_id: Uuid,
    /// When it was created; the queue runs oldest first.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Its timestamps and error, from which its status follows.
    pub state: JobState,
    /// What it does.
    pub job_type: JobType,
    /// The provisioner it needs.
    pub provisioner: ProvisionerType,
    /// The file it works from, if any.
    pub file_id: Option<Uuid>,
    /// Its tags: which daemons may run it.
    pub tags: Tags,
    /// What it works on.
    pub input: JobInput,
    /// Descriptive details.
    pub metadata: JobMetadata,
    /// The daemon that holds or held it.
    pub worker_id: Option<Uuid>,
    /// That daemon's name (empty when none).
    pub worker_name: String,
    /// Whether log lines were dropped past the job's budget.
    pub logs_overflowed: bool,
}

impl ProvisionerJob {
    /// Its status, derived from its state.
    pub fn status(&self) -> JobStatus {
        self.state.status()
    }
}

/// A job to create, already checked; its tags are normalised for its initiator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// The organization it belongs to.
    pub organization_id: Uuid,
    /// The user creating it.
    pub initiator_id: Uuid,
    /// What it does.
    pub job_type: JobType,
    /// The provisioner it needs.
    pub provisioner: ProvisionerType,
    /// The file it works from, if any.
    pub file_id: Option<Uuid>,
    /// Its tags, normalised.
    pub tags: Tags,
    /// What it works on.
    pub input: JobInput,
    /// Descriptive details.
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
