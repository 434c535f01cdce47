use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::job::ProvisionerType;
use super::status::JobStatus;
use super::tags::Tags;
use crate::closed_set::closed_set;

/// When a daemon counts as online: seen within `stale_after` (90 s by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    pub stale_after: Duration,
}

impl Default for Liveness {
    fn default() -> Self {
        Self { stale_after: Duration::seconds(90) }
    }
}

impl Liveness {
    pub fn is_online(&self, last_seen_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now - last_seen_at < self.stale_after
    }

    /// A daemon is online when it was last seen strictly after this instant.
    pub fn seen_after(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.stale_after
    }

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
    pub enum DaemonStatus {
        Offline => "offline",
        Idle => "idle",
        Busy => "busy",
    }
}

/// A job as shown beside the daemon that runs or ran it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonJob {
    pub id: Uuid,
    pub status: JobStatus,
    pub template_name: String,
    pub template_icon: String,
    pub template_display_name: String,
}

/// A registered daemon, with its key's name and the jobs it holds and held last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionerDaemon {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub key_id: Uuid,
    pub key_name: String,
    pub name: String,
    pub version: String,
    pub api_version: String,
    pub provisioners: Vec<ProvisionerType>,
    pub tags: Tags,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub current_job: Option<DaemonJob>,
    pub previous_job: Option<DaemonJob>,
}

/// A daemon announcing itself with a key: registered under `name` in the key's organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDaemon {
    pub organization_id: Uuid,
    pub key_id: Uuid,
    pub name: String,
    pub version: String,
    pub provisioners: Vec<ProvisionerType>,
    pub tags: Tags,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daemon_is_online_for_ninety_seconds_after_it_was_seen() {
        let liveness = Liveness::default();
        let seen = DateTime::<Utc>::UNIX_EPOCH;
        assert_eq!(liveness.status(seen, false, seen + Duration::seconds(89)), DaemonStatus::Idle);
        assert_eq!(liveness.status(seen, true, seen + Duration::seconds(89)), DaemonStatus::Busy);
        assert_eq!(liveness.status(seen, true, seen + Duration::seconds(90)), DaemonStatus::Offline);
        assert!(liveness.is_online(liveness.seen_after(seen) + Duration::microseconds(1), seen));
    }
}
