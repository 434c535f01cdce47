//! What a store must do, in domain terms only. One method is one use case and runs as one
//! transaction, so a failure never leaves half of it behind. Methods are synchronous: a
//! server calls them on a blocking thread.

use std::error::Error as StdError;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::auth::{ApiKey, KeyRefresh, NewApiKey};
use crate::authz::JobScope;
use crate::membership::{Membership, OrgRole, SiteRole};
use crate::organization::{DeletionRefusal, NewOrganization, Organization, OrganizationPatch, OrganizationRef};
use crate::provisioner::{
    CancelRefusal, FinishRefusal, JobStatus, Liveness, LogBudget, LogLine, NewDaemon, NewJob, NewLogLine,
    NewProvisionerKey, NotYourJob, ProvisionerDaemon, ProvisionerJob, ProvisionerKey, QueueInfo, ReapVerdict, Reaper,
    TagFilter,
};
use crate::user::{NewUser, User, UserStatus};

type Source = Box<dyn StdError + Send + Sync>;

/// A store failure, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// Nothing matches what was asked for.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule: the name of what is already taken (`name`, `email`, `token_name`...).
    #[error("{0} is already taken")]
    Conflict(&'static str),
    /// The database cannot be reached or is overloaded; worth retrying.
    #[error("database unavailable")]
    Unavailable(#[source] Source),
    /// The database went away while a write was being committed: it may or may not have
    /// taken effect, and retrying it may do it twice.
    #[error("database went away during the commit")]
    InDoubt(#[source] Source),
    /// Any other failure of the store.
    #[error("database error")]
    Other(#[source] Source),
}

/// A use case that a domain rule may refuse.
#[derive(Debug, thiserror::Error)]
pub enum OpError<R> {
    /// A domain rule said no; the reason is the rule's own.
    #[error("refused: {0}")]
    Refused(R),
    /// The store failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// What a repository method returns.
pub type RepoResult<T> = Result<T, RepoError>;
/// What a repository method that a rule may refuse returns.
pub type OpResult<T, R> = Result<T, OpError<R>>;

/// Organizations: the tenants.
pub trait OrganizationRepo {
    /// Live organizations ordered by name; `visible: None` means all of them.
    fn organizations(&self, visible: Option<&[Uuid]>) -> RepoResult<Vec<Organization>>;
    /// The live organization a path names, if any.
    fn organization(&self, reference: &OrganizationRef) -> RepoResult<Option<Organization>>;
    /// Creates it and makes `creator` a member. `Conflict("name")` when the name is taken.
    fn create_organization(&self, new: &NewOrganization, creator: Uuid, now: DateTime<Utc>)
    -> RepoResult<Organization>;
    /// Applies a change; `NotFound` when there is no such live organization.
    fn update_organization(&self, id: Uuid, patch: &OrganizationPatch, now: DateTime<Utc>) -> RepoResult<Organization>;
    /// Soft-deletes it once nothing depends on it but the deleter's own membership.
    fn delete_organization(&self, id: Uuid, deleter: Uuid, now: DateTime<Utc>) -> OpResult<(), DeletionRefusal>;
}

/// The first user can be created only once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("The initial user has already been created.")]
pub struct FirstUserExists;

/// A new user was to join an organization that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Organization does not exist with the provided id \"{0}\".")]
pub struct UnknownOrganization(pub Uuid);

/// Who a user lookup is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserLookup {
    /// The user with this id.
    Id(Uuid),
    /// Lower-cased.
    Username(String),
}

/// Users: accounts, their site roles and status.
pub trait UserRepo {
    /// Whether any user exists (before the first, the server waits for one).
    fn has_users(&self) -> RepoResult<bool>;
    /// Creates the first user as an owner and member of the default organization; refused
    /// once any user exists. Returns the user and the default organization's id.
    fn create_first_user(&self, new: &NewUser, now: DateTime<Utc>) -> OpResult<(User, Uuid), FirstUserExists>;
    /// `Conflict("username")` / `Conflict("email")` when taken.
    fn create_user(&self, new: &NewUser, now: DateTime<Utc>) -> OpResult<User, UnknownOrganization>;
    /// Ordered by username.
    fn users(&self) -> RepoResult<Vec<User>>;
    /// The user the lookup names, if any (deleted users are gone).
    fn user(&self, lookup: &UserLookup) -> RepoResult<Option<User>>;
    /// The user with this e-mail (any case) and its password hash, for signing in.
    fn user_for_login(&self, email: &str) -> RepoResult<Option<(User, String)>>;
    /// Replaces the user's explicit site roles.
    fn set_site_roles(&self, id: Uuid, roles: &[SiteRole], now: DateTime<Utc>) -> RepoResult<User>;
    /// Sets the user's status (active, dormant, suspended).
    fn set_status(&self, id: Uuid, status: UserStatus, now: DateTime<Utc>) -> RepoResult<User>;
    /// Soft-deletes the user: its keys and memberships go, the jobs it started stay. Refused
    /// while it is the only member of an organization.
    fn delete_user(&self, id: Uuid, now: DateTime<Utc>) -> OpResult<(), SoleMember>;
}

/// A user cannot go while an organization would be left without members.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "User is the last member of organization \"{organization}\"; add another member or delete the organization first."
)]
pub struct SoleMember {
    /// The name of the organization that would be left without members.
    pub organization: String,
}

/// API keys: sign-in sessions and named tokens.
pub trait ApiKeyRepo {
    /// What authenticating a request needs, read in one go on one connection: the key with
    /// this id, its user with roles and memberships, and the organization the request names.
    fn session(&self, key_id: &str, organization: Option<&OrganizationRef>) -> RepoResult<Session>;
    /// `Conflict("token_name")` when the user already has a token of that name.
    fn insert_api_key(&self, key: NewApiKey, now: DateTime<Utc>) -> RepoResult<ApiKey>;
    /// The key with this id, if any.
    fn api_key(&self, id: &str) -> RepoResult<Option<ApiKey>>;
    /// Records use, and slides a session forward; also marks the user as seen.
    fn refresh_api_key(&self, key: &ApiKey, refresh: KeyRefresh) -> RepoResult<()>;
    /// A user's named tokens (not its sessions), oldest first.
    fn tokens(&self, user: Uuid) -> RepoResult<Vec<ApiKey>>;
    /// Deletes one of the user's keys (a token, or a session at logout).
    fn delete_api_key(&self, user: Uuid, id: &str) -> RepoResult<()>;
}

/// What [`ApiKeyRepo::session`] read. The organization is looked up only for a key with a
/// live user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    /// The key, if one has this id.
    pub key: Option<ApiKey>,
    /// Its user, if the key has one that is not deleted.
    pub user: Option<User>,
    /// The organization asked for, if it exists and is not deleted.
    pub organization: Option<Organization>,
}

