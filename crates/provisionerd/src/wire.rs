//! What a daemon sends and receives, as JSON. Field names are the server's (codersdk's);
//! the types are this crate's own, so a daemon needs nothing from the server's crates.
//!
//! Decoding is lenient where a newer server may say more: unknown fields are ignored, and a
//! job or daemon status this crate does not know reads as `Unknown`.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `POST /api/v2/provisionerdaemons`: announce this daemon, or announce it again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRequest {
    /// Unique in the key's organization; registering a name that exists takes that daemon
    /// over (its id stays).
    pub name: String,
    /// Provisioner types this daemon runs (`echo`, `terraform`); the server assumes
    /// `terraform` when the list is empty.
    pub provisioners: Vec<String>,
    /// The daemon's own version, shown to administrators.
    pub version: String,
}

/// A registered daemon as the server describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionerDaemon {
    /// Pass it to every other call of the protocol.
    pub id: Uuid,
    /// The organization of the key the daemon signed in with.
    pub organization_id: Uuid,
    /// The provisioner key the daemon signed in with.
    pub key_id: Uuid,
    /// First registration.
    pub created_at: DateTime<Utc>,
    /// Last registration, heartbeat or job activity.
    pub last_seen_at: DateTime<Utc>,
    /// The name it registered with.
    pub name: String,
    /// The version it registered with.
    pub version: String,
    /// The protocol version the server speaks.
    pub api_version: String,
    /// Provisioner types it runs.
    pub provisioners: Vec<String>,
    /// The key's tags: a job runs here only if its tags allow it.
    pub tags: BTreeMap<String, String>,
    /// The key's name.
    #[serde(default)]
    pub key_name: Option<String>,
    /// Offline, idle or busy.
    #[serde(default)]
    pub status: Option<DaemonStatus>,
    /// The job it holds now.
    #[serde(default)]
    pub current_job: Option<DaemonJob>,
    /// The job it held last.
    #[serde(default)]
    pub previous_job: Option<DaemonJob>,
}

/// Whether a daemon is reachable and working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DaemonStatus {
    /// Not seen within the server's liveness window.
    Offline,
    /// Online, holding no job.
    Idle,
    /// Online, holding a job.
    Busy,
    /// A status this crate does not know.
    #[serde(other)]
    Unknown,
}

/// A job as shown beside the daemon that holds or held it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonJob {
    /// The job's id.
    pub id: Uuid,
    /// Its status now.
    pub status: ProvisionerJobStatus,
    /// Name of the template it works on, if any.
    #[serde(default)]
    pub template_name: String,
    /// Icon of that template.
    #[serde(default)]
    pub template_icon: String,
    /// Display name of that template.
    #[serde(default)]
    pub template_display_name: String,
}

/// A provisioner job: what `acquire` hands over and `complete` and `fail` answer with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionerJob {
    /// The job's id, for `update`, `complete` and `fail`.
    pub id: Uuid,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When a daemon took it.
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    #[serde(default)]
    pub completed_at: Option<DateTime<Utc>>,
    /// When cancellation was asked for.
    #[serde(default)]
    pub canceled_at: Option<DateTime<Utc>>,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<String>,
    /// A machine-readable reason for the failure.
    #[serde(default)]
    pub error_code: Option<JobErrorCode>,
    /// Where it stands, derived by the server from the times above.
    pub status: ProvisionerJobStatus,
    /// The daemon that holds or held it.
    #[serde(default)]
    pub worker_id: Option<Uuid>,
    /// That daemon's name (empty when none).
    #[serde(default)]
    pub worker_name: String,
    /// The file the job works from; the nil UUID when none.
    #[serde(default)]
    pub file_id: Uuid,
    /// The job's tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Its place in the queue while pending (0 otherwise).
    #[serde(default)]
    pub queue_position: u32,
    /// The length of that queue.
    #[serde(default)]
    pub queue_size: u32,
    /// The organization it belongs to.
    pub organization_id: Uuid,
    /// The user who created it.
    pub initiator_id: Uuid,
    /// What it works on.
    #[serde(default)]
    pub input: JobInput,
    /// What it does.
    #[serde(rename = "type")]
    pub job_type: JobType,
    /// Descriptive details for people.
    #[serde(default)]
    pub metadata: JobMetadata,
    /// Whether log lines were dropped past the server's cap.
    #[serde(default)]
    pub logs_overflowed: bool,
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProvisionerJobStatus {
    /// Waiting for a daemon.
    Pending,
    /// Held by a daemon.
    Running,
    /// Completed without cancellation.
    Succeeded,
    /// Cancellation asked for; its daemon has not finished yet.
    Canceling,
    /// Ended by cancellation.
    Canceled,
    /// Ended with an error.
    Failed,
    /// A status this crate does not know.
    #[serde(other)]
    Unknown,
}

