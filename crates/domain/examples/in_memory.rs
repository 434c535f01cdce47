//! The domain crate embedded in another program: an in-memory store that implements the
//! repository traits for organizations, provisioner keys, daemons and jobs, and a short
//! story told through them — tag matching decides which daemon runs what, the queue says
//! where each job stands, authorization decides who sees and cancels what, and the reaper
//! ends what nobody took.
//!
//! Run it with `cargo run -p domain --example in_memory`.
//!
//! Every rule comes from `domain`; the store only keeps rows and calls the rules, as the
//! `storage` crate does on SQLite and PostgreSQL. Users, tokens and memberships have traits
//! of their own (`UserRepo`, `ApiKeyRepo`, `MembershipRepo`); they are left out here to keep
//! the story short, and the people in it are plain authorization subjects.

use std::collections::{BTreeMap, BTreeSet};
use std::error::Error;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Duration, Utc};
use domain::auth::hash_secret;
use domain::authz::{self, Action, Decision, JobScope, Subject};
use domain::membership::OrgRole;
use domain::organization::{
    DeletionBlockers, DeletionRefusal, NewOrganization, Organization, OrganizationName, OrganizationPatch,
    OrganizationRef, check_deletable, default_organization,
};
use domain::provisioner::{
    CancelRefusal, DaemonJob, JobInput, JobMetadata, JobState, JobStatus, JobType, Liveness, LogBudget, LogLevel,
    LogLine, LogSource, NewDaemon, NewJob, NewLogLine, NewProvisionerKey, ProvisionerDaemon, ProvisionerJob,
    ProvisionerKey, ProvisionerKeyName, ProvisionerType, Queue, QueuedJob, ReapVerdict, Reaper, TagFilter, Tags,
    Worker, check_worker,
};
use domain::repo::{
    DaemonFilter, DaemonJobRefusal, DaemonRepo, DaemonSignIn, JobCursor, JobFilter, JobRepo, JobUpdateOutcome, OpError,
    OpResult, OrganizationRepo, ProvisionerKeyRepo, QueuedJobView, RepoError, RepoResult,
};
use uuid::Uuid;

/// What the store keeps. One lock over all of it: each trait method holds it from start to
/// end, which makes every method one transaction, as the traits ask.
#[derive(Default)]
struct Tables {
    organizations: Vec<StoredOrganization>,
    keys: Vec<ProvisionerKey>,
    daemons: Vec<StoredDaemon>,
    jobs: Vec<ProvisionerJob>,
    logs: Vec<LogLine>,
}

struct StoredOrganization {
    organization: Organization,
    members: BTreeSet<Uuid>,
    deleted: bool,
}

struct StoredDaemon {
    id: Uuid,
    organization_id: Uuid,
    key_id: Uuid,
    name: String,
    version: String,
    provisioners: Vec<ProvisionerType>,
    tags: Tags,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
}

struct MemoryStore {
    tables: Mutex<Tables>,
}

impl MemoryStore {
    /// A store with the default organization in it, as a server's first start leaves it.
    fn new(now: DateTime<Utc>) -> Self {
        let default = Organization {
            id: Uuid::now_v7(),
            name: default_organization::NAME.to_owned(),
            display_name: default_organization::DISPLAY_NAME.to_owned(),
            description: default_organization::DESCRIPTION.to_owned(),
            icon: String::new(),
            is_default: true,
            created_at: now,
            updated_at: now,
        };
        let mut tables = Tables::default();
        tables.organizations.push(StoredOrganization {
            organization: default,
            members: BTreeSet::new(),
            deleted: false,
        });
        Self { tables: Mutex::new(tables) }
    }

    fn tables(&self) -> RepoResult<MutexGuard<'_, Tables>> {
        self.tables.lock().map_err(|_| RepoError::Other("an earlier call panicked in the middle of its work".into()))
    }
}

impl Tables {
    fn live_organization(&mut self, id: Uuid) -> Option<&mut StoredOrganization> {
        self.organizations.iter_mut().find(|stored| stored.organization.id == id && !stored.deleted)
    }

    fn name_taken(&self, name: &OrganizationName, except: Option<Uuid>) -> bool {
        self.organizations.iter().any(|stored| {
            !stored.deleted
                && Some(stored.organization.id) != except
                && stored.organization.name.to_lowercase() == name.key()
        })
    }