/// The last member stays while its organization exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("An organization must keep at least one member.")]
pub struct LastMember;

/// A member together with the user it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The membership: organization, roles, times.
    pub membership: Membership,
    /// The user who is the member.
    pub user: User,
}

/// Members of organizations and their roles there.
pub trait MembershipRepo {
    /// Ordered by username.
    fn members(&self, organization: Uuid) -> RepoResult<Vec<Member>>;
    /// `Conflict("user_id")` when already a member.
    fn add_member(&self, organization: Uuid, user: Uuid, now: DateTime<Utc>) -> RepoResult<Member>;
    /// Removes a member; refused for the last one.
    fn remove_member(&self, organization: Uuid, user: Uuid) -> OpResult<(), LastMember>;
    /// Replaces the member's explicit roles in the organization.
    fn set_member_roles(
        &self,
        organization: Uuid,
        user: Uuid,
        roles: &[OrgRole],
        now: DateTime<Utc>,
    ) -> RepoResult<Member>;
}

/// Provisioner keys: what daemons of an organization sign in with.
pub trait ProvisionerKeyRepo {
    /// `Conflict("name")` when the organization has a key of that name.
    fn create_provisioner_key(&self, new: &NewProvisionerKey, now: DateTime<Utc>) -> RepoResult<ProvisionerKey>;
    /// Oldest first.
    fn provisioner_keys(&self, organization: Uuid) -> RepoResult<Vec<ProvisionerKey>>;
    /// Deletes the organization's key of this name (lower-cased); `NotFound` when none.
    fn delete_provisioner_key(&self, organization: Uuid, name: &str) -> RepoResult<()>;
    /// The key of a live organization whose secret hashes to this, read together with the
    /// daemon a request names (kept only when this key registered it): a daemon's request is
    /// signed in with one look-up.
    fn daemon_sign_in(&self, hashed_secret: &[u8], daemon: Option<Uuid>) -> RepoResult<Option<DaemonSignIn>>;
}

