//! Provisioner jobs, the daemons that run them and the keys daemons sign in with.

mod daemon;
mod job;
mod key;
mod logs;
mod pending;
pub mod protocol;
mod queue;
mod reaper;
mod release;
mod status;
mod tags;

pub use daemon::{DaemonJob, DaemonName, DaemonStatus, Liveness, NewDaemon, ProvisionerDaemon};
pub use job::{
    JobErrorCode, JobInput, JobMetadata, JobType, NewJob, ProvisionerJob, ProvisionerType, WorkspaceTransition,
};
pub use key::{NewProvisionerKey, ProvisionerKey, ProvisionerKeyName, ProvisionerKeyNameError};
pub use logs::{LogBudget, LogLevel, LogLine, LogSource, NewLogLine};
pub use pending::{PendingLines, QueueNumbers};
pub use queue::{Queue, QueueInfo, QueuedJob, Worker};
pub use reaper::{ReapVerdict, Reaper};
pub use release::release_untouched;
pub use status::{CancelRefusal, FinishRefusal, JobState, JobStatus, NotYourJob, check_worker};
pub use tags::{TagError, TagFilter, Tags};
