use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use domain::provisioner::{self as dp, JobStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::ProvisionerJobStatus)]
#[serde(rename_all = "lowercase")]
pub enum ProvisionerJobStatus {
    Pending,
    Running,
    Succeeded,
    Canceling,
    Canceled,
    Failed,
    Unknown,
}

impl From<JobStatus> for ProvisionerJobStatus {
    fn from(status: JobStatus) -> Self {
        match status {
            JobStatus::Pending => Self::Pending,
            JobStatus::Running => Self::Running,
            JobStatus::Succeeded => Self::Succeeded,
            JobStatus::Canceling => Self::Canceling,
            JobStatus::Canceled => Self::Canceled,
            JobStatus::Failed => Self::Failed,
            JobStatus::Unknown => Self::Unknown,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::ProvisionerJobType)]
#[serde(rename_all = "snake_case")]
pub enum ProvisionerJobType {
    TemplateVersionImport,
    WorkspaceBuild,
    TemplateVersionDryRun,
}

impl From<dp::JobType> for ProvisionerJobType {
    fn from(job_type: dp::JobType) -> Self {
        match job_type {
            dp::JobType::TemplateVersionImport => Self::TemplateVersionImport,
            dp::JobType::WorkspaceBuild => Self::WorkspaceBuild,
            dp::JobType::TemplateVersionDryRun => Self::TemplateVersionDryRun,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::JobErrorCode)]
pub enum JobErrorCode {
    #[serde(rename = "REQUIRED_TEMPLATE_VARIABLES")]
    RequiredTemplateVariables,
    #[serde(rename = "INSUFFICIENT_QUOTA")]
    InsufficientQuota,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::WorkspaceTransition)]
#[serde(rename_all = "lowercase")]
pub enum WorkspaceTransition {
    Start,
    Stop,
    Delete,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::ProvisionerJobInput)]
pub struct ProvisionerJobInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_version_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_build_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schema(required = false)]
    pub error: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::ProvisionerJobMetadata)]
pub struct ProvisionerJobMetadata {
    #[serde(default)]
    pub template_version_name: String,
    /// The nil UUID when the job has no template.
    #[serde(default)]
    pub template_id: Uuid,
    #[serde(default)]
    pub template_name: String,
    #[serde(default)]
    pub template_display_name: String,
    #[serde(default)]
    pub template_icon: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schema(required = false)]
    pub workspace_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_build_transition: Option<WorkspaceTransition>,
}

impl From<dp::JobMetadata> for ProvisionerJobMetadata {
    fn from(metadata: dp::JobMetadata) -> Self {
        Self {
            template_version_name: metadata.template_version_name,
            template_id: metadata.template_id.unwrap_or_default(),
            template_name: metadata.template_name,
            template_display_name: metadata.template_display_name,
            template_icon: metadata.template_icon,
            workspace_id: metadata.workspace_id,
            workspace_name: metadata.workspace_name,
            workspace_build_transition: metadata.workspace_build_transition.map(|t| match t {
                dp::WorkspaceTransition::Start => WorkspaceTransition::Start,
                dp::WorkspaceTransition::Stop => WorkspaceTransition::Stop,
                dp::WorkspaceTransition::Delete => WorkspaceTransition::Delete,
            }),
        }
    }
}

impl From<ProvisionerJobMetadata> for dp::JobMetadata {
    fn from(metadata: ProvisionerJobMetadata) -> Self {
        Self {
            template_version_name: metadata.template_version_name,
            template_id: Some(metadata.template_id).filter(|id| !id.is_nil()),
            template_name: metadata.template_name,
            template_display_name: metadata.template_display_name,
            template_icon: metadata.template_icon,
            workspace_id: metadata.workspace_id,
            workspace_name: metadata.workspace_name,
            workspace_build_transition: metadata.workspace_build_transition.map(|t| match t {
                WorkspaceTransition::Start => dp::WorkspaceTransition::Start,
                WorkspaceTransition::Stop => dp::WorkspaceTransition::Stop,
                WorkspaceTransition::Delete => dp::WorkspaceTransition::Delete,
            }),
        }
    }
}

/// `codersdk.ProvisionerJob`. Times, error, worker and available workers are left out
/// when empty; tags, input, metadata, queue numbers, worker name and overflow always show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::ProvisionerJob)]
pub struct ProvisionerJob {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canceled_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<JobErrorCode>,
    pub status: ProvisionerJobStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<Uuid>,
    pub worker_name: String,
    /// The nil UUID when the job has no file.
    pub file_id: Uuid,
    pub tags: BTreeMap<String, String>,
    pub queue_position: u32,
    pub queue_size: u32,
    pub organization_id: Uuid,
    pub initiator_id: Uuid,
    pub input: ProvisionerJobInput,
    #[serde(rename = "type")]
    pub job_type: ProvisionerJobType,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub available_workers: Vec<Uuid>,
    pub metadata: ProvisionerJobMetadata,
    pub logs_overflowed: bool,
}

