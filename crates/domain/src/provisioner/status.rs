use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::closed_set::closed_set;

closed_set! {
    /// A job's status, derived from its timestamps and error (never stored on its own terms).
    #[derive(PartialOrd, Ord)]
    pub enum JobStatus {
        /// Waiting for a daemon.
        Pending => "pending",
        /// Held by a daemon.
        Running => "running",
        /// Completed without error or cancellation.
        Succeeded => "succeeded",
        /// Cancellation asked for while running; its daemon has not finished yet.
        Canceling => "canceling",
        /// Ended by cancellation.
        Canceled => "canceled",
        /// Ended with an error.
        Failed => "failed",
        /// Exists in Coder's enum only; no job is ever in it.
        Unknown => "unknown",
    }
}

impl JobStatus {
    /// Pending, running or canceling: the job still needs a daemon or holds one.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Pending | Self::Running | Self::Canceling)
    }
}

/// The part of a job that moves: when it started, ended, was canceled, and why it failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobState {
    /// When a daemon took it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended, however it ended.
    pub completed_at: Option<DateTime<Utc>>,
    /// When cancellation was asked for.
    pub canceled_at: Option<DateTime<Utc>>,
    /// `None` or empty: no error.
    pub error: Option<String>,
    /// A machine-readable reason for the error (`REQUIRED_TEMPLATE_VARIABLES`, ...).
    pub error_code: Option<String>,
}

/// Why a job cannot be canceled; the texts are Coder's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CancelRefusal {
    /// Cancellation was asked for already.
    #[error("Job has already been marked as canceled!")]
    AlreadyCanceled,
    /// It has ended.
    #[error("Job has already completed!")]
    AlreadyCompleted,
}

/// A daemon tried to finish, fail or update a job that is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FinishRefusal {
    /// It has ended.
    #[error("job already completed")]
    AlreadyCompleted,
    /// No daemon took it yet.
    #[error("job has not been started")]
    NotStarted,
}

/// Only the daemon that holds a job may touch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("you don't own this job")]
pub struct NotYourJob;

/// Refuses a daemon other than the job's worker.
pub fn check_worker(worker_id: Option<Uuid>, daemon_id: Uuid) -> Result<(), NotYourJob> {
    if worker_id == Some(daemon_id) { Ok(()) } else { Err(NotYourJob) }
}

impl JobState {
    fn has_error(&self) -> bool {
        self.error.as_deref().is_some_and(|e| !e.is_empty())
    }

    /// Coder's rule, in this order: completed → failed / canceled / succeeded; otherwise →
    /// failed / canceling / pending / running.
    pub fn status(&self) -> JobStatus {
        if self.completed_at.is_some() {
            return if self.has_error() {
                JobStatus::Failed
            } else if self.canceled_at.is_some() {
                JobStatus::Canceled
            } else {
                JobStatus::Succeeded
            };
        }
        if self.has_error() {
            JobStatus::Failed
        } else if self.canceled_at.is_some() {
            JobStatus::Canceling
        } else if self.started_at.is_none() {
            JobStatus::Pending
        } else {
            JobStatus::Running
        }
    }

    /// A daemon takes the job. `None` when it is no longer pending.
    pub fn start(&self, now: DateTime<Utc>) -> Option<Self> {
        (self.status() == JobStatus::Pending).then(|| Self { started_at: Some(now), ..self.clone() })
    }

    /// A job handed to a daemon that was gone before it heard of it goes back to the queue,
    /// as long as nothing happened to it since. `None` otherwise.
    pub fn release(&self) -> Option<Self> {
        (self.status() == JobStatus::Running).then(|| Self { started_at: None, ..self.clone() })
    }

    /// A pending job ends at once as canceled; a running one is canceling until its daemon
    /// reports back.
    pub fn cancel(&self, now: DateTime<Utc>) -> Result<Self, CancelRefusal> {
        if self.canceled_at.is_some() {
            return Err(CancelRefusal::AlreadyCanceled);
        }
        if self.completed_at.is_some() || self.has_error() {
            return Err(CancelRefusal::AlreadyCompleted);
        }
        let completed_at = if self.started_at.is_none() { Some(now) } else { None };
        Ok(Self { canceled_at: Some(now), completed_at, ..self.clone() })
    }

    fn check_finishable(&self) -> Result<(), FinishRefusal> {
        if self.completed_at.is_some() {
            return Err(FinishRefusal::AlreadyCompleted);
        }
        if self.started_at.is_none() {
            return Err(FinishRefusal::NotStarted);
        }
        Ok(())
    }

    /// The daemon finished: succeeded, or canceled if cancellation was asked for meanwhile.
    pub fn complete(&self, now: DateTime<Utc>) -> Result<Self, FinishRefusal> {
        self.check_finishable()?;
        Ok(Self { completed_at: Some(now), ..self.clone() })
    }

    /// The daemon gave up with an error.
    pub fn fail(&self, now: DateTime<Utc>, error: String, error_code: Option<String>) -> Result<Self, FinishRefusal> {
        self.check_finishable()?;
        let error = if error.is_empty() { "unknown error".to_owned() } else { error };
        Ok(Self { completed_at: Some(now), error: Some(error), error_code, ..self.clone() })
    }

    /// Whether a daemon may still report on the job (logs, heartbeats).
    pub fn check_updatable(&self) -> Result<(), FinishRefusal> {
        self.check_finishable()
    }