    fn touch_daemon(&mut self, daemon: Uuid, now: DateTime<Utc>) {
        if let Some(stored) = self.daemons.iter_mut().find(|stored| stored.id == daemon) {
            stored.last_seen_at = now;
        }
    }

    fn daemon_view(&self, stored: &StoredDaemon) -> ProvisionerDaemon {
        let held = |job: &&ProvisionerJob| job.worker_id == Some(stored.id);
        let as_daemon_job = |job: &ProvisionerJob| DaemonJob {
            id: job.id,
            status: job.status(),
            template_name: job.metadata.template_name.clone(),
            template_icon: job.metadata.template_icon.clone(),
            template_display_name: job.metadata.template_display_name.clone(),
        };
        let current = self.jobs.iter().filter(held).filter(|job| job.state.completed_at.is_none());
        let finished = self.jobs.iter().filter(held).filter(|job| job.state.completed_at.is_some());
        ProvisionerDaemon {
            id: stored.id,
            organization_id: stored.organization_id,
            key_id: stored.key_id,
            key_name: self
                .keys
                .iter()
                .find(|key| key.id == stored.key_id)
                .map(|key| key.name.clone())
                .unwrap_or_default(),
            name: stored.name.clone(),
            version: stored.version.clone(),
            api_version: "1.0".to_owned(),
            provisioners: stored.provisioners.clone(),
            tags: stored.tags.clone(),
            created_at: stored.created_at,
            last_seen_at: stored.last_seen_at,
            current_job: current.max_by_key(|job| job.state.started_at).map(as_daemon_job),
            previous_job: finished.max_by_key(|job| job.state.completed_at).map(as_daemon_job),
        }
    }

    /// The organization's queue: its pending jobs against its online daemons. The rule is the
    /// domain's; the store only gathers the inputs.
    fn queue(&self, organization: Uuid, liveness: Liveness, now: DateTime<Utc>) -> Queue {
        let pending = self
            .jobs
            .iter()
            .filter(|job| job.organization_id == organization && job.status() == JobStatus::Pending)
            .map(|job| QueuedJob {
                id: job.id,
                created_at: job.created_at,
                provisioner: &job.provisioner,
                tags: &job.tags,
            })
            .collect();
        let workers = self
            .daemons
            .iter()
            .filter(|daemon| daemon.organization_id == organization && liveness.is_online(daemon.last_seen_at, now))
            .map(|daemon| Worker {
                id: daemon.id,
                created_at: daemon.created_at,
                provisioners: &daemon.provisioners,
                tags: &daemon.tags,
            })
            .collect();
        Queue::new(pending, workers)
    }

    /// The job, if `daemon` holds it.
    fn held_job(&mut self, daemon: Uuid, job: Uuid) -> OpResult<&mut ProvisionerJob, DaemonJobRefusal> {
        let found = self.jobs.iter_mut().find(|candidate| candidate.id == job).ok_or(RepoError::NotFound)?;
        check_worker(found.worker_id, daemon).map_err(|refusal| OpError::Refused(refusal.into()))?;
        Ok(found)
    }

    fn append_logs(&mut self, job: Uuid, lines: &[NewLogLine], now: DateTime<Utc>) {
        for line in lines {
            let id = self.logs.last().map_or(1, |last| last.id + 1);
            self.logs.push(LogLine {
                id,
                job_id: job,
                created_at: now,
                source: line.source,
                level: line.level,
                stage: line.stage.clone(),
                output: line.output.clone(),
            });
        }
    }

    /// A state change a daemon asked for on a job it holds.
    fn finish(
        &mut self,
        daemon: Uuid,
        job: Uuid,
        now: DateTime<Utc>,
        change: impl FnOnce(&JobState) -> Result<JobState, domain::provisioner::FinishRefusal>,
    ) -> OpResult<ProvisionerJob, DaemonJobRefusal> {
        let held = self.held_job(daemon, job)?;
        held.state = change(&held.state).map_err(|refusal| OpError::Refused(refusal.into()))?;
        held.updated_at = now;
        let done = held.clone();
        self.touch_daemon(daemon, now);
        Ok(done)
    }
}

