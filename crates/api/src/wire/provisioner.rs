use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use domain::provisioner::{self as dp, JobStatus};
use domain::validation::PLAIN_TEXT;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::schema::Object;
use uuid::Uuid;
use validator::Validate;

use super::{rules, schema};
use crate::error::ApiError;

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

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, Validate)]
#[schema(as = codersdk::ProvisionerJobMetadata)]
pub struct ProvisionerJobMetadata {
    #[serde(default)]
    #[schema(schema_with = free_text)]
    #[validate(custom(function = "rules::text"))]
    pub template_version_name: String,
    /// The nil UUID when the job has no template.
    #[serde(default)]
    pub template_id: Uuid,
    #[serde(default)]
    #[schema(schema_with = free_text)]
    #[validate(custom(function = "rules::text"))]
    pub template_name: String,
    #[serde(default)]
    #[schema(schema_with = free_text)]
    #[validate(custom(function = "rules::text"))]
    pub template_display_name: String,
    #[serde(default)]
    #[schema(schema_with = free_text)]
    #[validate(custom(function = "rules::text"))]
    pub template_icon: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schema(required = false, schema_with = free_text)]
    #[validate(custom(function = "rules::text"))]
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
#[derive(Debug, Clone, Default, Deserialize, ToSchema, Validate)]
#[schema(
    as = api::CreateProvisionerJobRequest,
    examples(json!({ "type": "template_version_import", "provisioner": "echo", "tags": { "os": "linux" }, "metadata": { "template_name": "docker" } }))
)]
pub struct CreateProvisionerJobRequest {
    #[serde(default)]
    #[schema(required = true, schema_with = job_type)]
    #[validate(custom(function = "rules::job_type"))]
    pub r#type: String,
    #[serde(default)]
    #[schema(schema_with = provisioner)]
    #[validate(custom(function = "rules::provisioner"))]
    pub provisioner: Option<String>,
    #[serde(default)]
    #[schema(schema_with = job_tags)]
    #[validate(custom(function = "rules::tags"))]
    pub tags: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "schema::object")]
    pub input: ProvisionerJobInput,
    #[serde(default, deserialize_with = "schema::object")]
    #[validate(nested)]
    pub metadata: ProvisionerJobMetadata,
    #[serde(default)]
    pub file_id: Option<Uuid>,
}

fn free_text() -> Object {
    schema::text(&PLAIN_TEXT).build()
}

fn job_type() -> Object {
    schema::one_of(dp::JobType::ALL.map(dp::JobType::as_str)).build()
}

fn provisioner() -> Object {
    schema::or_null(schema::one_of(dp::ProvisionerType::KNOWN))
        .enum_values(Some([Value::Null].into_iter().chain(dp::ProvisionerType::KNOWN.map(Value::from))))
        .description(Some("Absent or `null`: `terraform`."))
        .build()
}

fn job_tags() -> Object {
    schema::tags()
        .description(Some(
            "Which daemons may run it. Without `scope` the job is the organization's; `scope: user` makes it \
             the caller's own (`owner` is set to the caller).",
        ))
        .build()
}

fn key_tags() -> Object {
    schema::tags().description(Some("Given to every daemon that signs in with the key.")).build()
}

fn key_name() -> Object {
    schema::text(dp::ProvisionerKeyName::rule())
        .description(Some("Unique in the organization regardless of case; stored lower-cased."))
        .build()
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

#[derive(Debug, Clone, Default, Deserialize, ToSchema, Validate)]
#[schema(as = codersdk::CreateProvisionerKeyRequest, examples(json!({ "name": "linux-runners", "tags": { "os": "linux" } })))]
pub struct CreateProvisionerKeyRequest {
    #[serde(default)]
    #[schema(required = true, schema_with = key_name)]
    #[validate(custom(function = "rules::provisioner_key_name"))]
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = key_tags)]
    #[validate(custom(function = "rules::tags"))]
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

/// One event of a followed log as server-sent events carry it: `data` is one
/// [`ProvisionerJobLog`] as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = api::ProvisionerJobLogEvent)]
pub struct ProvisionerJobLogEvent {
    /// A `codersdk.ProvisionerJobLog`, as JSON.
    pub data: String,
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
    use domain::provisioner::{DaemonName, JobErrorCode, LogLevel, LogSource, ProvisionerType};
    use domain::validation::PLAIN_TEXT;
    use serde::{Deserialize, Serialize};
    use utoipa::ToSchema;
    use utoipa::openapi::schema::{Array, ArrayBuilder, Object};
    use validator::Validate;

    use super::super::{rules, schema};

