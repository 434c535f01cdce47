//! Handing a job back: a daemon that asked for work and went away before it heard of the job
//! it was given never ran it, so the job may wait for another daemon.

use chrono::{DateTime, Utc};

use super::status::JobState;

/// The job back in the queue if nothing happened to it since it was acquired (it was last
/// updated at the instant it started: no log line, no cancellation, no end); `None`
/// otherwise, and the job stays with its daemon.
pub fn release_untouched(state: &JobState, updated_at: DateTime<Utc>) -> Option<JobState> {
    if state.started_at != Some(updated_at) {
        return None;
    }
    state.release()
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::provisioner::JobStatus;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(seconds)
    }

    fn running_since(started: i64) -> JobState {
        JobState { started_at: Some(at(started)), ..Default::default() }
    }

    #[test]
    fn a_job_untouched_since_it_was_acquired_goes_back_to_pending() {
        let released = release_untouched(&running_since(10), at(10));
        assert_eq!(released.map(|state| state.status()), Some(JobStatus::Pending));
    }

    #[test]
    fn a_job_updated_after_it_was_acquired_stays_with_its_daemon() {
        assert_eq!(release_untouched(&running_since(10), at(11)), None);
    }

    #[test]
    fn a_job_canceled_at_the_instant_it_started_is_not_released() {
        let canceling = JobState { canceled_at: Some(at(10)), ..running_since(10) };
        assert_eq!(release_untouched(&canceling, at(10)), None);
    }

    #[test]
    fn a_pending_job_has_nothing_to_release() {
        assert_eq!(release_untouched(&JobState::default(), at(10)), None);
    }
}