impl OrganizationRepo for MemoryStore {
    fn organizations(&self, visible: Option<&[Uuid]>) -> RepoResult<Vec<Organization>> {
        let tables = self.tables()?;
        let mut listed: Vec<Organization> = tables
            .organizations
            .iter()
            .filter(|stored| !stored.deleted)
            .filter(|stored| visible.is_none_or(|ids| ids.contains(&stored.organization.id)))
            .map(|stored| stored.organization.clone())
            .collect();
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listed)
    }

    fn organization(&self, reference: &OrganizationRef) -> RepoResult<Option<Organization>> {
        let tables = self.tables()?;
        let found = tables.organizations.iter().filter(|stored| !stored.deleted).find(|stored| match reference {
            OrganizationRef::Default => stored.organization.is_default,
            OrganizationRef::Id(id) => stored.organization.id == *id,
            OrganizationRef::Name(name) => stored.organization.name.to_lowercase() == *name,
        });
        Ok(found.map(|stored| stored.organization.clone()))
    }

    fn create_organization(
        &self,
        new: &NewOrganization,
        creator: Uuid,
        now: DateTime<Utc>,
    ) -> RepoResult<Organization> {
        let mut tables = self.tables()?;
        if tables.name_taken(&new.name, None) {
            return Err(RepoError::Conflict("name"));
        }
        let organization = Organization {
            id: Uuid::now_v7(),
            name: new.name.as_str().to_owned(),
            display_name: new.display_name.as_str().to_owned(),
            description: new.description.clone(),
            icon: new.icon.clone(),
            is_default: false,
            created_at: now,
            updated_at: now,
        };
        let members = BTreeSet::from([creator]);
        tables.organizations.push(StoredOrganization { organization: organization.clone(), members, deleted: false });
        Ok(organization)
    }

    fn update_organization(&self, id: Uuid, patch: &OrganizationPatch, now: DateTime<Utc>) -> RepoResult<Organization> {
        let mut tables = self.tables()?;
        if patch.name.as_ref().is_some_and(|name| tables.name_taken(name, Some(id))) {
            return Err(RepoError::Conflict("name"));
        }
        let stored = tables.live_organization(id).ok_or(RepoError::NotFound)?;
        stored.organization = patch.apply_to(&stored.organization, now);
        Ok(stored.organization.clone())
    }

    fn delete_organization(&self, id: Uuid, deleter: Uuid, _now: DateTime<Utc>) -> OpResult<(), DeletionRefusal> {
        let mut tables = self.tables()?;
        let blockers = DeletionBlockers {
            other_members: tables
                .organizations
                .iter()
                .find(|stored| stored.organization.id == id)
                .map_or(0, |stored| stored.members.iter().filter(|member| **member != deleter).count() as u64),
            provisioner_keys: tables.keys.iter().filter(|key| key.organization_id == id).count() as u64,
            active_jobs: tables.jobs.iter().filter(|job| job.organization_id == id && job.status().is_active()).count()
                as u64,
        };
        let stored = tables.live_organization(id).ok_or(RepoError::NotFound)?;
        check_deletable(&stored.organization, &blockers).map_err(OpError::Refused)?;
        stored.deleted = true;
        stored.members.clear();
        Ok(())
    }
}

impl ProvisionerKeyRepo for MemoryStore {
    fn create_provisioner_key(&self, new: &NewProvisionerKey, now: DateTime<Utc>) -> RepoResult<ProvisionerKey> {
        let mut tables = self.tables()?;
        let taken =
            tables.keys.iter().any(|key| key.organization_id == new.organization_id && key.name == new.name.as_str());
        if taken {
            return Err(RepoError::Conflict("name"));
        }
        let key = ProvisionerKey {
            id: Uuid::now_v7(),
            organization_id: new.organization_id,
            name: new.name.as_str().to_owned(),
            tags: new.tags.clone(),
            hashed_secret: new.hashed_secret.clone(),
            created_at: now,
        };
        tables.keys.push(key.clone());
        Ok(key)
    }

    fn provisioner_keys(&self, organization: Uuid) -> RepoResult<Vec<ProvisionerKey>> {
        let tables = self.tables()?;
        Ok(tables.keys.iter().filter(|key| key.organization_id == organization).cloned().collect())
    }

