//! The daemons waiting on this server for a job, and which of them a new job wakes: one that
//! can run it, the longest waiting first, not all of them. Every server hears of every new
//! job, so across servers one daemon per server looks.
//!
//! A daemon woken for a job may take an older one instead, or go away before it looks; the
//! job it was woken for is then announced again, so no job is left with nobody looking.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use domain::provisioner::Worker;
use storage::{DaemonProfile, JobQueued};
use tokio::sync::Notify;
use uuid::Uuid;

/// What a waiting daemon can run.
#[derive(Debug, Clone)]
pub struct Profile(pub DaemonProfile);

impl Profile {
    fn may_run(&self, job: &JobQueued) -> bool {
        let daemon = &self.0;
        if job.organization != daemon.organization_id {
            return false;
        }
        let worker = Worker {
            id: daemon.id,
            created_at: daemon.created_at,
            provisioners: &daemon.provisioners,
            tags: &daemon.tags,
        };
        match &job.tags {
            Some(tags) => worker.can_run(&job.provisioner, tags),
            // Tags not read yet: anyone offering the provisioner may look.
            None => daemon.provisioners.contains(&job.provisioner),
        }
    }
}

/// Why a waiter was woken.
#[derive(Debug, Clone)]
enum Wake {
    /// For this job: if it does not take it, someone else must hear of it.
    For(JobQueued),
    /// Along with everyone.
    All,
}

#[derive(Debug)]
struct Waiter {
    profile: Profile,
    bell: Notify,
    /// Wakes not yet looked into.
    owed: Mutex<Vec<Wake>>,
}

impl Waiter {
    fn owed(&self) -> MutexGuard<'_, Vec<Wake>> {
        self.owed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn ring(&self, why: Wake) {
        self.owed().push(why);
        self.bell.notify_one();
    }
}

/// The wakes a daemon is looking into: taken before it looks, settled after.
#[derive(Debug)]
#[must_use]
pub struct Owed(Vec<Wake>);

#[derive(Debug, Default)]
pub struct Waiters {
    /// Longest waiting first; a waiter leaves the line when it is woken.
    line: Mutex<Vec<Arc<Waiter>>>,
    /// Waiters woken so far.
    wakes: AtomicU64,
}

impl Waiters {
    fn line(&self) -> MutexGuard<'_, Vec<Arc<Waiter>>> {
        self.line.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes one waiter that can run `job`; all that might when its tags are not known.
    pub fn announce(&self, job: &JobQueued) {
        let mut line = self.line();
        if job.tags.is_some() {
            if let Some(at) = line.iter().position(|waiter| waiter.profile.may_run(job)) {
                let waiter = line.remove(at);
                drop(line);
                self.ring(&waiter, Wake::For(job.clone()));
            }
            return;
        }
        let (woken, staying): (Vec<_>, Vec<_>) = line.drain(..).partition(|waiter| waiter.profile.may_run(job));
        *line = staying;
        drop(line);
        woken.iter().for_each(|waiter| self.ring(waiter, Wake::All));
    }

    /// Wakes everyone: notices may have been missed, or a peer only said that something changed.
    pub fn wake_all(&self) {
        let woken: Vec<_> = self.line().drain(..).collect();
        woken.iter().for_each(|waiter| self.ring(waiter, Wake::All));
    }

    fn ring(&self, waiter: &Waiter, why: Wake) {
        self.wakes.fetch_add(1, Ordering::Relaxed);
        waiter.ring(why);
    }

    /// How many times a waiting daemon has been woken so far.
    pub fn wakes(&self) -> u64 {
        self.wakes.load(Ordering::Relaxed)
    }

    /// How many wait now.
    pub fn len(&self) -> usize {
        self.line().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Joins the line: from now on a job this daemon can run wakes it (or another).
    pub fn join(self: &Arc<Self>, profile: Profile) -> Place {
        let waiter = Arc::new(Waiter { profile, bell: Notify::new(), owed: Mutex::new(Vec::new()) });
        self.line().push(Arc::clone(&waiter));
        Place { waiters: Arc::clone(self), waiter }
    }
}

/// A daemon's place in the line. Dropping it leaves the line, and passes on a job it was
/// woken for and did not take.
#[derive(Debug)]
pub struct Place {
    waiters: Arc<Waiters>,
    waiter: Arc<Waiter>,
}

impl Place {
    /// Until woken.
    pub async fn woken(&self) {
        self.waiter.bell.notified().await;
    }

    /// Back in line after being woken, before looking: a job arriving while it looks
    /// wakes it again rather than nobody.
    pub fn rejoin(&self) {
        let mut line = self.waiters.line();
        if !line.iter().any(|waiter| Arc::ptr_eq(waiter, &self.waiter)) {
            line.push(Arc::clone(&self.waiter));
        }
    }

    /// The wakes so far, just before the daemon looks; those arriving while it looks stay
    /// owed, and wake it again.
    pub fn looking(&self) -> Owed {
        Owed(std::mem::take(&mut *self.waiter.owed()))
    }