impl ProvisionerJob {
    pub fn new(job: dp::ProvisionerJob, queue: dp::QueueInfo) -> Self {
        let status = job.status();
        let error_code = job.state.error_code.as_deref().and_then(|code| match dp::JobErrorCode::parse(code) {
            Ok(dp::JobErrorCode::RequiredTemplateVariables) => Some(JobErrorCode::RequiredTemplateVariables),
            Ok(dp::JobErrorCode::InsufficientQuota) => Some(JobErrorCode::InsufficientQuota),
            Err(_) => None,
        });
        Self {
            id: job.id,
            created_at: job.created_at,
            started_at: job.state.started_at,
            completed_at: job.state.completed_at,
            canceled_at: job.state.canceled_at,
            error: job.state.error.filter(|e| !e.is_empty()),
            error_code,
            status: status.into(),
            worker_id: job.worker_id,
            worker_name: job.worker_name,
            file_id: job.file_id.unwrap_or_default(),
            tags: job.tags.as_map().clone(),
            queue_position: queue.position,
            queue_size: queue.size,
            organization_id: job.organization_id,
            initiator_id: job.initiator_id,
            input: ProvisionerJobInput {
                template_version_id: job.input.template_version_id,
                workspace_build_id: job.input.workspace_build_id,
                error: String::new(),
            },
            job_type: job.job_type.into(),
            available_workers: queue.available_workers,
            metadata: job.metadata.into(),
            logs_overflowed: job.logs_overflowed,
        }
    }
}

impl From<domain::repo::QueuedJobView> for ProvisionerJob {
    fn from(view: domain::repo::QueuedJobView) -> Self {
        Self::new(view.job, view.queue)
    }
}

/// `POST /organizations/{organization}/provisionerjobs`: a job for the organization's daemons.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[schema(as = api::CreateProvisionerJobRequest)]
pub struct CreateProvisionerJobRequest {
    /// `template_version_import`, `workspace_build` or `template_version_dry_run`.
    #[serde(default, rename = "type")]
    pub job_type: String,
    /// `terraform` (the default) or `echo`.
    #[serde(default)]
    pub provisioner: Option<String>,
    /// Normalised: no `scope` means organization scope; `scope: user` belongs to the caller.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub input: ProvisionerJobInput,
    #[serde(default)]
    pub metadata: ProvisionerJobMetadata,
    #[serde(default)]
    pub file_id: Option<Uuid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::ProvisionerDaemonStatus)]
#[serde(rename_all = "lowercase")]
pub enum ProvisionerDaemonStatus {
    Offline,
    Idle,
    Busy,
}

impl From<dp::DaemonStatus> for ProvisionerDaemonStatus {
    fn from(status: dp::DaemonStatus) -> Self {
        match status {
            dp::DaemonStatus::Offline => Self::Offline,
            dp::DaemonStatus::Idle => Self::Idle,
            dp::DaemonStatus::Busy => Self::Busy,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::ProvisionerDaemonJob)]
pub struct ProvisionerDaemonJob {
    pub id: Uuid,
    pub status: ProvisionerJobStatus,
    pub template_name: String,
    pub template_icon: String,
    pub template_display_name: String,
}

impl From<dp::DaemonJob> for ProvisionerDaemonJob {
    fn from(job: dp::DaemonJob) -> Self {
        Self {
            id: job.id,
            status: job.status.into(),
            template_name: job.template_name,
            template_icon: job.template_icon,
            template_display_name: job.template_display_name,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::ProvisionerDaemon)]
pub struct ProvisionerDaemon {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub key_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub name: String,
    pub version: String,
    pub api_version: String,
    pub provisioners: Vec<String>,
    pub tags: BTreeMap<String, String>,
    pub key_name: Option<String>,
    pub status: Option<ProvisionerDaemonStatus>,
    pub current_job: Option<ProvisionerDaemonJob>,
    pub previous_job: Option<ProvisionerDaemonJob>,
}

impl ProvisionerDaemon {
    pub fn new(daemon: dp::ProvisionerDaemon, liveness: dp::Liveness, now: DateTime<Utc>) -> Self {
        let status = liveness.status(daemon.last_seen_at, daemon.current_job.is_some(), now);
        Self {
            id: daemon.id,
            organization_id: daemon.organization_id,
            key_id: daemon.key_id,
            created_at: daemon.created_at,
            last_seen_at: daemon.last_seen_at,
            name: daemon.name,
            version: daemon.version,
            api_version: daemon.api_version,
            provisioners: daemon.provisioners.iter().map(|p| p.as_str().to_owned()).collect(),
            tags: daemon.tags.as_map().clone(),
            key_name: Some(daemon.key_name),
            status: Some(status.into()),
            current_job: daemon.current_job.map(Into::into),
            previous_job: daemon.previous_job.map(Into::into),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::ProvisionerKey)]
pub struct ProvisionerKey {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// The organization's id.
    pub organization: Uuid,
    pub name: String,
    pub tags: BTreeMap<String, String>,
}

impl From<dp::ProvisionerKey> for ProvisionerKey {
    fn from(key: dp::ProvisionerKey) -> Self {
        Self {
            id: key.id,
            created_at: key.created_at,
            organization: key.organization_id,
            name: key.name,
            tags: key.tags.as_map().clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[schema(as = codersdk::CreateProvisionerKeyRequest)]
pub struct CreateProvisionerKeyRequest {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::CreateProvisionerKeyResponse)]
pub struct CreateProvisionerKeyResponse {
    /// The secret, shown this once.
    pub key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::LogLevel)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::LogSource)]
#[serde(rename_all = "snake_case")]
pub enum LogSource {
    ProvisionerDaemon,
    Provisioner,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::ProvisionerJobLog)]
pub struct ProvisionerJobLog {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub log_source: LogSource,
    pub log_level: LogLevel,
    pub stage: String,
    pub output: String,
}

impl From<dp::LogLine> for ProvisionerJobLog {
    fn from(line: dp::LogLine) -> Self {
        Self {
            id: line.id,
            created_at: line.created_at,
            log_source: match line.source {
                dp::LogSource::ProvisionerDaemon => LogSource::ProvisionerDaemon,
                dp::LogSource::Provisioner => LogSource::Provisioner,
            },
            log_level: match line.level {
                dp::LogLevel::Trace => LogLevel::Trace,
                dp::LogLevel::Debug => LogLevel::Debug,
                dp::LogLevel::Info => LogLevel::Info,
                dp::LogLevel::Warn => LogLevel::Warn,
                dp::LogLevel::Error => LogLevel::Error,
            },
            stage: line.stage,
            output: line.output,
        }
    }
}

/// The plain-HTTP daemon protocol: what a daemon says and hears.
pub mod daemon {
    use serde::{Deserialize, Serialize};
    use utoipa::ToSchema;