    fn delete_provisioner_key(&self, organization: Uuid, name: &str) -> RepoResult<()> {
        let mut tables = self.tables()?;
        let name = name.to_lowercase();
        let index = tables
            .keys
            .iter()
            .position(|key| key.organization_id == organization && key.name == name)
            .ok_or(RepoError::NotFound)?;
        let key = tables.keys.remove(index);
        // Its daemons go with it; their jobs stay as history.
        tables.daemons.retain(|daemon| daemon.key_id != key.id);
        Ok(())
    }

    fn daemon_sign_in(&self, hashed_secret: &[u8], daemon: Option<Uuid>) -> RepoResult<Option<DaemonSignIn>> {
        let mut tables = self.tables()?;
        let key = tables.keys.iter().find(|key| key.hashed_secret == hashed_secret).cloned();
        let Some(key) = key.filter(|key| tables.live_organization(key.organization_id).is_some()) else {
            return Ok(None);
        };
        let daemon =
            daemon.filter(|id| tables.daemons.iter().any(|stored| stored.id == *id && stored.key_id == key.id));
        Ok(Some(DaemonSignIn { key, daemon }))
    }
}

impl DaemonRepo for MemoryStore {
    fn register_daemon(&self, new: &NewDaemon, now: DateTime<Utc>) -> RepoResult<ProvisionerDaemon> {
        let mut tables = self.tables()?;
        if !tables.keys.iter().any(|key| key.id == new.key_id) {
            return Err(RepoError::NotFound);
        }
        let same_name = |stored: &&mut StoredDaemon| {
            stored.organization_id == new.organization_id && stored.name.eq_ignore_ascii_case(&new.name)
        };
        let id = match tables.daemons.iter_mut().find(same_name) {
            Some(existing) => {
                existing.key_id = new.key_id;
                existing.version.clone_from(&new.version);
                existing.provisioners.clone_from(&new.provisioners);
                existing.tags = new.tags.clone();
                existing.last_seen_at = now;
                existing.id
            }
            None => {
                let id = Uuid::now_v7();
                tables.daemons.push(StoredDaemon {
                    id,
                    organization_id: new.organization_id,
                    key_id: new.key_id,
                    name: new.name.clone(),
                    version: new.version.clone(),
                    provisioners: new.provisioners.clone(),
                    tags: new.tags.clone(),
                    created_at: now,
                    last_seen_at: now,
                });
                id
            }
        };
        let stored = tables.daemons.iter().find(|stored| stored.id == id).ok_or(RepoError::NotFound)?;
        Ok(tables.daemon_view(stored))
    }

    fn heartbeat(&self, daemon: Uuid, key: Uuid, now: DateTime<Utc>) -> RepoResult<()> {
        let mut tables = self.tables()?;
        let stored = tables.daemons.iter_mut().find(|stored| stored.id == daemon && stored.key_id == key);
        stored.map(|stored| stored.last_seen_at = now).ok_or(RepoError::NotFound)
    }

    fn daemons(&self, organization: Uuid, filter: &DaemonFilter) -> RepoResult<Vec<ProvisionerDaemon>> {
        let tables = self.tables()?;
        let mut listed: Vec<&StoredDaemon> = tables
            .daemons
            .iter()
            .filter(|stored| stored.organization_id == organization)
            .filter(|stored| filter.ids.is_empty() || filter.ids.contains(&stored.id))
            .filter(|stored| filter.tags.matches(&stored.tags))
            .collect();
        listed.sort_by_key(|stored| std::cmp::Reverse((stored.created_at, stored.id)));
        listed.truncate(filter.limit.map_or(usize::MAX, |limit| limit as usize));
        Ok(listed.into_iter().map(|stored| tables.daemon_view(stored)).collect())
    }

    fn daemon(&self, id: Uuid) -> RepoResult<Option<ProvisionerDaemon>> {
        let tables = self.tables()?;
        Ok(tables.daemons.iter().find(|stored| stored.id == id).map(|stored| tables.daemon_view(stored)))
    }
}

