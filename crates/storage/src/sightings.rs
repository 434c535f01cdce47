//! This server's memory of the daemons' sightings it has written (or read back while marking
//! them), so that a step whose daemon's sighting is not due leaves the daemon's row alone
//! instead of rewriting it unchanged: one statement fewer for ending a job or sending logs.
//!
//! A stored sighting only moves forward: every step writes its clock over an older one only,
//! and a registration or heartbeat writes the present (servers' clocks apart, which shifts
//! this by their skew). So the sighting this server last saw committed is a lower bound of the
//! one stored now, whichever server wrote it since: while it is not due
//! ([`Liveness::sighting_due_before`]), the stored one is not due either. A daemon's name never
//! changes (registering the name again keeps the daemon), so it is kept beside it for the
//! answers. So is what the daemon chooses jobs by ([`ChoosesBy`]), which registering again may
//! change: whoever uses it checks it against the daemon's row.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use domain::provisioner::Liveness;

use crate::sql_types::Id;

/// Below this many daemons nothing is pruned: a few hundred entries cost nothing.
const PRUNE_ABOVE: usize = 256;

/// Sightings seen committed, by daemon.
#[derive(Default)]
pub(crate) struct Sightings(Mutex<Kept>);

#[derive(Default)]
struct Kept {
    by_daemon: HashMap<Id, Sighting>,
    /// How many were kept after the last pruning: the next waits until there are twice as
    /// many, so pruning costs a constant share of the recording.
    after_pruning: usize,
}

struct Sighting {
    name: String,
    chooses_by: ChoosesBy,
    at: DateTime<Utc>,
}

/// What a daemon chooses jobs by: its organization and its tag set, as its row last said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChoosesBy {
    pub(crate) organization: Id,
    pub(crate) tag_set: Id,
}

impl Sightings {
    /// The name of `daemon` if this server saw its sighting committed and it is not due at
    /// `now`; `None` if it must be marked.
    pub(crate) fn fresh(&self, daemon: Id, liveness: &Liveness, now: DateTime<Utc>) -> Option<String> {
        let kept = self.lock();
        let sighting = kept.by_daemon.get(&daemon)?;
        (sighting.at >= liveness.sighting_due_before(now)).then(|| sighting.name.clone())
    }

    /// What `daemon` chose jobs by when this server last marked it, whether or not its
    /// sighting is due.
    pub(crate) fn chooses_by(&self, daemon: Id) -> Option<ChoosesBy> {
        self.lock().by_daemon.get(&daemon).map(|sighting| sighting.chooses_by)
    }

    /// Sightings just committed: each daemon, its name, what it chooses jobs by and its
    /// sighting as now stored.
    pub(crate) fn committed<'a>(
        &self,
        seen: impl IntoIterator<Item = (Id, &'a str, ChoosesBy, DateTime<Utc>)>,
        liveness: &Liveness,
        now: DateTime<Utc>,
    ) {
        let mut kept = self.lock();
        for (daemon, name, chooses_by, at) in seen {
            match kept.by_daemon.get_mut(&daemon) {
                // Another write of this server may have committed a later one first.
                Some(sighting) => {
                    sighting.at = sighting.at.max(at);
                    sighting.chooses_by = chooses_by;
                }
                None => {
                    kept.by_daemon.insert(daemon, Sighting { name: name.to_owned(), chooses_by, at });
                }
            }
        }
        if kept.by_daemon.len() > PRUNE_ABOVE.max(2 * kept.after_pruning) {
            // One that is due is marked again anyway: keeping it saves nothing.
            let due_before = liveness.sighting_due_before(now);
            kept.by_daemon.retain(|_, sighting| sighting.at >= due_before);
            kept.after_pruning = kept.by_daemon.len();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, Utc};
    use domain::provisioner::Liveness;
    use uuid::Uuid;

    use super::{ChoosesBy, PRUNE_ABOVE, Sightings};
    use crate::sql_types::Id;

    fn anywhere() -> ChoosesBy {
        ChoosesBy { organization: Id(Uuid::nil()), tag_set: Id(Uuid::nil()) }
    }

    fn at(millis: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::milliseconds(millis)
    }

    #[test]
    fn a_sighting_is_fresh_until_it_is_due_and_unknown_daemons_are_never_fresh() {
        let (sightings, liveness) = (Sightings::default(), Liveness::default());
        let (worker, stranger) = (Id(Uuid::now_v7()), Id(Uuid::now_v7()));
        sightings.committed([(worker, "worker", anywhere(), at(10_000))], &liveness, at(10_000));
        assert_eq!(sightings.fresh(worker, &liveness, at(10_999)).as_deref(), Some("worker"));
        assert_eq!(sightings.fresh(worker, &liveness, at(11_000)).as_deref(), Some("worker"));
        assert_eq!(sightings.fresh(worker, &liveness, at(11_001)), None, "past the second it is due");
        assert_eq!(sightings.fresh(stranger, &liveness, at(10_000)), None);
    }

    #[test]
    fn an_older_sighting_committed_later_does_not_move_one_back() {
        let (sightings, liveness) = (Sightings::default(), Liveness::default());
        let worker = Id(Uuid::now_v7());
        sightings.committed([(worker, "worker", anywhere(), at(20_000))], &liveness, at(20_000));
        sightings.committed([(worker, "worker", anywhere(), at(19_500))], &liveness, at(20_000));
        assert!(sightings.fresh(worker, &liveness, at(20_900)).is_some());
    }

    #[test]
    fn many_daemons_are_pruned_of_those_due_and_the_fresh_stay() {
        let (sightings, liveness) = (Sightings::default(), Liveness::default());
        let old: Vec<Id> = (0..PRUNE_ABOVE).map(|_| Id(Uuid::now_v7())).collect();
        sightings.committed(old.iter().map(|d| (*d, "old", anywhere(), at(0))), &liveness, at(0));
        let fresh = Id(Uuid::now_v7());
        sightings.committed([(fresh, "fresh", anywhere(), at(60_000))], &liveness, at(60_000));
        assert_eq!(sightings.lock().by_daemon.len(), 1, "only the fresh one is left");
        assert!(sightings.fresh(fresh, &liveness, at(60_500)).is_some());
    }
}
