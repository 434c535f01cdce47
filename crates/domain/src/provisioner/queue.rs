//! Queue numbers: where a pending job stands, per the daemons that could run it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::job::ProvisionerType;
use super::tags::Tags;

/// A pending job of one organization, as the queue needs it. Borrows its provisioner and
/// tags: a queue has thousands of jobs but only a handful of distinct kinds of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedJob<'a> {
    /// Its id.
    pub id: Uuid,
    /// When it was created; older jobs go first.
    pub created_at: DateTime<Utc>,
    /// The provisioner it needs.
    pub provisioner: &'a ProvisionerType,
    /// Its tags.
    pub tags: &'a Tags,
}

/// An online daemon of the same organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Worker<'a> {
    /// Its id.
    pub id: Uuid,
    /// When it first registered; older daemons are listed first.
    pub created_at: DateTime<Utc>,
    /// Provisioner types it runs.
    pub provisioners: &'a [ProvisionerType],
    /// Its tags.
    pub tags: &'a Tags,
}

impl Worker<'_> {
    /// The eligibility rule: the daemon offers the job's provisioner and its tags match.
    pub fn can_run(&self, provisioner: &ProvisionerType, tags: &Tags) -> bool {
        self.provisioners.contains(provisioner) && self.tags.can_run(tags)
    }
}

/// A pending job's place. `position` 1 means some daemon takes it next; 0 and 0 mean the job
/// is not pending or no online daemon can run it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueInfo {
    /// 1-based place among the jobs some eligible daemon would take first; 0 when none.
    pub position: u32,
    /// The length of the longest queue the job is in; 0 when none.
    pub size: u32,
    /// Eligible online daemons, oldest first.
    pub available_workers: Vec<Uuid>,
}

/// The pending jobs of an organization against its online daemons.
#[derive(Debug, Default)]
pub struct Queue {
    info: HashMap<Uuid, QueueInfo>,
}

impl Queue {
    /// Jobs are taken oldest first (`created_at`, then `id`), daemons listed oldest first.
    /// For each daemon, the pending jobs it can run form its own queue; a job's position is
    /// its best place over those queues, its size the longest of them.
    ///
    /// Eligibility is decided once per daemon and kind of job (provisioner and tags), so the
    /// cost is one pass over the pending jobs per daemon; nothing depends on the history.
    pub fn new(mut pending: Vec<QueuedJob<'_>>, mut workers: Vec<Worker<'_>>) -> Self {
        pending.sort_by_key(|job| (job.created_at, job.id));
        workers.sort_by_key(|worker| (worker.created_at, worker.id));
        let mut kinds: HashMap<(&ProvisionerType, &Tags), usize> = HashMap::new();
        let kind_of: Vec<usize> = pending
            .iter()
            .map(|job| {
                let next = kinds.len();
                *kinds.entry((job.provisioner, job.tags)).or_insert(next)
            })
            .collect();
        let mut positions = vec![0u32; pending.len()];
        let mut sizes = vec![0u32; pending.len()];
        let mut available: Vec<Vec<Uuid>> = vec![Vec::new(); pending.len()];
        for worker in &workers {
            let mut runs = vec![false; kinds.len()];
            for (&(provisioner, tags), &kind) in &kinds {
                runs[kind] = worker.can_run(provisioner, tags);
            }
            let mut ahead_and_self = 0u32;
            for (index, kind) in kind_of.iter().enumerate() {
                if runs[*kind] {
                    ahead_and_self += 1;
                    if positions[index] == 0 || ahead_and_self < positions[index] {
                        positions[index] = ahead_and_self;
                    }
                    available[index].push(worker.id);
                }
            }
            for (index, kind) in kind_of.iter().enumerate() {
                if runs[*kind] {
                    sizes[index] = sizes[index].max(ahead_and_self);
                }
            }
        }
        let info = pending
            .iter()
            .zip(positions.into_iter().zip(sizes).zip(available))
            .filter(|(_, ((position, _), _))| *position > 0)
            .map(|(job, ((position, size), available_workers))| {
                (job.id, QueueInfo { position, size, available_workers })
            })
            .collect();
        Self { info }
    }