impl JobRepo for MemoryStore {
    fn create_job(&self, new: &NewJob, liveness: Liveness, now: DateTime<Utc>) -> RepoResult<QueuedJobView> {
        let mut tables = self.tables()?;
        let job = ProvisionerJob {
            id: Uuid::now_v7(),
            organization_id: new.organization_id,
            initiator_id: new.initiator_id,
            created_at: now,
            updated_at: now,
            state: JobState::default(),
            job_type: new.job_type,
            provisioner: new.provisioner.clone(),
            file_id: new.file_id,
            tags: new.tags.clone(),
            input: new.input.clone(),
            metadata: new.metadata.clone(),
            worker_id: None,
            worker_name: String::new(),
            logs_overflowed: false,
        };
        tables.jobs.push(job.clone());
        let queue = tables.queue(new.organization_id, liveness, now).info(job.id);
        Ok(QueuedJobView { job, queue })
    }

    fn jobs(
        &self,
        organization: Uuid,
        filter: &JobFilter,
        liveness: Liveness,
        now: DateTime<Utc>,
    ) -> RepoResult<Vec<QueuedJobView>> {
        let tables = self.tables()?;
        let mut listed: Vec<&ProvisionerJob> = tables
            .jobs
            .iter()
            .filter(|job| job.organization_id == organization)
            .filter(|job| filter.ids.is_empty() || filter.ids.contains(&job.id))
            .filter(|job| filter.statuses.is_empty() || filter.statuses.contains(&job.status()))
            .filter(|job| filter.tags.matches(&job.tags))
            .filter(|job| filter.initiator.is_none_or(|initiator| job.initiator_id == initiator))
            .filter(|job| filter.after.is_none_or(|after| after.precedes(JobCursor::at(job))))
            .filter(|job| match filter.scope {
                JobScope::All => true,
                JobScope::InitiatedBy(user) => job.initiator_id == user,
            })
            .collect();
        listed.sort_by_key(|job| std::cmp::Reverse((job.created_at, job.id)));
        listed.truncate(filter.limit.map_or(usize::MAX, |limit| limit as usize));
        let queue = tables.queue(organization, liveness, now);
        Ok(listed.into_iter().map(|job| QueuedJobView { job: job.clone(), queue: queue.info(job.id) }).collect())
    }

    fn job(
        &self,
        organization: Uuid,
        id: Uuid,
        liveness: Liveness,
        now: DateTime<Utc>,
    ) -> RepoResult<Option<QueuedJobView>> {
        let tables = self.tables()?;
        let job = tables.jobs.iter().find(|job| job.organization_id == organization && job.id == id);
        Ok(job.map(|job| QueuedJobView { job: job.clone(), queue: tables.queue(organization, liveness, now).info(id) }))
    }

    fn cancel_job(&self, organization: Uuid, id: Uuid, now: DateTime<Utc>) -> OpResult<ProvisionerJob, CancelRefusal> {
        let mut tables = self.tables()?;
        let job = tables
            .jobs
            .iter_mut()
            .find(|job| job.organization_id == organization && job.id == id)
            .ok_or(RepoError::NotFound)?;
        job.state = job.state.cancel(now).map_err(OpError::Refused)?;
        job.updated_at = now;
        Ok(job.clone())
    }

    fn acquire_job(&self, daemon: Uuid, now: DateTime<Utc>) -> RepoResult<Option<ProvisionerJob>> {
        let mut tables = self.tables()?;
        let tables = &mut *tables;
        let stored = tables.daemons.iter_mut().find(|stored| stored.id == daemon).ok_or(RepoError::NotFound)?;
        stored.last_seen_at = now;
        let worker = Worker {
            id: stored.id,
            created_at: stored.created_at,
            provisioners: &stored.provisioners,
            tags: &stored.tags,
        };
        // The oldest pending job of its organization that the daemon may run.
        let oldest = tables
            .jobs
            .iter_mut()
            .filter(|job| job.organization_id == stored.organization_id && job.status() == JobStatus::Pending)
            .filter(|job| worker.can_run(&job.provisioner, &job.tags))
            .min_by_key(|job| (job.created_at, job.id));
        let Some(job) = oldest else {
            return Ok(None);
        };
        let Some(started) = job.state.start(now) else {
            return Ok(None);
        };
        job.state = started;
        job.updated_at = now;
        job.worker_id = Some(stored.id);
        job.worker_name.clone_from(&stored.name);
        Ok(Some(job.clone()))
    }