/// What a job does; the daemon decides how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobType {
    /// Read a template version.
    TemplateVersionImport,
    /// Start, stop or delete a workspace.
    WorkspaceBuild,
    /// Plan a template version without applying it.
    TemplateVersionDryRun,
}

/// A machine-readable reason a daemon gives when it fails a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobErrorCode {
    /// The template needs variables nobody gave.
    RequiredTemplateVariables,
    /// The workspace would exceed its owner's quota.
    InsufficientQuota,
}

/// The ids a job works on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobInput {
    /// For template version jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_version_id: Option<Uuid>,
    /// For workspace builds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_build_id: Option<Uuid>,
}

/// Descriptive details of a job, as its creator gave them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobMetadata {
    /// Template version name.
    pub template_version_name: String,
    /// Template id; the nil UUID when none.
    pub template_id: Uuid,
    /// Template name.
    pub template_name: String,
    /// Template display name.
    pub template_display_name: String,
    /// Template icon.
    pub template_icon: String,
    /// Workspace id, for builds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<Uuid>,
    /// Workspace name, for builds.
    pub workspace_name: String,
    /// `start`, `stop` or `delete`, for builds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_build_transition: Option<String>,
}

/// `POST .../jobs/{job}/update`: log lines to append; an empty list is a plain sign of life.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateJobRequest {
    /// Appended in order.
    pub logs: Vec<Log>,
}

/// One log line a daemon writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Log {
    /// Who wrote it.
    pub log_source: LogSource,
    /// How much it matters.
    pub log_level: LogLevel,
    /// The step of the job it belongs to (`plan`, `apply`, ...).
    pub stage: String,
    /// The text.
    pub output: String,
}

impl Log {
    /// A line from the provisioner at `level` in `stage`.
    pub fn provisioner(level: LogLevel, stage: &str, output: &str) -> Self {
        Self {
            log_source: LogSource::Provisioner,
            log_level: level,
            stage: stage.to_owned(),
            output: output.to_owned(),
        }
    }
}

/// Who wrote a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogSource {
    /// The daemon itself.
    ProvisionerDaemon,
    /// The provisioner it runs (Terraform, echo).
    Provisioner,
}

/// How much a log line matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Finest detail.
    Trace,
    /// Detail.
    Debug,
    /// Progress.
    Info,
    /// Something to look at.
    Warn,
    /// Something went wrong.
    Error,
}

/// The server's answer to `update`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateJobResponse {
    /// Cancellation was asked for: stop the work, then `complete` the job (it ends
    /// `canceled`).
    pub canceled: bool,
}

/// `POST .../jobs/{job}/fail`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailJobRequest {
    /// Why, for people.
    pub error: String,
    /// Why, for programs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<JobErrorCode>,
}

/// The body of every error answer: `{message, detail, validations}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Response {
    /// What went wrong, in one sentence.
    pub message: String,
    /// More about it, when there is more.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// The request fields at fault.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub validations: Vec<ValidationError>,
}

/// One request field at fault.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ValidationError {
    /// The field's JSON name.
    pub field: String,
    /// What is wrong with it.
    pub detail: String,
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        for validation in &self.validations {
            write!(f, "; {} {}", validation.field, validation.detail)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_status_this_crate_does_not_know_reads_as_unknown() {
        let status: Result<ProvisionerJobStatus, _> = serde_json::from_value(json!("paused"));
        assert_eq!(status.ok(), Some(ProvisionerJobStatus::Unknown));
        let status: Result<DaemonStatus, _> = serde_json::from_value(json!("asleep"));
        assert_eq!(status.ok(), Some(DaemonStatus::Unknown));
    }

    #[test]
    fn log_lines_and_failures_are_written_in_the_servers_words() {
        let line = Log::provisioner(LogLevel::Warn, "plan", "careful");
        let expected =
            json!({ "log_source": "provisioner", "log_level": "warn", "stage": "plan", "output": "careful" });
        assert_eq!(serde_json::to_value(line).ok(), Some(expected));
        let fail = FailJobRequest { error: "no".into(), error_code: Some(JobErrorCode::InsufficientQuota) };
        let expected = json!({ "error": "no", "error_code": "INSUFFICIENT_QUOTA" });
        assert_eq!(serde_json::to_value(fail).ok(), Some(expected));
        let plain = FailJobRequest { error: "no".into(), error_code: None };
        assert_eq!(serde_json::to_value(plain).ok(), Some(json!({ "error": "no" })));
    }

    #[test]
    fn an_error_body_reads_as_one_line() {
        let body =
            json!({ "message": "Validation failed.", "validations": [{ "field": "name", "detail": "is required" }] });
        let response: Result<Response, _> = serde_json::from_value(body);
        assert_eq!(response.map(|r| r.to_string()).ok().as_deref(), Some("Validation failed.; name is required"));
        let response =
            Response { message: "Bad key.".into(), detail: "must be 32 characters".into(), ..Default::default() };
        assert_eq!(response.to_string(), "Bad key.: must be 32 characters");
    }
}