/// A provisioner key as a daemon presented it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonSignIn {
    /// The key whose secret was presented.
    pub key: ProvisionerKey,
    /// The daemon the request named, when the key registered it; `None` when it named none,
    /// or one that does not exist or belongs to another key (which, for this key, is the same).
    pub daemon: Option<Uuid>,
}

/// Which daemons to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonFilter {
    /// Only these daemons (none: all).
    pub ids: Vec<Uuid>,
    /// Only daemons whose tags contain these.
    pub tags: TagFilter,
    /// `None`: no limit.
    pub limit: Option<u32>,
}

/// Provisioner daemons: registration, heartbeats and listing.
pub trait DaemonRepo {
    /// Registers the daemon `name` of the key's organization, or refreshes it if it exists.
    /// `NotFound` when the key is gone (deleted since the daemon signed in).
    fn register_daemon(&self, new: &NewDaemon, now: DateTime<Utc>) -> RepoResult<ProvisionerDaemon>;
    /// Marks a daemon of this key as seen. `NotFound` when it is not the key's.
    fn heartbeat(&self, daemon: Uuid, key: Uuid, now: DateTime<Utc>) -> RepoResult<()>;
    /// Newest first.
    fn daemons(&self, organization: Uuid, filter: &DaemonFilter) -> RepoResult<Vec<ProvisionerDaemon>>;
    /// The daemon with this id, if any.
    fn daemon(&self, id: Uuid) -> RepoResult<Option<ProvisionerDaemon>>;
}

/// Which jobs to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFilter {
    /// Only these jobs (none: all).
    pub ids: Vec<Uuid>,
    /// Only jobs in one of these statuses (none: all).
    pub statuses: Vec<JobStatus>,
    /// Only jobs whose tags contain these.
    pub tags: TagFilter,
    /// Only jobs this user created.
    pub initiator: Option<Uuid>,
    /// `None`: no limit.
    pub limit: Option<u32>,
    /// Only jobs listed after this one: how a long list is read a page at a time.
    pub after: Option<JobCursor>,
    /// What the caller may see: all jobs, or its own only.
    pub scope: JobScope,
}

/// A place in the job list, which runs newest first (creation time, then id, both
/// descending): a page ends at a job, and the next page starts after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobCursor {
    created_at: DateTime<Utc>,
    id: Uuid,
}

impl JobCursor {
    /// The place of `job` in the list.
    pub fn at(job: &ProvisionerJob) -> Self {
        Self { created_at: job.created_at, id: job.id }
    }

    /// When the job was created.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// The job's id, which orders jobs created at the same instant.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Whether `later` comes after this place in the list.
    pub fn precedes(&self, later: JobCursor) -> bool {
        (later.created_at, later.id) < (self.created_at, self.id)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn place(second: i64, id: u128) -> JobCursor {
        JobCursor { created_at: Utc.timestamp_opt(second, 0).unwrap(), id: Uuid::from_u128(id) }
    }

    #[test]
    fn the_list_runs_from_the_newest_job_and_ids_break_ties_downwards() {
        assert!(place(10, 1).precedes(place(9, 5)));
        assert!(!place(9, 5).precedes(place(10, 1)));
        assert!(place(10, 5).precedes(place(10, 4)));
        assert!(!place(10, 4).precedes(place(10, 5)));
        assert!(!place(10, 4).precedes(place(10, 4)), "a page starts after its cursor, not at it");
    }
}

/// A job with where it stands in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedJobView {
    /// The job.
    pub job: ProvisionerJob,
    /// Its place in the queue (zeros unless pending).
    pub queue: QueueInfo,
}