    fn release_job(&self, daemon: Uuid, job: Uuid) -> RepoResult<bool> {
        let mut tables = self.tables()?;
        let held = match tables.held_job(daemon, job) {
            Ok(held) => held,
            Err(OpError::Refused(_)) => return Ok(false),
            Err(OpError::Repo(error)) => return Err(error),
        };
        // Untouched since it was taken: started and last changed at the same instant.
        let untouched = held.state.started_at == Some(held.updated_at);
        let Some(released) = held.state.release().filter(|_| untouched) else {
            return Ok(false);
        };
        held.state = released;
        held.worker_id = None;
        held.worker_name.clear();
        Ok(true)
    }

    fn update_job(
        &self,
        daemon: Uuid,
        job: Uuid,
        logs: &[NewLogLine],
        budget: LogBudget,
        now: DateTime<Utc>,
    ) -> OpResult<JobUpdateOutcome, DaemonJobRefusal> {
        let mut tables = self.tables()?;
        let used: u64 = tables.logs.iter().filter(|line| line.job_id == job).map(|line| line.output.len() as u64).sum();
        let held = tables.held_job(daemon, job)?;
        held.state.check_updatable().map_err(|refusal| OpError::Refused(refusal.into()))?;
        let (admitted, overflowed) = budget.admit(used, logs);
        held.logs_overflowed |= overflowed;
        held.updated_at = now;
        let canceled = held.state.canceled_at.is_some();
        tables.append_logs(job, &logs[..admitted], now);
        tables.touch_daemon(daemon, now);
        Ok(JobUpdateOutcome { canceled })
    }

    fn complete_job(&self, daemon: Uuid, job: Uuid, now: DateTime<Utc>) -> OpResult<ProvisionerJob, DaemonJobRefusal> {
        self.tables()?.finish(daemon, job, now, |state| state.complete(now))
    }

    fn fail_job(
        &self,
        daemon: Uuid,
        job: Uuid,
        error: String,
        error_code: Option<String>,
        now: DateTime<Utc>,
    ) -> OpResult<ProvisionerJob, DaemonJobRefusal> {
        self.tables()?.finish(daemon, job, now, |state| state.fail(now, error, error_code))
    }

    /// One process: every change is heard by its followers already.
    fn follow_job(&self, _job: Uuid) -> RepoResult<()> {
        Ok(())
    }

    fn job_logs(&self, job: Uuid, after: i64) -> RepoResult<Vec<LogLine>> {
        let tables = self.tables()?;
        Ok(tables.logs.iter().filter(|line| line.job_id == job && line.id > after).cloned().collect())
    }

    fn reap_jobs(&self, reaper: Reaper, now: DateTime<Utc>) -> RepoResult<Vec<(Uuid, ReapVerdict)>> {
        let mut tables = self.tables()?;
        let mut reaped = Vec::new();
        for job in &mut tables.jobs {
            if let Some(verdict) = reaper.verdict(&job.state, job.updated_at, now) {
                job.state = job.state.terminate(now, verdict.error_message());
                job.updated_at = now;
                reaped.push((job.id, verdict));
            }
        }
        for (job, verdict) in &reaped {
            let notice: Vec<NewLogLine> = verdict
                .log_notice()
                .into_iter()
                .map(|output| NewLogLine {
                    source: LogSource::ProvisionerDaemon,
                    level: LogLevel::Error,
                    stage: "Unknown".to_owned(),
                    output,
                })
                .collect();
            tables.append_logs(*job, &notice, now);
        }
        Ok(reaped)
    }
}

// ---------------------------------------------------------------------------------------
// The story.

fn tags(pairs: &[(&str, &str)]) -> Result<Tags, Box<dyn Error>> {
    let raw: BTreeMap<String, String> = pairs.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect();
    Ok(Tags::normalise_for_organization(raw)?)
}