    /// `POST /provisionerdaemons`: announce (or re-announce) this daemon.
    #[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, Validate)]
    #[schema(
        as = provisionerd::RegisterRequest,
        examples(json!({ "name": "runner-1", "provisioners": ["echo"], "version": "v0.1.0" }))
    )]
    pub struct RegisterRequest {
        #[serde(default)]
        #[schema(required = true, schema_with = name)]
        #[validate(custom(function = "rules::daemon_name"))]
        pub name: String,
        #[serde(default)]
        #[schema(schema_with = provisioners)]
        #[validate(custom(function = "rules::provisioners"))]
        pub provisioners: Vec<String>,
        #[serde(default)]
        #[schema(schema_with = free_text)]
        #[validate(custom(function = "rules::text"))]
        pub version: String,
    }

    fn name() -> Object {
        schema::text(DaemonName::rule())
            .description(Some(
                "Unique in the organization regardless of case; registering a name again takes that daemon over.",
            ))
            .build()
    }

    fn provisioners() -> Array {
        ArrayBuilder::new()
            .items(schema::one_of(ProvisionerType::KNOWN))
            .description(Some("The provisioner types it runs; empty: `terraform`."))
            .build()
    }

    fn free_text() -> Object {
        schema::text(&PLAIN_TEXT).build()
    }

    /// One log line as a daemon sends it.
    #[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, Validate)]
    #[schema(as = provisionerd::Log)]
    pub struct Log {
        #[serde(default)]
        #[schema(required = true, schema_with = log_source)]
        #[validate(custom(function = "rules::log_source"))]
        pub log_source: String,
        #[serde(default)]
        #[schema(required = true, schema_with = log_level)]
        #[validate(custom(function = "rules::log_level"))]
        pub log_level: String,
        #[serde(default)]
        #[schema(schema_with = free_text)]
        #[validate(custom(function = "rules::text"))]
        pub stage: String,
        #[serde(default)]
        #[schema(schema_with = free_text)]
        #[validate(custom(function = "rules::text"))]
        pub output: String,
    }

    fn log_source() -> Object {
        schema::one_of(LogSource::ALL.map(LogSource::as_str)).build()
    }

    fn log_level() -> Object {
        schema::one_of(LogLevel::ALL.map(LogLevel::as_str)).build()
    }

    /// `POST .../jobs/{job}/update`: progress (logs) and a heartbeat for the job.
    #[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, Validate)]
    #[schema(
        as = provisionerd::UpdateJobRequest,
        examples(json!({ "logs": [{ "log_source": "provisioner", "log_level": "info", "stage": "plan", "output": "Planning..." }] }))
    )]
    pub struct UpdateJobRequest {
        #[serde(default, deserialize_with = "schema::objects")]
        #[validate(nested)]
        pub logs: Vec<Log>,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
    #[schema(as = provisionerd::UpdateJobResponse)]
    pub struct UpdateJobResponse {
        /// Cancellation was asked for: stop, then complete the job.
        pub canceled: bool,
    }

    /// `POST .../jobs/{job}/fail`.
    #[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, Validate)]
    #[schema(as = provisionerd::FailJobRequest, examples(json!({ "error": "terraform exited with 1", "error_code": "" })))]
    pub struct FailJobRequest {
        #[serde(default)]
        #[schema(schema_with = free_text)]
        #[validate(custom(function = "rules::text"))]
        pub error: String,
        #[serde(default)]
        #[schema(schema_with = error_code)]
        #[validate(custom(function = "rules::error_code"))]
        pub error_code: String,
    }

    fn error_code() -> Object {
        schema::one_of(std::iter::once("").chain(JobErrorCode::ALL.map(JobErrorCode::as_str)))
            .description(Some("Empty for none."))
            .build()
    }

    impl Log {
        /// The line to store; the field rules have been checked.
        pub fn into_domain(self) -> Result<domain::provisioner::NewLogLine, crate::error::ApiError> {
            let field = |error| crate::error::ApiError::validation(&[error]);
            Ok(domain::provisioner::NewLogLine {
                source: LogSource::parse(&self.log_source).map_err(field)?,
                level: LogLevel::parse(&self.log_level).map_err(field)?,
                stage: self.stage,
                output: self.output,
            })
        }
    }
}

impl CreateProvisionerJobRequest {
    /// The job to create, with its tags normalised for the caller; the field rules have been
    /// checked.
    pub fn into_domain(self, organization: Uuid, initiator: Uuid) -> Result<dp::NewJob, ApiError> {
        let field = |error| ApiError::validation(&[error]);
        let provisioner = self.provisioner.as_deref().unwrap_or(dp::ProvisionerType::DEFAULT);
        Ok(dp::NewJob {
            organization_id: organization,
            initiator_id: initiator,
            job_type: dp::JobType::parse(&self.r#type).map_err(field)?,
            provisioner: dp::ProvisionerType::parse("provisioner", provisioner).map_err(field)?,
            file_id: self.file_id,
            tags: dp::Tags::normalise(self.tags, initiator).map_err(field)?,
            input: dp::JobInput {
                template_version_id: self.input.template_version_id,
                workspace_build_id: self.input.workspace_build_id,
            },
            metadata: self.metadata.into(),
        })
    }
}