    /// The numbers of a job; 0, 0 and no workers for a job that is not in the queue.
    pub fn info(&self, job: Uuid) -> QueueInfo {
        self.info.get(&job).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::Duration;
    use proptest::prelude::*;

    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        let raw: BTreeMap<String, String> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Tags::normalise_for_organization(raw).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Owned test data; the queue borrows from it.
    #[derive(Clone)]
    struct TestJob {
        id: Uuid,
        created_at: DateTime<Utc>,
        provisioner: ProvisionerType,
        tags: Tags,
    }

    #[derive(Clone)]
    struct TestWorker {
        id: Uuid,
        created_at: DateTime<Utc>,
        provisioners: Vec<ProvisionerType>,
        tags: Tags,
    }

    fn terraform() -> ProvisionerType {
        ProvisionerType::from_stored("terraform".into())
    }

    fn job(n: u128, pairs: &[(&str, &str)]) -> TestJob {
        TestJob {
            id: Uuid::from_u128(n),
            created_at: DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(n as i64),
            provisioner: terraform(),
            tags: tags(pairs),
        }
    }

    fn worker(n: u128, pairs: &[(&str, &str)]) -> TestWorker {
        TestWorker {
            id: Uuid::from_u128(1000 + n),
            created_at: DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(n as i64),
            provisioners: vec![terraform()],
            tags: tags(pairs),
        }
    }

    fn queue(jobs: &[TestJob], workers: &[TestWorker]) -> Queue {
        let pending = jobs
            .iter()
            .map(|j| QueuedJob { id: j.id, created_at: j.created_at, provisioner: &j.provisioner, tags: &j.tags })
            .collect();
        let online = workers
            .iter()
            .map(|w| Worker { id: w.id, created_at: w.created_at, provisioners: &w.provisioners, tags: &w.tags })
            .collect();
        Queue::new(pending, online)
    }

    fn numbers(queue: &Queue, jobs: &[TestJob]) -> Vec<(u32, u32)> {
        jobs.iter().map(|j| queue.info(j.id)).map(|i| (i.position, i.size)).collect()
    }

    fn coders_jobs() -> Vec<TestJob> {
        vec![job(1, &[("a", "1"), ("b", "2")]), job(2, &[("a", "1")]), job(3, &[("a", "1"), ("c", "3")])]
    }

    #[test]
    fn coders_vectors_with_two_daemons() {
        let jobs = coders_jobs();
        let queue = queue(&jobs, &[worker(1, &[("a", "1"), ("b", "2")]), worker(2, &[("a", "1")])]);
        assert_eq!(numbers(&queue, &jobs), vec![(1, 2), (1, 2), (0, 0)]);
    }

    #[test]
    fn coders_vectors_with_a_third_daemon_that_runs_everything() {
        let jobs = coders_jobs();
        let workers = vec![
            worker(1, &[("a", "1"), ("b", "2")]),
            worker(2, &[("a", "1")]),
            worker(3, &[("a", "1"), ("b", "2"), ("c", "3")]),
        ];
        let queue = queue(&jobs, &workers);
        assert_eq!(numbers(&queue, &jobs), vec![(1, 3), (1, 3), (3, 3)]);
    }

    #[test]
    fn available_workers_are_the_eligible_daemons_oldest_first() {
        let jobs = coders_jobs();
        let queue = queue(&jobs, &[worker(2, &[("a", "1")]), worker(1, &[("a", "1"), ("b", "2")])]);
        assert_eq!(queue.info(jobs[1].id).available_workers, vec![Uuid::from_u128(1001), Uuid::from_u128(1002)]);
        assert_eq!(queue.info(jobs[2].id).available_workers, Vec::<Uuid>::new());
    }

    #[test]
    fn ties_in_creation_time_are_broken_by_id() {
        let mut first = job(7, &[]);
        let mut second = job(3, &[]);
        first.created_at = DateTime::<Utc>::UNIX_EPOCH;
        second.created_at = DateTime::<Utc>::UNIX_EPOCH;
        let queue = queue(&[first.clone(), second.clone()], &[worker(1, &[])]);
        assert_eq!(queue.info(second.id).position, 1);
        assert_eq!(queue.info(first.id).position, 2);
    }

    #[test]
    fn a_daemon_without_the_provisioner_is_not_eligible() {
        let jobs = vec![job(1, &[])];
        let mut echo_only = worker(1, &[]);
        echo_only.provisioners = vec![ProvisionerType::from_stored("echo".into())];
        let queue = queue(&jobs, &[echo_only]);
        assert_eq!(queue.info(jobs[0].id), QueueInfo::default());
    }

    #[test]
    fn untagged_jobs_wait_for_untagged_daemons() {
        let jobs = vec![job(1, &[]), job(2, &[("gpu", "yes")])];
        let queue = queue(&jobs, &[worker(1, &[("gpu", "yes")])]);
        assert_eq!(numbers(&queue, &jobs), vec![(0, 0), (1, 1)]);
    }

    fn tag_set() -> impl Strategy<Value = Vec<(&'static str, &'static str)>> {
        proptest::sample::subsequence(vec![("a", "1"), ("b", "2"), ("c", "3")], 0..=3)
    }

    proptest! {
        /// Every job some daemon can run has 1 <= position <= size, and some job is first.
        #[test]
        fn positions_lie_within_sizes(
            job_tags in proptest::collection::vec(tag_set(), 0..30),
            worker_tags in proptest::collection::vec(tag_set(), 0..6),
        ) {
            let jobs: Vec<TestJob> = job_tags.iter().enumerate().map(|(i, t)| job(i as u128, t)).collect();
            let workers: Vec<TestWorker> = worker_tags.iter().enumerate().map(|(i, t)| worker(i as u128, t)).collect();
            let queue = queue(&jobs, &workers);
            let mut any_runnable = false;
            for job in &jobs {
                let info = queue.info(job.id);
                let runnable = workers.iter().any(|w| w.provisioners.contains(&job.provisioner) && w.tags.can_run(&job.tags));
                any_runnable |= runnable;
                prop_assert_eq!(runnable, info.position > 0);
                prop_assert!(info.position <= info.size);
                prop_assert_eq!(runnable, !info.available_workers.is_empty());
            }
            let has_first = jobs.iter().any(|j| queue.info(j.id).position == 1);
            prop_assert_eq!(any_runnable, has_first);
        }
    }
}