/// What a member asks for when it creates a job; the caller's id normalises its tags.
fn new_job(organization: Uuid, initiator: Uuid, pairs: &[(&str, &str)]) -> Result<NewJob, Box<dyn Error>> {
    let raw: BTreeMap<String, String> = pairs.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect();
    Ok(NewJob {
        organization_id: organization,
        initiator_id: initiator,
        job_type: JobType::parse("workspace_build")?,
        provisioner: ProvisionerType::parse("provisioner", "echo")?,
        file_id: None,
        tags: Tags::normalise(raw, initiator)?,
        input: JobInput::default(),
        metadata: JobMetadata::default(),
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    let start = DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000);
    let at = |seconds: i64| start + Duration::seconds(seconds);
    let liveness = Liveness::default();
    let store = MemoryStore::new(start);

    // The people: an administrator of acme, a member of acme, and someone from elsewhere.
    let (admin_id, member_id, outsider_id) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let acme = store.create_organization(
        &NewOrganization::new(OrganizationName::parse("acme")?, None, "Rockets".into(), String::new()),
        admin_id,
        at(0),
    )?;
    let admin = Subject::new(admin_id, vec![], [(acme.id, vec![OrgRole::OrganizationAdmin])]);
    let member = Subject::new(member_id, vec![], [(acme.id, vec![])]);
    let outsider = Subject::new(outsider_id, vec![], []);
    println!("organizations: {:?}", store.organizations(None)?.iter().map(|o| o.name.as_str()).collect::<Vec<_>>());

    // Only an admin of acme manages its keys; a key gives its daemons their tags.
    assert_eq!(authz::decide(&admin, Action::ManageProvisionerKeys { organization: acme.id }), Decision::Allow);
    assert_eq!(authz::decide(&member, Action::ManageProvisionerKeys { organization: acme.id }), Decision::Forbidden);
    let mut daemons = Vec::new();
    for (name, key_tags) in [("linux", vec![("os", "linux")]), ("gpu", vec![("os", "linux"), ("gpu", "true")])] {
        let key = store.create_provisioner_key(
            &NewProvisionerKey {
                organization_id: acme.id,
                name: ProvisionerKeyName::parse(name)?,
                tags: tags(&key_tags)?,
                hashed_secret: hash_secret(&format!("{name}-secret")),
            },
            at(1),
        )?;
        // A daemon signs in with the key's secret; the store finds the key by its hash.
        let signed_in = store.daemon_sign_in(&hash_secret(&format!("{name}-secret")), None)?;
        assert_eq!(signed_in.map(|s| s.key.id), Some(key.id));
        let daemon = store.register_daemon(
            &NewDaemon {
                organization_id: acme.id,
                key_id: key.id,
                name: format!("{name}-1"),
                version: "example".into(),
                provisioners: vec![ProvisionerType::parse("provisioners", "echo")?],
                tags: key.tags.clone(),
            },
            at(2),
        )?;
        daemons.push(daemon);
    }
    let (linux, gpu) = (&daemons[0], &daemons[1]);
    let name_of = |id: &Uuid| daemons.iter().find(|d| d.id == *id).map_or("?", |d| d.name.as_str());

    // The member queues three Linux builds and two that need a GPU.
    let mut created = Vec::new();
    let wanted: [&[(&str, &str)]; 5] =
        [&[("os", "linux")], &[("gpu", "true")], &[("os", "linux")], &[("gpu", "true")], &[("os", "linux")]];
    for (n, job_tags) in wanted.into_iter().enumerate() {
        assert_eq!(authz::decide(&member, Action::CreateJob { organization: acme.id }), Decision::Allow);
        let view = store.create_job(&new_job(acme.id, member_id, job_tags)?, liveness, at(10 + n as i64))?;
        created.push(view.job.id);
    }

    // Where each stands: the GPU daemon can run everything (its tags hold os=linux too), the
    // Linux daemon only the Linux builds.
    println!("\nthe queue, oldest first:");
    let pending = JobFilter {
        ids: vec![],
        statuses: vec![JobStatus::Pending],
        tags: TagFilter::default(),
        initiator: None,
        limit: None,
        after: None,
        scope: admin.job_scope(acme.id),
    };
    let mut listed = store.jobs(acme.id, &pending, liveness, at(20))?;
    listed.reverse();
    for view in &listed {
        let workers: Vec<&str> = view.queue.available_workers.iter().map(name_of).collect();
        println!(
            "  job {} [{}]: position {} of {}, can run on {:?}",
            short(view.job.id),
            show(&view.job.tags),
            view.queue.position,
            view.queue.size,
            workers
        );
    }
    assert!(linux.tags.can_run(&listed[0].job.tags) && !linux.tags.can_run(&listed[1].job.tags));

    // Authorization: the member sees its own jobs; the outsider does not learn acme exists.
    let read = Action::ReadJob { organization: acme.id, initiator: member_id };
    assert_eq!(authz::decide(&member, read), Decision::Allow);
    assert_eq!(authz::decide(&outsider, read), Decision::NotFound);
    assert_eq!(authz::decide(&outsider, Action::ReadOrganization { organization: acme.id }), Decision::NotFound);
    println!("\nthe outsider asking for acme's jobs: {:?}", authz::decide(&outsider, read));

    // The daemons take work: each the oldest job it may run.
    println!("\nthe daemons at work:");
    for (daemon, seconds) in [(linux, 30), (gpu, 31)] {
        let Some(job) = store.acquire_job(daemon.id, at(seconds))? else { continue };
        let line = NewLogLine {
            source: LogSource::Provisioner,
            level: LogLevel::Info,
            stage: "apply".into(),
            output: "done".into(),
        };
        store.update_job(daemon.id, job.id, &[line], LogBudget::default(), at(seconds + 1))?;
        let done = store.complete_job(daemon.id, job.id, at(seconds + 2))?;
        println!("  {} ran job {} [{}]: {}", daemon.name, short(job.id), show(&job.tags), done.status().as_str());
    }
    // Only the daemon holding a job may finish it.
    let taken = store.acquire_job(linux.id, at(40))?.ok_or("the Linux daemon found no job")?;
    let refusal = store.complete_job(gpu.id, taken.id, at(41)).err();
    println!("  {} finishing {}'s job: {}", gpu.name, linux.name, refusal.map_or("allowed?".into(), |e| e.to_string()));
    for daemon in store.daemons(acme.id, &DaemonFilter::default())? {
        let status = liveness.status(daemon.last_seen_at, daemon.current_job.is_some(), at(42));
        let job = |held: Option<DaemonJob>| held.map_or("none".to_owned(), |job| short(job.id));
        let (current, previous) = (job(daemon.current_job), job(daemon.previous_job));
        println!("  {}: {}, current job {current}, previous job {previous}", daemon.name, status.as_str());
    }

    // The member cancels its last job while it waits: it ends at once.
    let last = created[4];
    assert_eq!(
        authz::decide(&member, Action::CancelJob { organization: acme.id, initiator: member_id }),
        Decision::Allow
    );
    let canceled = store.cancel_job(acme.id, last, at(50))?;
    println!("\njob {} canceled while pending: {}", short(last), canceled.status().as_str());

    // Half an hour on, the reaper ends the job the Linux daemon took and stopped reporting
    // on (hung) and the one nobody took (pending too long).
    let reaped = store.reap_jobs(Reaper::default(), at(50 + 31 * 60))?;
    for (job, verdict) in &reaped {
        println!("reaped job {}: {}", short(*job), verdict.error_message());
    }

    // acme can go once nothing depends on it but its administrator's own membership.
    let refused = store.delete_organization(acme.id, admin_id, at(4000)).err();
    println!("\ndeleting acme while it has keys: {}", refused.map_or("allowed?".into(), |e| e.to_string()));
    for key in store.provisioner_keys(acme.id)? {
        store.delete_provisioner_key(acme.id, &key.name)?;
    }
    store.delete_organization(acme.id, admin_id, at(4001))?;
    println!("organizations: {:?}", store.organizations(None)?.iter().map(|o| o.name.as_str()).collect::<Vec<_>>());
    Ok(())
}

fn short(id: Uuid) -> String {
    id.simple().to_string()[24..].to_owned()
}

/// A job's own tags, without the `scope` and `owner` every tag set carries.
fn show(tags: &Tags) -> String {
    let own = tags.as_map().iter().filter(|(key, _)| !matches!(key.as_str(), "scope" | "owner"));
    own.map(|(key, value)| format!("{key}={value}")).collect::<Vec<_>>().join(", ")
}
