use chrono::{DateTime, Duration, Utc};

use super::status::{JobState, JobStatus};

/// When a job is given up on: pending and untouched for `pending_after` (30 min), or
/// started and without an update for `hung_after` (5 min).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reaper {
    /// How long a job may wait untouched before it fails as pending.
    pub pending_after: Duration,
    /// How long a started job may go without an update before it fails as hung.
    pub hung_after: Duration,
}

impl Default for Reaper {
    fn default() -> Self {
        Self { pending_after: Duration::minutes(30), hung_after: Duration::minutes(5) }
    }
}

/// Why a job was terminated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReapVerdict {
    /// It waited untouched for longer than the period held.
    Pending(Duration),
    /// It ran without an update for longer than the period held.
    Hung(Duration),
}

impl ReapVerdict {
    fn describe(&self) -> (&'static str, f64) {
        let (state, period) = match self {
            Self::Pending(period) => ("pending", period),
            Self::Hung(period) => ("hung", period),
        };
        (state, (period.num_seconds() as f64 / 60.0).round())
    }

    /// Coder's text, with the period in whole minutes.
    pub fn error_message(&self) -> String {
        let (state, minutes) = self.describe();
        format!(
            "Coder: Build has been detected as {state} for {minutes:.0} minutes and has been terminated by the reaper."
        )
    }

    /// The lines Coder appends to the job's log when it reaps it.
    pub fn log_notice(&self) -> Vec<String> {
        let (state, minutes) = self.describe();
        let rule = "====================".to_owned();
        vec![
            String::new(),
            rule.clone(),
            format!("Coder: Build has been detected as {state} for {minutes:.0} minutes and will be terminated."),
            rule,
            String::new(),
        ]
    }
}

impl Reaper {
    /// Pending jobs last touched before this instant are reaped.
    pub fn pending_cutoff(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.pending_after
    }

    /// Started jobs last updated before this instant are reaped.
    pub fn hung_cutoff(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.hung_after
    }

    /// The verdict on one job, from its state and its last update.
    pub fn verdict(&self, state: &JobState, updated_at: DateTime<Utc>, now: DateTime<Utc>) -> Option<ReapVerdict> {
        match state.status() {
            JobStatus::Pending if updated_at < self.pending_cutoff(now) => {
                Some(ReapVerdict::Pending(self.pending_after))
            }
            JobStatus::Running | JobStatus::Canceling if updated_at < self.hung_cutoff(now) => {
                Some(ReapVerdict::Hung(self.hung_after))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(minutes: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(minutes)
    }

    #[test]
    fn pending_jobs_are_reaped_after_thirty_minutes_untouched() {
        let reaper = Reaper::default();
        let pending = JobState::default();
        assert_eq!(reaper.verdict(&pending, t(0), t(30)), None);
        assert_eq!(reaper.verdict(&pending, t(0), t(31)), Some(ReapVerdict::Pending(Duration::minutes(30))));
    }

    #[test]
    fn running_and_canceling_jobs_are_reaped_after_five_minutes_without_update() {
        let reaper = Reaper::default();
        let running = JobState { started_at: Some(t(0)), ..Default::default() };
        let canceling = JobState { canceled_at: Some(t(1)), ..running.clone() };
        assert_eq!(reaper.verdict(&running, t(0), t(5)), None);
        assert_eq!(reaper.verdict(&running, t(0), t(6)), Some(ReapVerdict::Hung(Duration::minutes(5))));
        assert_eq!(reaper.verdict(&canceling, t(0), t(6)), Some(ReapVerdict::Hung(Duration::minutes(5))));
    }

    #[test]
    fn finished_jobs_are_never_reaped() {
        let done = JobState { started_at: Some(t(0)), completed_at: Some(t(1)), ..Default::default() };
        assert_eq!(Reaper::default().verdict(&done, t(0), t(600)), None);
    }

    #[test]
    fn the_message_is_coders() {
        assert_eq!(
            ReapVerdict::Hung(Duration::minutes(5)).error_message(),
            "Coder: Build has been detected as hung for 5 minutes and has been terminated by the reaper."
        );
        assert_eq!(
            ReapVerdict::Pending(Duration::minutes(30)).error_message(),
            "Coder: Build has been detected as pending for 30 minutes and has been terminated by the reaper."
        );
    }
}