    /// `POST /provisionerdaemons`: announce (or re-announce) this daemon.
    #[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
    #[schema(as = provisionerd::RegisterRequest)]
    pub struct RegisterRequest {
        /// Unique per organization; registering an existing name takes that daemon over.
        #[serde(default)]
        pub name: String,
        /// Provisioner types this daemon runs (`echo`, `terraform`); `terraform` when empty.
        #[serde(default)]
        pub provisioners: Vec<String>,
        #[serde(default)]
        pub version: String,
    }

    /// One log line as a daemon sends it.
    #[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
    #[schema(as = provisionerd::Log)]
    pub struct Log {
        #[serde(default)]
        pub log_source: String,
        #[serde(default)]
        pub log_level: String,
        #[serde(default)]
        pub stage: String,
        #[serde(default)]
        pub output: String,
    }

    /// `POST .../jobs/{job}/update`: progress (logs) and a heartbeat for the job.
    #[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
    #[schema(as = provisionerd::UpdateJobRequest)]
    pub struct UpdateJobRequest {
        #[serde(default)]
        pub logs: Vec<Log>,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
    #[schema(as = provisionerd::UpdateJobResponse)]
    pub struct UpdateJobResponse {
        /// Cancellation was asked for: stop, then complete the job.
        pub canceled: bool,
    }

    /// `POST .../jobs/{job}/fail`.
    #[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
    #[schema(as = provisionerd::FailJobRequest)]
    pub struct FailJobRequest {
        #[serde(default)]
        pub error: String,
        /// Empty, `REQUIRED_TEMPLATE_VARIABLES` or `INSUFFICIENT_QUOTA`.
        #[serde(default)]
        pub error_code: String,
    }
}

impl CreateProvisionerJobRequest {
    /// The job to create, with its tags normalised for the caller.
    pub fn into_domain(self, organization: Uuid, initiator: Uuid) -> Result<dp::NewJob, crate::error::ApiError> {
        let mut checks = super::checks::Checks::default();
        let job_type = if self.job_type.is_empty() {
            checks.check::<dp::JobType>(Err(domain::validation::FieldError::required("type")))
        } else {
            checks.check(dp::JobType::parse(&self.job_type))
        };
        let provisioner = checks.check(dp::ProvisionerType::parse(
            "provisioner",
            self.provisioner.as_deref().unwrap_or(dp::ProvisionerType::DEFAULT),
        ));
        let tags = checks.check(dp::Tags::normalise(self.tags, initiator));
        checks.finish()?;
        use super::checks::checked;
        Ok(dp::NewJob {
            organization_id: organization,
            initiator_id: initiator,
            job_type: checked(job_type)?,
            provisioner: checked(provisioner)?,
            file_id: self.file_id,
            tags: checked(tags)?,
            input: dp::JobInput {
                template_version_id: self.input.template_version_id,
                workspace_build_id: self.input.workspace_build_id,
            },
            metadata: self.metadata.into(),
        })
    }
}

impl daemon::Log {
    pub fn into_domain(self, checks: &mut super::checks::Checks) -> Option<dp::NewLogLine> {
        let source = checks.check(dp::LogSource::parse(&self.log_source));
        let level = checks.check(dp::LogLevel::parse(&self.log_level));
        Some(dp::NewLogLine { source: source?, level: level?, stage: self.stage, output: self.output })
    }
}
