//! Queue numbers kept current one change at a time, so that reading them costs the same at
//! ten pending jobs as at a hundred thousand.
//!
//! Pending jobs fall into few *kinds* (a provisioner and a tag set), and a daemon either runs
//! every job of a kind or none. A job's place in one daemon's queue is therefore the sum, over
//! the kinds that daemon runs, of how many jobs of that kind are at or before it in line: a
//! binary search per kind instead of a pass over the queue. [`Queue`](super::Queue) computes
//! the same numbers from scratch; the property test below holds the two equal.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::job::ProvisionerType;
use super::queue::{QueueInfo, QueuedJob, Worker};
use super::tags::Tags;

/// A place in line: older first, ties broken by id (the order daemons take jobs in).
type Place = (DateTime<Utc>, Uuid);

/// The pending jobs of one organization, in one line per kind. `K` names a kind (the caller's
/// key for a provisioner and a tag set); it must identify the pair exactly.
#[derive(Debug, Clone)]
pub struct PendingLines<K> {
    lines: BTreeMap<K, VecDeque<Place>>,
}

impl<K> Default for PendingLines<K> {
    fn default() -> Self {
        Self { lines: BTreeMap::new() }
    }
}

impl<K: Ord + Clone> PendingLines<K> {
    /// A job became pending. Entering twice changes nothing.
    ///
    /// New jobs are the newest, so the place is almost always the end of the line.
    pub fn enter(&mut self, kind: &K, created_at: DateTime<Utc>, id: Uuid) {
        let place = (created_at, id);
        let line = self.lines.entry(kind.clone()).or_default();
        let at = line.partition_point(|p| *p < place);
        if line.get(at) != Some(&place) {
            line.insert(at, place);
        }
    }

    /// A job stopped being pending. Leaving twice, or without having entered, changes nothing.
    ///
    /// Daemons take the oldest job they can run, which is the head of its line.
    pub fn leave(&mut self, kind: &K, created_at: DateTime<Utc>, id: Uuid) {
        let place = (created_at, id);
        let Some(line) = self.lines.get_mut(kind) else {
            return;
        };
        let at = line.partition_point(|p| *p < place);
        if line.get(at) == Some(&place) {
            line.remove(at);
        }
        if line.is_empty() {
            self.lines.remove(kind);
        }
    }

    /// How many jobs are pending.
    pub fn len(&self) -> usize {
        self.lines.values().map(VecDeque::len).sum()
    }

    /// Whether no job is pending.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The kinds that have pending jobs.
    pub fn kinds(&self) -> impl Iterator<Item = &K> {
        self.lines.keys()
    }

    /// The numbers against these online daemons. `describe` gives each kind's provisioner and
    /// tags; it is asked once per kind, not per job.
    pub fn numbers<'a>(
        &'a self,
        workers: Vec<Worker<'a>>,
        describe: impl Fn(&'a K) -> (&'a ProvisionerType, &'a Tags),
    ) -> QueueNumbers<'a, K> {
        let lines: Vec<Line<'a, K>> = self
            .lines
            .iter()
            .map(|(kind, places)| {
                let (provisioner, tags) = describe(kind);
                Line { kind, provisioner, tags, places }
            })
            .collect();
        let mut workers: Vec<Reach<'a>> = workers
            .into_iter()
            .map(|worker| {
                let runs: Vec<usize> = lines
                    .iter()
                    .enumerate()
                    .filter(|(_, line)| worker.can_run(line.provisioner, line.tags))
                    .map(|(index, _)| index)
                    .collect();
                let waiting = runs.iter().map(|&index| lines[index].places.len()).sum();
                Reach { worker, runs, waiting }
            })
            .collect();
        workers.sort_by_key(|reach| (reach.worker.created_at, reach.worker.id));
        QueueNumbers { lines, workers }
    }
}

struct Line<'a, K> {
    kind: &'a K,
    provisioner: &'a ProvisionerType,
    tags: &'a Tags,
    places: &'a VecDeque<Place>,
}

/// A daemon and the lines it takes jobs from.
struct Reach<'a> {
    worker: Worker<'a>,
    /// Indexes into the lines.
    runs: Vec<usize>,
    /// Jobs in those lines: the length of this daemon's queue.
    waiting: usize,
}

/// [`PendingLines`] against a set of online daemons: answers for any number of jobs.
pub struct QueueNumbers<'a, K> {
    lines: Vec<Line<'a, K>>,
    workers: Vec<Reach<'a>>,
}