    /// The daemon looked and took `taken`, or nothing. A job it was woken for is settled if
    /// it took that one, or took nothing (then the job had gone when it looked). If it took
    /// another, the job it was woken for is announced again.
    pub fn looked(&self, owed: Owed, taken: Option<Uuid>) {
        let Some(taken) = taken else { return };
        for wake in owed.0 {
            if let Wake::For(job) = wake
                && job.job != taken
            {
                self.waiters.announce(&job);
            }
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.waiters.line().retain(|waiter| !Arc::ptr_eq(waiter, &self.waiter));
        let owed = std::mem::take(&mut *self.waiter.owed());
        for wake in owed {
            if let Wake::For(job) = wake {
                self.waiters.announce(&job);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::Utc;
    use domain::provisioner::{ProvisionerType, Tags};

    use super::*;

    fn terraform() -> ProvisionerType {
        ProvisionerType::from_stored("terraform".into())
    }

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Tags::normalise_for_organization(map).unwrap_or_else(|e| panic!("{e}"))
    }

    fn profile(organization: Uuid, daemon_tags: Tags) -> Profile {
        Profile(DaemonProfile {
            id: Uuid::now_v7(),
            created_at: Utc::now(),
            organization_id: organization,
            provisioners: vec![terraform()],
            tags: daemon_tags,
        })
    }

    fn job(organization: Uuid, job_tags: Option<Tags>) -> JobQueued {
        JobQueued { organization, job: Uuid::now_v7(), provisioner: terraform(), tags: job_tags }
    }

    fn rung(place: &Place) -> bool {
        !place.waiter.owed().is_empty()
    }

    /// `count` untagged daemons waiting in one organization, and a job any of them can run.
    fn waiting(count: usize) -> (Arc<Waiters>, Vec<Place>, JobQueued) {
        let waiters = Arc::new(Waiters::default());
        let organization = Uuid::now_v7();
        let places = (0..count).map(|_| waiters.join(profile(organization, tags(&[])))).collect();
        (waiters, places, job(organization, Some(tags(&[]))))
    }

    #[test]
    fn a_job_wakes_one_waiter_that_can_run_it_the_longest_waiting() {
        let (waiters, places, queued) = waiting(4);
        waiters.announce(&queued);
        assert_eq!(places.iter().map(rung).collect::<Vec<_>>(), [true, false, false, false]);
        assert_eq!(waiters.len(), 3);
        assert_eq!(waiters.wakes(), 1);
    }

    #[test]
    fn waiters_that_cannot_run_the_job_sleep_on() {
        let waiters = Arc::new(Waiters::default());
        let organization = Uuid::now_v7();
        let elsewhere = waiters.join(profile(Uuid::now_v7(), tags(&[])));
        let other_tags = waiters.join(profile(organization, tags(&[("os", "windows")])));
        let able = waiters.join(profile(organization, tags(&[("os", "linux")])));
        waiters.announce(&job(organization, Some(tags(&[("os", "linux")]))));
        assert!(!rung(&elsewhere));
        assert!(!rung(&other_tags));
        assert!(rung(&able));
    }

    #[test]
    fn a_job_whose_tags_are_not_known_wakes_all_that_may_run_it() {
        let (waiters, places, queued) = waiting(3);
        let elsewhere = waiters.join(profile(Uuid::now_v7(), tags(&[])));
        waiters.announce(&JobQueued { tags: None, ..queued });
        assert!(places.iter().all(rung));
        assert!(!rung(&elsewhere));
    }

    #[test]
    fn a_job_not_taken_by_the_one_it_woke_is_passed_on() {
        let (waiters, places, queued) = waiting(2);
        waiters.announce(&queued);
        assert!(rung(&places[0]) && !rung(&places[1]));
        // It took an older job: the new one is still waiting for somebody.
        let owed = places[0].looking();
        places[0].looked(owed, Some(Uuid::now_v7()));
        assert!(rung(&places[1]));
    }

    #[test]
    fn a_job_taken_by_the_one_it_woke_wakes_nobody_else() {
        let (waiters, places, queued) = waiting(2);
        waiters.announce(&queued);
        places[0].rejoin();
        let owed = places[0].looking();
        places[0].looked(owed, Some(queued.job));
        assert!(!rung(&places[1]));
        assert_eq!(waiters.len(), 2);
    }

    #[test]
    fn a_job_arriving_while_a_daemon_looks_wakes_it_again() {
        let (waiters, places, queued) = waiting(1);
        let owed = places[0].looking();
        waiters.announce(&queued);
        // It looked before that job was there: it found nothing, and still owes the new one.
        places[0].looked(owed, None);
        assert!(rung(&places[0]));
    }

    #[test]
    fn a_waiter_that_leaves_after_being_woken_passes_its_job_on() {
        let (waiters, mut places, queued) = waiting(2);
        waiters.announce(&queued);
        drop(places.remove(0));
        assert!(rung(&places[0]));
        assert!(waiters.is_empty());
    }
}