/// Why a daemon may not act on a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DaemonJobRefusal {
    /// Another daemon holds the job.
    #[error(transparent)]
    NotYours(#[from] NotYourJob),
    /// The job is over, or never started.
    #[error(transparent)]
    Finished(#[from] FinishRefusal),
}

/// What a daemon learns when it reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobUpdateOutcome {
    /// Cancellation was asked for: the daemon should stop and complete the job.
    pub canceled: bool,
}

/// Provisioner jobs: the queue, the daemon side of a job's life, its logs and the reaper.
pub trait JobRepo {
    /// Creates a pending job; returned with its place in the queue.
    fn create_job(&self, new: &NewJob, liveness: Liveness, now: DateTime<Utc>) -> RepoResult<QueuedJobView>;
    /// Newest first, with queue numbers against the daemons online `now`.
    fn jobs(
        &self,
        organization: Uuid,
        filter: &JobFilter,
        liveness: Liveness,
        now: DateTime<Utc>,
    ) -> RepoResult<Vec<QueuedJobView>>;
    /// The organization's job with this id, with its queue numbers against the daemons online `now`.
    fn job(
        &self,
        organization: Uuid,
        id: Uuid,
        liveness: Liveness,
        now: DateTime<Utc>,
    ) -> RepoResult<Option<QueuedJobView>>;
    /// `NotFound` when the organization has no such job.
    fn cancel_job(&self, organization: Uuid, id: Uuid, now: DateTime<Utc>) -> OpResult<ProvisionerJob, CancelRefusal>;
    /// Takes the oldest pending job this daemon can run, marking it started by the daemon;
    /// never hands one job to two daemons.
    fn acquire_job(&self, daemon: Uuid, now: DateTime<Utc>) -> RepoResult<Option<ProvisionerJob>>;
    /// Puts a job just acquired by `daemon` back in the queue, if the daemon has not touched
    /// it since (its client went away before hearing of it). Returns whether it did.
    fn release_job(&self, daemon: Uuid, job: Uuid) -> RepoResult<bool>;
    /// Appends logs within the budget and marks the job as alive.
    fn update_job(
        &self,
        daemon: Uuid,
        job: Uuid,
        logs: &[NewLogLine],
        budget: LogBudget,
        now: DateTime<Utc>,
    ) -> OpResult<JobUpdateOutcome, DaemonJobRefusal>;
    /// Ends a job the daemon holds: succeeded, or canceled if cancellation was asked for.
    fn complete_job(&self, daemon: Uuid, job: Uuid, now: DateTime<Utc>) -> OpResult<ProvisionerJob, DaemonJobRefusal>;
    /// Ends a job the daemon holds as failed, with this error and code.
    fn fail_job(
        &self,
        daemon: Uuid,
        job: Uuid,
        error: String,
        error_code: Option<String>,
        now: DateTime<Utc>,
    ) -> OpResult<ProvisionerJob, DaemonJobRefusal>;
    /// Someone follows the job's changes from now on, wherever they are made (another
    /// server's included). Called before the follower first reads the job, so that no change
    /// made after that read goes untold.
    fn follow_job(&self, job: Uuid) -> RepoResult<()>;
    /// Log lines with an id above `after`, oldest first.
    fn job_logs(&self, job: Uuid, after: i64) -> RepoResult<Vec<LogLine>>;
    /// Terminates pending and hung jobs past their time; returns what it reaped.
    fn reap_jobs(&self, reaper: Reaper, now: DateTime<Utc>) -> RepoResult<Vec<(Uuid, ReapVerdict)>>;
}