impl<K: Ord> QueueNumbers<'_, K> {
    /// The numbers of a pending job of kind `kind`, the same [`Queue`](super::Queue) gives.
    ///
    /// A job the lines do not hold yet (its change has not arrived) is counted as if it had
    /// entered: it is pending, so it is in line.
    pub fn info(&self, job: &QueuedJob<'_>, kind: &K) -> QueueInfo {
        let place = (job.created_at, job.id);
        let own = self.lines.iter().position(|line| line.kind == kind);
        let held = own.is_some_and(|index| self.lines[index].places.binary_search(&place).is_ok());
        let missing = usize::from(!held);
        // At or before the job, per line; each line is searched at most once.
        let mut ahead: Vec<Option<usize>> = vec![None; self.lines.len()];
        let mut count = |index: usize| -> usize {
            *ahead[index].get_or_insert_with(|| self.lines[index].places.partition_point(|p| *p <= place))
        };
        let mut info = QueueInfo::default();
        for reach in &self.workers {
            if !reach.worker.can_run(job.provisioner, job.tags) {
                continue;
            }
            let position = reach.runs.iter().map(|&index| count(index)).sum::<usize>() + missing;
            let position = u32::try_from(position).unwrap_or(u32::MAX);
            let size = u32::try_from(reach.waiting + missing).unwrap_or(u32::MAX);
            if info.position == 0 || position < info.position {
                info.position = position;
            }
            info.size = info.size.max(size);
            info.available_workers.push(reach.worker.id);
        }
        info
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use chrono::Duration;
    use proptest::prelude::*;

    use super::super::queue::Queue;
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        let raw: BTreeMap<String, String> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Tags::normalise_for_organization(raw).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The kinds the tests use: two provisioners times four tag sets.
    fn kinds() -> Vec<(ProvisionerType, Tags)> {
        let sets = [vec![], vec![("a", "1")], vec![("a", "1"), ("b", "2")], vec![("c", "3")]];
        ["terraform", "echo"]
            .iter()
            .flat_map(|p| sets.iter().map(move |s| (ProvisionerType::from_stored((*p).into()), tags(s))))
            .collect()
    }

    fn at(second: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(second)
    }

    /// A change to the pending set: `(enter?, kind, second, id)`.
    type Change = (bool, usize, i64, u128);

    fn change() -> impl Strategy<Value = Change> {
        // Few seconds and ids, so ties and repeated changes to one job are common.
        (any::<bool>(), 0..8usize, 0..6i64, 0..12u128)
    }

    /// `(provisioner offers, tag set)` of a daemon, by index into the kinds.
    fn worker_spec() -> impl Strategy<Value = (Vec<usize>, usize, i64)> {
        (proptest::sample::subsequence(vec![0usize, 1], 0..=2), 0..4usize, 0..4i64)
    }

    proptest! {
        /// After any sequence of changes, every pending job has the numbers the straightforward
        /// count gives.
        #[test]
        fn lines_agree_with_the_straightforward_queue(
            changes in proptest::collection::vec(change(), 0..60),
            specs in proptest::collection::vec(worker_spec(), 0..5),
        ) {
            let kinds = kinds();
            let mut lines = PendingLines::<usize>::default();
            // The model: a job (its id) is pending with one kind and time, or not at all.
            let mut pending: BTreeMap<u128, (usize, i64)> = BTreeMap::new();
            for (enter, kind, second, id) in changes {
                match (enter, pending.get(&id).copied()) {
                    (true, None) => {
                        lines.enter(&kind, at(second), Uuid::from_u128(id));
                        pending.insert(id, (kind, second));
                    }
                    (true, Some((kind, second))) => lines.enter(&kind, at(second), Uuid::from_u128(id)),
                    (false, Some((kind, second))) => {
                        lines.leave(&kind, at(second), Uuid::from_u128(id));
                        pending.remove(&id);
                    }
                    (false, None) => lines.leave(&kind, at(second), Uuid::from_u128(id)),
                }
            }
            prop_assert_eq!(lines.len(), pending.len());
            let provisioners: Vec<Vec<ProvisionerType>> = specs
                .iter()
                .map(|(offers, _, _)| offers.iter().map(|&p| kinds[p * 4].0.clone()).collect())
                .collect();
            let workers: Vec<Worker<'_>> = specs
                .iter()
                .zip(&provisioners)
                .enumerate()
                .map(|(n, ((_, set, second), offered))| Worker {
                    id: Uuid::from_u128(1000 + n as u128),
                    created_at: at(*second),
                    provisioners: offered,
                    tags: &kinds[*set].1,
                })
                .collect();
            let queued: Vec<QueuedJob<'_>> = pending
                .iter()
                .map(|(&id, &(kind, second))| QueuedJob {
                    id: Uuid::from_u128(id),
                    created_at: at(second),
                    provisioner: &kinds[kind].0,
                    tags: &kinds[kind].1,
                })
                .collect();
            let expected = Queue::new(queued.clone(), workers.clone());
            let numbers = lines.numbers(workers, |&kind| (&kinds[kind].0, &kinds[kind].1));
            for (job, (kind, _)) in queued.iter().zip(pending.values()) {
                prop_assert_eq!(numbers.info(job, kind), expected.info(job.id));
            }
        }
    }

    #[test]
    fn a_job_not_yet_in_line_is_counted_as_the_newest_would_be() {
        let kinds = kinds();
        let mut lines = PendingLines::<usize>::default();
        lines.enter(&1, at(1), Uuid::from_u128(1));
        let offered = vec![kinds[0].0.clone()];
        let daemon = Worker { id: Uuid::from_u128(9), created_at: at(0), provisioners: &offered, tags: &kinds[1].1 };
        let numbers = lines.numbers(vec![daemon], |&kind| (&kinds[kind].0, &kinds[kind].1));
        let newcomer =
            QueuedJob { id: Uuid::from_u128(2), created_at: at(2), provisioner: &kinds[1].0, tags: &kinds[1].1 };
        let info = numbers.info(&newcomer, &1);
        assert_eq!((info.position, info.size), (2, 2));
    }

    #[test]
    fn leaving_empties_a_line_away() {
        let mut lines = PendingLines::<usize>::default();
        lines.enter(&3, at(1), Uuid::from_u128(1));
        lines.enter(&3, at(1), Uuid::from_u128(1));
        assert_eq!(lines.len(), 1);
        lines.leave(&3, at(1), Uuid::from_u128(1));
        assert!(lines.is_empty());
        assert_eq!(lines.kinds().collect::<BTreeSet<_>>(), BTreeSet::new());
    }
}