    /// Ends the job with an error, whatever state it is in (the reaper's verdict). A job
    /// that never started gets a start time too, so its duration reads as zero.
    pub fn terminate(&self, now: DateTime<Utc>, error: String) -> Self {
        Self {
            started_at: self.started_at.or(Some(now)),
            completed_at: Some(now),
            error: Some(error),
            error_code: None,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn at(seconds: i64) -> Option<DateTime<Utc>> {
        Some(DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(seconds))
    }

    fn state(started: bool, completed: bool, canceled: bool, error: Option<&str>) -> JobState {
        JobState {
            started_at: if started { at(1) } else { None },
            completed_at: if completed { at(2) } else { None },
            canceled_at: if canceled { at(3) } else { None },
            error: error.map(str::to_owned),
            error_code: None,
        }
    }

    #[test]
    fn status_follows_coders_rule_for_every_combination() {
        use JobStatus::*;
        // (started, completed, canceled, error, status)
        let table = [
            (false, false, false, None, Pending),
            (true, false, false, None, Running),
            (true, false, true, None, Canceling),
            (false, false, true, None, Canceling),
            (true, true, false, None, Succeeded),
            (true, true, true, None, Canceled),
            (false, true, true, None, Canceled),
            (true, true, false, Some("boom"), Failed),
            (true, true, true, Some("boom"), Failed),
            (true, false, false, Some("boom"), Failed),
            (false, false, false, Some(""), Pending),
            (true, true, false, Some(""), Succeeded),
        ];
        for (started, completed, canceled, error, expected) in table {
            let s = state(started, completed, canceled, error);
            assert_eq!(s.status(), expected, "{s:?}");
        }
    }

    #[test]
    fn canceling_a_pending_job_ends_it_at_once() {
        let now = at(10).unwrap_or_default();
        let canceled = JobState::default().cancel(now);
        assert_eq!(canceled.as_ref().map(JobState::status), Ok(JobStatus::Canceled));
        assert_eq!(canceled.map(|s| s.completed_at), Ok(Some(now)));
    }

    #[test]
    fn canceling_a_running_job_waits_for_its_daemon() {
        let now = at(10).unwrap_or_default();
        let canceling = state(true, false, false, None).cancel(now);
        assert_eq!(canceling.as_ref().map(JobState::status), Ok(JobStatus::Canceling));
        let done = canceling.and_then(|s| s.complete(now).map_err(|_| CancelRefusal::AlreadyCompleted));
        assert_eq!(done.map(|s| s.status()), Ok(JobStatus::Canceled));
    }

    #[test]
    fn canceling_twice_says_already_canceled_before_already_completed() {
        let now = at(10).unwrap_or_default();
        assert_eq!(state(true, true, true, None).cancel(now), Err(CancelRefusal::AlreadyCanceled));
        assert_eq!(state(true, true, false, None).cancel(now), Err(CancelRefusal::AlreadyCompleted));
        assert_eq!(state(true, true, false, Some("x")).cancel(now), Err(CancelRefusal::AlreadyCompleted));
    }

    #[test]
    fn only_a_pending_job_can_start() {
        let now = at(10).unwrap_or_default();
        assert_eq!(JobState::default().start(now).map(|s| s.status()), Some(JobStatus::Running));
        assert_eq!(state(true, false, false, None).start(now), None);
        assert_eq!(state(false, true, true, None).start(now), None);
    }

    #[test]
    fn only_a_running_job_can_be_released_back_to_pending() {
        let now = at(10).unwrap_or_default();
        let running = JobState::default().start(now);
        assert_eq!(running.and_then(|s| s.release()).map(|s| s.status()), Some(JobStatus::Pending));
        assert_eq!(state(true, false, true, None).release(), None);
        assert_eq!(state(true, true, false, None).release(), None);
    }

    #[test]
    fn a_finished_job_cannot_finish_again() {
        let now = at(10).unwrap_or_default();
        let done = state(true, true, false, None);
        assert_eq!(done.complete(now), Err(FinishRefusal::AlreadyCompleted));
        assert_eq!(done.fail(now, "x".into(), None), Err(FinishRefusal::AlreadyCompleted));
        assert_eq!(JobState::default().complete(now), Err(FinishRefusal::NotStarted));
        assert_eq!(FinishRefusal::AlreadyCompleted.to_string(), "job already completed");
    }

    #[test]
    fn failing_records_the_error() {
        let now = at(10).unwrap_or_default();
        let failed = state(true, false, false, None).fail(now, "boom".into(), Some("INSUFFICIENT_QUOTA".into()));
        assert_eq!(failed.as_ref().map(JobState::status), Ok(JobStatus::Failed));
        assert_eq!(failed.map(|s| s.error_code), Ok(Some("INSUFFICIENT_QUOTA".into())));
    }

    #[test]
    fn only_the_holder_may_touch_a_job() {
        let daemon = Uuid::from_u128(1);
        assert_eq!(check_worker(Some(daemon), daemon), Ok(()));
        assert_eq!(check_worker(Some(Uuid::from_u128(2)), daemon), Err(NotYourJob));
        assert_eq!(check_worker(None, daemon), Err(NotYourJob));
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in JobStatus::ALL {
            assert_eq!(JobStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(JobStatus::parse("done"), None);
    }
}
