use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::job::ProvisionerType;
use super::status::JobStatus;
use super::tags::Tags;
use crate::closed_set::closed_set;
use crate::validation::{FieldError, TextRule, WORD};

/// When a daemon counts as online: seen within `stale_after` (90 s by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    /// How long after it was last seen a daemon still counts as online.
    pub stale_after: Duration,
}

impl Default for Liveness {
    fn default() -> Self {
        Self { stale_after: Duration::seconds(90) }
    }
}

impl Liveness {
    /// Whether a daemon last seen at `last_seen_at` is online at `now`.
    pub fn is_online(&self, last_seen_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now - last_seen_at < self.stale_after
    }

    /// A daemon is online when it was last seen strictly after this instant.
    pub fn seen_after(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.stale_after
    }

    /// How old a daemon's last sighting may grow before a step it takes (acquiring, ending a
    /// job, sending logs) writes it again: a second, or a tenth of the window when that is
    /// shorter, so a daemon at work never looks offline; yet one stepping through many jobs a
    /// second does not rewrite its row (and the index of sightings) at every step. A
    /// heartbeat always writes it.
    pub fn sighting_kept_for(&self) -> Duration {
        Duration::seconds(1).min(self.stale_after / 10)
    }

    /// A step writes a daemon's sighting again when the stored one is older than this.
    pub fn sighting_due_before(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.sighting_kept_for()
    }

    /// Offline when not seen lately; otherwise busy with a job or idle.
    pub fn status(&self, last_seen_at: DateTime<Utc>, has_current_job: bool, now: DateTime<Utc>) -> DaemonStatus {
        if !self.is_online(last_seen_at, now) {
            DaemonStatus::Offline
        } else if has_current_job {
            DaemonStatus::Busy
        } else {
            DaemonStatus::Idle
        }
    }
}

closed_set! {
    /// Whether a daemon can take work, as its liveness and its current job say.
    pub enum DaemonStatus {
        /// Not seen within the liveness window.
        Offline => "offline",
        /// Online, holding no job.
        Idle => "idle",
        /// Online, holding a job.
        Busy => "busy",
    }
}

/// A job as shown beside the daemon that runs or ran it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonJob {
    /// The job's id.
    pub id: Uuid,
    /// Its status now.
    pub status: JobStatus,
    /// Name of the template it works on, if any.
    pub template_name: String,
    /// Icon of that template.
    pub template_icon: String,
    /// Display name of that template.
    pub template_display_name: String,
}

/// A registered daemon, with its key's name and the jobs it holds and held last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionerDaemon {
    /// Its id, kept when it registers again under the same name.
    pub id: Uuid,
    /// The organization of its key.
    pub organization_id: Uuid,
    /// The key it signed in with.
    pub key_id: Uuid,
    /// That key's name.
    pub key_name: String,
    /// Its name, unique in the organization.
    pub name: String,
    /// The version it reported.
    pub version: String,
    /// The protocol version the server spoke when it registered.
    pub api_version: String,
    /// Provisioner types it runs.
    pub provisioners: Vec<ProvisionerType>,
    /// Its key's tags: which jobs it may run.
    pub tags: Tags,
    /// When it first registered.
    pub created_at: DateTime<Utc>,
    /// When it last registered, sent a heartbeat or touched a job.
    pub last_seen_at: DateTime<Utc>,
    /// The job it holds now.
    pub current_job: Option<DaemonJob>,
    /// The job it held last.
    pub previous_job: Option<DaemonJob>,
}

/// A daemon's name: what an operator reads in lists, so one word of 1-64 characters, without
/// white space or control characters. Unique per organization regardless of case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonName(String);

static NAME_RULE: TextRule = TextRule { min_chars: 1, max_chars: Some(64), pattern: Some(&WORD), excluded: None };

impl DaemonName {
    /// One word of 1-64 characters without white space or control characters.
    pub fn rule() -> &'static TextRule {
        &NAME_RULE
    }

    /// A name that follows [`Self::rule`]; the error names the `name` field.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        NAME_RULE.check_field("name", "daemon_name", raw)?;
        Ok(Self(raw.to_owned()))
    }

    /// The name, as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A daemon announcing itself with a key: registered under `name` in the key's organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDaemon {
    /// The organization of its key.
    pub organization_id: Uuid,
    /// The key it signs in with.
    pub key_id: Uuid,
    /// Its name, unique in the organization.
    pub name: String,
    /// The version it reports.
    pub version: String,
    /// Provisioner types it runs.
    pub provisioners: Vec<ProvisionerType>,
    /// Its key's tags.
    pub tags: Tags,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sighting_is_written_again_once_a_second_or_a_tenth_of_the_window_old() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        assert_eq!(Liveness::default().sighting_due_before(now), now - Duration::seconds(1));
        let short = Liveness { stale_after: Duration::milliseconds(1500) };
        assert_eq!(short.sighting_due_before(now), now - Duration::milliseconds(150));
    }

    #[test]
    fn a_daemon_is_online_for_ninety_seconds_after_it_was_seen() {
        let liveness = Liveness::default();
        let seen = DateTime::<Utc>::UNIX_EPOCH;
        assert_eq!(liveness.status(seen, false, seen + Duration::seconds(89)), DaemonStatus::Idle);
        assert_eq!(liveness.status(seen, true, seen + Duration::seconds(89)), DaemonStatus::Busy);
        assert_eq!(liveness.status(seen, true, seen + Duration::seconds(90)), DaemonStatus::Offline);
        assert!(liveness.is_online(liveness.seen_after(seen) + Duration::microseconds(1), seen));
    }

    #[test]
    fn a_daemon_name_is_one_word_of_at_most_sixty_four_characters() {
        for ok in ["worker-1", "gpu_runner.eu", &"d".repeat(64), "名前"] {
            assert!(DaemonName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["has space", "tab\there", "nul\0", &"d".repeat(65), "\u{3000}x"] {
            let err = DaemonName::parse(bad);
            assert!(matches!(err, Err(FieldError { field: "name", tag: "daemon_name", .. })), "{bad:?}");
        }
        assert!(matches!(DaemonName::parse(""), Err(FieldError { tag: "required", .. })));
    }
}
