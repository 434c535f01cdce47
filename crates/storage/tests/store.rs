//! Repository behaviour on both backends, against real databases.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use domain::authz::JobScope;
use domain::organization::{NewOrganization, OrganizationName, OrganizationPatch, OrganizationRef};
use domain::provisioner::{
    JobInput, JobMetadata, JobStatus, JobType, Liveness, LogBudget, LogLevel, LogSource, NewDaemon, NewJob, NewLogLine,
    NewProvisionerKey, ProvisionerKeyName, ProvisionerType, Reaper, TagFilter, Tags,
};
use domain::repo::*;
use domain::user::{Email, NewUser, UserRealName, Username};
use storage::testing::{Backend, TestDatabase};
use storage::{PoolOptions, Store};
use uuid::Uuid;

fn now() -> DateTime<Utc> {
    domain::time::truncate(Utc::now())
}

struct Fixture {
    store: Store,
    db: TestDatabase,
    owner: Uuid,
}

fn fixture(backend: Backend) -> Option<Fixture> {
    let db = TestDatabase::new(backend)?;
    let store = Store::open(db.url(), PoolOptions::default(), now()).unwrap_or_else(|e| panic!("{e}"));
    let (owner, _) = storage::testing::first_owner(&store);
    Some(Fixture { store, db, owner: owner.id })
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { if let Some(f) = super::fixture(storage::testing::Backend::Sqlite) { super::$name(f) } })*
        }
        mod postgres {
            $(#[test] fn $name() { if let Some(f) = super::fixture(storage::testing::Backend::Postgres) { super::$name(f) } })*
        }
    };
}

on_both_backends!(
    a_daemon_this_server_knows_takes_and_ends_its_jobs_in_one_statement_each,
    a_daemon_registered_again_with_other_tags_takes_by_its_new_tags,
    an_end_is_decided_from_the_job_as_stored_once_it_changed_after_it_was_handed_out,
    the_default_organization_exists_from_the_first_start,
    organization_names_are_unique_regardless_of_case,
    a_deleted_organization_is_gone_and_its_name_free,
    deletion_is_refused_while_members_keys_or_jobs_remain,
    the_first_user_can_be_created_once,
    names_and_emails_with_capitals_beyond_ascii_are_found_again,
    a_pending_job_gets_queue_numbers_from_online_daemons,
    acquire_takes_the_oldest_runnable_job_once,
    steps_asked_together_are_each_answered_as_if_alone,
    steps_asked_together_end_jobs_as_stored_when_they_changed_after_they_were_handed_out,
    daemons_asking_together_take_only_jobs_they_can_run,
    a_daemons_profile_agrees_with_its_account,
    logs_stop_at_the_budget_and_mark_the_job,
    the_reaper_fails_hung_jobs_with_coders_message,
    a_tag_filter_matches_jobs_whose_tags_contain_it,
    a_job_whose_answer_cannot_be_read_is_not_created,
    pages_after_a_cursor_read_the_whole_list_once,
    queue_numbers_stay_exact_through_every_change,
    a_session_names_memberships_of_live_organizations_only,
    a_kept_sign_in_follows_its_key_and_daemon,
    a_step_writes_its_daemons_sighting_once_it_is_due,
    a_step_leaves_a_daemons_row_alone_while_the_sighting_it_saw_is_fresh,
);

fn organization(f: &Fixture, name: &str) -> Uuid {
    let new = NewOrganization::new(
        OrganizationName::parse(name).unwrap_or_else(|e| panic!("{e}")),
        None,
        String::new(),
        String::new(),
    );
    f.store.create_organization(&new, f.owner, now()).unwrap_or_else(|e| panic!("{e}")).id
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    let raw: BTreeMap<String, String> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    Tags::normalise_for_organization(raw).unwrap_or_else(|e| panic!("{e}"))
}

fn job(f: &Fixture, organization: Uuid, pairs: &[(&str, &str)]) -> Uuid {
    job_at(f, organization, pairs, now())
}

fn job_at(f: &Fixture, organization: Uuid, pairs: &[(&str, &str)], created_at: DateTime<Utc>) -> Uuid {
    job_of_kind(f, organization, "echo", pairs, created_at)
}

fn job_of_kind(
    f: &Fixture,
    organization: Uuid,
    provisioner: &str,
    pairs: &[(&str, &str)],
    created_at: DateTime<Utc>,
) -> Uuid {
    let new = new_job(f, organization, provisioner, pairs);
    f.store.create_job(&new, Liveness::default(), created_at).unwrap_or_else(|e| panic!("{e}")).job.id
}

/// A template version import the owner asks for.
fn new_job(f: &Fixture, organization: Uuid, provisioner: &str, pairs: &[(&str, &str)]) -> NewJob {
    NewJob {
        organization_id: organization,
        initiator_id: f.owner,
        job_type: JobType::TemplateVersionImport,
        provisioner: ProvisionerType::parse("provisioner", provisioner).unwrap_or_else(|e| panic!("{e}")),
        file_id: None,
        tags: tags(pairs),
        input: JobInput::default(),
        metadata: JobMetadata::default(),
    }
}

fn daemon(f: &Fixture, organization: Uuid, name: &str, pairs: &[(&str, &str)]) -> Uuid {
    daemon_offering(f, organization, name, pairs, &["echo"])
}

fn daemon_offering(f: &Fixture, organization: Uuid, name: &str, pairs: &[(&str, &str)], offers: &[&str]) -> Uuid {
    let key = f
        .store
        .create_provisioner_key(
            &NewProvisionerKey {
                organization_id: organization,
                name: ProvisionerKeyName::parse(&format!("key-{name}")).unwrap_or_else(|e| panic!("{e}")),
                tags: tags(pairs),
                hashed_secret: name.as_bytes().to_vec(),
            },
            now(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let new = NewDaemon {
        organization_id: organization,
        key_id: key.id,
        name: name.into(),
        version: "test".into(),
        provisioners: offers
            .iter()
            .map(|offered| ProvisionerType::parse("provisioners", offered).unwrap_or_else(|e| panic!("{e}")))
            .collect(),
        tags: key.tags,
    };
    f.store.register_daemon(&new, now()).unwrap_or_else(|e| panic!("{e}")).id
}

fn all_jobs(f: &Fixture, organization: Uuid) -> Vec<QueuedJobView> {
    jobs_of(&f.store, organization)
}

/// Every job of the organization, as `store` answers.
fn jobs_of(store: &Store, organization: Uuid) -> Vec<QueuedJobView> {
    let filter = JobFilter {
        ids: vec![],
        statuses: vec![],
        tags: TagFilter::default(),
        initiator: None,
        limit: None,
        after: None,
        scope: JobScope::All,
    };
    store.jobs(organization, &filter, Liveness::default(), now()).unwrap_or_else(|e| panic!("{e}"))
}

fn the_default_organization_exists_from_the_first_start(f: Fixture) {
    let default = f.store.organization(&OrganizationRef::Default).unwrap_or_else(|e| panic!("{e}"));
    let default = default.unwrap_or_else(|| panic!("no default organization"));
    assert_eq!((default.name.as_str(), default.display_name.as_str(), default.is_default), ("coder", "Coder", true));
    assert_eq!(default.description, "Builtin default organization.");
    // Opening again (a restart) keeps exactly one.
    let again = Store::open(f.db.url(), PoolOptions::default(), now()).unwrap_or_else(|e| panic!("{e}"));
    let all = again.organizations(None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(all.iter().filter(|o| o.is_default).count(), 1);
}

fn organization_names_are_unique_regardless_of_case(f: Fixture) {
    organization(&f, "acme");
    let twin = NewOrganization::new(
        OrganizationName::parse("ACME").unwrap_or_else(|e| panic!("{e}")),
        None,
        String::new(),
        String::new(),
    );
    assert!(matches!(f.store.create_organization(&twin, f.owner, now()), Err(RepoError::Conflict("name"))));
    let other = organization(&f, "other");
    let rename = OrganizationPatch { name: OrganizationName::parse("Acme").ok(), ..Default::default() };
    assert!(matches!(f.store.update_organization(other, &rename, now()), Err(RepoError::Conflict("name"))));
    let found = f.store.organization(&OrganizationRef::Name("acme".into())).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(found.map(|o| o.name), Some("acme".to_owned()));
}

fn a_deleted_organization_is_gone_and_its_name_free(f: Fixture) {
    let acme = organization(&f, "acme");
    f.store.delete_organization(acme, f.owner, now()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(f.store.organization(&OrganizationRef::Id(acme)).unwrap_or_else(|e| panic!("{e}")), None);
    assert!(matches!(f.store.delete_organization(acme, f.owner, now()), Err(OpError::Repo(RepoError::NotFound))));
    let again = organization(&f, "acme");
    assert_ne!(again, acme);
}

fn deletion_is_refused_while_members_keys_or_jobs_remain(f: Fixture) {
    let acme = organization(&f, "acme");
    job(&f, acme, &[]);
    daemon(&f, acme, "d1", &[]);
    let refused = f.store.delete_organization(acme, f.owner, now());
    let Err(OpError::Refused(domain::organization::DeletionRefusal::StillInUse(blockers))) = refused else {
        panic!("expected a refusal, got {refused:?}");
    };
    assert_eq!((blockers.other_members, blockers.provisioner_keys, blockers.active_jobs), (0, 1, 1));
}

fn the_first_user_can_be_created_once(f: Fixture) {
    let again = NewUser {
        email: Email::parse("second@example.com").unwrap_or_else(|e| panic!("{e}")),
        username: Username::parse("second").unwrap_or_else(|e| panic!("{e}")),
        name: UserRealName::default(),
        hashed_password: "x".into(),
        site_roles: vec![],
        organization_ids: vec![],
    };
    assert!(matches!(f.store.create_first_user(&again, now()), Err(OpError::Refused(FirstUserExists))));
    let owner = f.store.user(&UserLookup::Id(f.owner)).unwrap_or_else(|e| panic!("{e}"));
    assert!(owner.is_some_and(|u| u.is_owner() && u.memberships.len() == 1));
}

/// Names and e-mails are compared as the unique indexes compare them, whatever the backend
/// folds (SQLite's `lower` folds ASCII only): a daemon registering again under a name with
/// a capital beyond ASCII is the same daemon, and such a user signs in with the e-mail given.
fn names_and_emails_with_capitals_beyond_ascii_are_found_again(f: Fixture) {
    let acme = organization(&f, "acme");
    let first = daemon(&f, acme, "Büro-Ä", &[]);
    let again = move_daemon_to_new_key(&f, acme, "Büro-Ä", "again", &[]);
    let registered = f.store.register_daemon(&again, now()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(registered.id, first, "registering the same name again refreshes the daemon");
    let user = |email: &str, username: &str| NewUser {
        email: Email::parse(email).unwrap_or_else(|e| panic!("{e}")),
        username: Username::parse(username).unwrap_or_else(|e| panic!("{e}")),
        name: UserRealName::default(),
        hashed_password: "x".into(),
        site_roles: vec![],
        organization_ids: vec![],
    };
    let created = f.store.create_user(&user("JÖRG@example.com", "joerg"), now()).unwrap_or_else(|e| panic!("{e}"));
    let found = f.store.user_for_login("JÖRG@example.com").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(found.map(|(user, _)| user.id), Some(created.id));
    let twin = f.store.create_user(&user("JÖRG@example.com", "joerg2"), now());
    assert!(matches!(twin, Err(OpError::Repo(RepoError::Conflict("email")))), "{twin:?}");
}

/// A membership can outlive its organization when it was added while the organization was
/// being deleted; the session must not count it (here the organization is marked deleted
/// behind the store's back, leaving the membership).
fn a_session_names_memberships_of_live_organizations_only(f: Fixture) {
    use diesel::connection::SimpleConnection;
    use domain::auth::{ApiToken, LoginType, NewApiKey};

    let (acme, globex) = (organization(&f, "acme"), organization(&f, "globex"));
    let token = ApiToken::from_parts("sessionkey", "abcdefghijklmnopqrstuv").unwrap_or_else(|e| panic!("{e}"));
    let new = NewApiKey::new(&token, f.owner, LoginType::Token, "t".into(), Duration::days(1));
    f.store.insert_api_key(new, now()).unwrap_or_else(|e| panic!("{e}"));
    let memberships = |named: Option<&OrganizationRef>| {
        let session = f.store.session(token.id(), named).unwrap_or_else(|e| panic!("{e}"));
        let user = session.user.unwrap_or_else(|| panic!("the key's user"));
        let mut ids: Vec<Uuid> = user.organization_ids().collect();
        ids.sort_unstable();
        (ids, session.organization.map(|o| o.id))
    };
    let default = f.store.organization(&OrganizationRef::Default).unwrap_or_else(|e| panic!("{e}")).map(|o| o.id);
    let mut all: Vec<Uuid> = [acme, globex].into_iter().chain(default).collect();
    all.sort_unstable();
    assert_eq!(memberships(Some(&OrganizationRef::Id(acme))), (all.clone(), Some(acme)));

    let mut conn = f.db.connect().unwrap_or_else(|e| panic!("{e}"));
    conn.batch_execute("UPDATE organizations SET deleted_at = updated_at WHERE name = 'acme'")
        .unwrap_or_else(|e| panic!("{e}"));
    all.retain(|id| *id != acme);
    assert_eq!(memberships(Some(&OrganizationRef::Id(acme))), (all.clone(), None));
    assert_eq!(memberships(None), (all, None));
}

fn a_pending_job_gets_queue_numbers_from_online_daemons(f: Fixture) {
    let acme = organization(&f, "acme");
    let ab = job(&f, acme, &[("a", "1"), ("b", "2")]);
    let a = job(&f, acme, &[("a", "1")]);
    let ac = job(&f, acme, &[("a", "1"), ("c", "3")]);
    let numbers = |f: &Fixture| {
        let views = all_jobs(f, acme);
        [ab, a, ac].map(|id| {
            let view = views.iter().find(|v| v.job.id == id).unwrap_or_else(|| panic!("missing job"));
            (view.queue.position, view.queue.size)
        })
    };
    assert_eq!(numbers(&f), [(0, 0); 3]);
    daemon(&f, acme, "d1", &[("a", "1"), ("b", "2")]);
    daemon(&f, acme, "d2", &[("a", "1")]);
    assert_eq!(numbers(&f), [(1, 2), (1, 2), (0, 0)]);
    daemon(&f, acme, "d3", &[("a", "1"), ("b", "2"), ("c", "3")]);
    assert_eq!(numbers(&f), [(1, 3), (1, 3), (3, 3)]);
}

fn acquire_takes_the_oldest_runnable_job_once(f: Fixture) {
    let acme = organization(&f, "acme");
    let gpu = job(&f, acme, &[("gpu", "yes")]);
    let plain = job(&f, acme, &[]);
    let untagged = daemon(&f, acme, "plain", &[]);
    let taken = f.store.acquire_job(untagged, now()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(taken.map(|j| (j.id, j.status(), j.worker_id)), Some((plain, JobStatus::Running, Some(untagged))));
    assert_eq!(f.store.acquire_job(untagged, now()).unwrap_or_else(|e| panic!("{e}")), None);
    let gpu_daemon = daemon(&f, acme, "gpu", &[("gpu", "yes")]);
    assert_eq!(f.store.acquire_job(gpu_daemon, now()).unwrap_or_else(|e| panic!("{e}")).map(|j| j.id), Some(gpu));
    let done = f.store.complete_job(untagged, plain, now()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.status(), JobStatus::Succeeded);
    let again = f.store.complete_job(untagged, plain, now());
    assert!(matches!(again, Err(OpError::Refused(DaemonJobRefusal::Finished(_)))));
    let not_mine = f.store.fail_job(untagged, gpu, "x".into(), None, now());
    assert!(matches!(not_mine, Err(OpError::Refused(DaemonJobRefusal::NotYours(_)))));
}

/// What a test asks of the store from a thread of its own.
enum Asked {
    Take(Uuid),
    End(Uuid, Uuid),
    Fail(Uuid, Uuid, &'static str),
}

#[derive(Debug)]
enum Answered {
    Taken(RepoResult<Option<domain::provisioner::ProvisionerJob>>),
    Ended(OpResult<domain::provisioner::ProvisionerJob, DaemonJobRefusal>),
}

impl Answered {
    /// The job a take got, if it got one.
    fn taken_job(&self) -> Option<Uuid> {
        match self {
            Self::Taken(Ok(Some(job))) => Some(job.id),
            _ => None,
        }
    }
}

fn ask(store: &Store, asked: Asked) -> std::thread::JoinHandle<Answered> {
    ask_at(store, asked, now())
}

/// [`ask`], the step asked at `at`.
fn ask_at(store: &Store, asked: Asked, at: DateTime<Utc>) -> std::thread::JoinHandle<Answered> {
    let store = store.clone();
    std::thread::spawn(move || match asked {
        Asked::Take(daemon) => Answered::Taken(store.acquire_job(daemon, at)),
        Asked::End(daemon, job) => Answered::Ended(store.complete_job(daemon, job, at)),
        Asked::Fail(daemon, job, error) => Answered::Ended(store.fail_job(daemon, job, error.into(), None, at)),
    })
}

fn answer(asking: std::thread::JoinHandle<Answered>) -> Answered {
    asking.join().unwrap_or_else(|_| panic!("a step panicked"))
}

/// Holds the database from another connection, so that a daemon's step waits (SQLite: its
/// write lock; PostgreSQL: every daemon's row), until `release`.
fn hold_daemons(f: &Fixture) -> impl FnOnce() {
    use diesel::connection::SimpleConnection;
    let mut holder = f.db.connect().unwrap_or_else(|e| panic!("{e}"));
    let held = match &mut holder {
        storage::conn::AnyConnection::Sqlite(conn) => conn.batch_execute("BEGIN IMMEDIATE"),
        storage::conn::AnyConnection::Postgresql(conn) => {
            conn.batch_execute("BEGIN; SELECT id FROM provisioner_daemons FOR UPDATE")
        }
    };
    held.unwrap_or_else(|e| panic!("{e}"));
    move || {
        let released = match &mut holder {
            storage::conn::AnyConnection::Sqlite(conn) => conn.batch_execute("COMMIT"),
            storage::conn::AnyConnection::Postgresql(conn) => conn.batch_execute("COMMIT"),
        };
        released.unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Steps asked together by daemons this server knows, ending jobs it handed out: each taker
/// gets its own job, oldest first, each end is written as decided, and the end of a job
/// canceled since it was handed out is answered from the job as stored, not as handed out.
fn steps_asked_together_end_jobs_as_stored_when_they_changed_after_they_were_handed_out(f: Fixture) {
    let acme = organization(&f, "acme");
    let start = now() - Duration::minutes(10);
    let jobs: Vec<Uuid> = (0..8).map(|n| job_at(&f, acme, &[], start + Duration::seconds(n))).collect();
    let daemons: Vec<Uuid> = (0..6).map(|n| daemon(&f, acme, &format!("d{n}"), &[])).collect();
    let registered = daemons.iter().map(|daemon| last_seen(&f, *daemon)).max().unwrap_or_else(now);
    let at = |millis| registered + Duration::milliseconds(millis);
    // The first five each take a job, so this server knows them and the jobs it handed out.
    for (daemon, job) in daemons.iter().zip(&jobs).take(5) {
        let taken = f.store.acquire_job(*daemon, at(10)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(taken.map(|job| job.id), Some(*job));
    }
    let canceling = f.store.cancel_job(acme, jobs[2], at(15)).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(canceling.status(), JobStatus::Canceling);
    let before = f.store.job_step_batches();

    let release = hold_daemons(&f);
    // The sixth was never marked by this server: its take goes the longer way, and waits.
    let leading = ask_at(&f.store, Asked::Take(daemons[5]), at(20));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let together = [
        Asked::End(daemons[0], jobs[0]),
        Asked::Take(daemons[1]),
        Asked::Fail(daemons[3], jobs[3], "it broke"),
        Asked::Take(daemons[4]),
        Asked::End(daemons[2], jobs[2]),
    ]
    .map(|asked| ask_at(&f.store, asked, at(30)));
    std::thread::sleep(std::time::Duration::from_millis(500));
    release();

    let taken_by = |answered: Answered, daemon: Uuid| match answered {
        Answered::Taken(Ok(Some(job))) => {
            assert_eq!(
                (job.status(), job.worker_id, job.state.started_at),
                (JobStatus::Running, Some(daemon), Some(at(30)))
            );
            job.id
        }
        other => panic!("{other:?}"),
    };
    let ended = |answered: Answered| match answered {
        Answered::Ended(Ok(job)) => (job.id, job.status(), job.state.error, job.worker_name),
        other => panic!("{other:?}"),
    };
    assert_eq!(answer(leading).taken_job(), Some(jobs[5]));
    let [done, second, failed, third, canceled] = together.map(answer);
    let mut taken = vec![taken_by(second, daemons[1]), taken_by(third, daemons[4])];
    taken.sort();
    assert_eq!(taken, jobs[6..8], "the next oldest, one each");
    assert_eq!(ended(done), (jobs[0], JobStatus::Succeeded, None, "d0".to_owned()));
    assert_eq!(ended(failed), (jobs[3], JobStatus::Failed, Some("it broke".to_owned()), "d3".to_owned()));
    assert_eq!(ended(canceled), (jobs[2], JobStatus::Canceled, None, "d2".to_owned()), "as stored");
    let after = f.store.job_step_batches();
    if f.db.backend() == Backend::Postgres {
        assert_eq!((after.batches - before.batches, after.steps - before.steps), (2, 6), "the five in one batch");
    }

    // As written, read back through another store.
    let reopened = Store::open(f.db.url(), PoolOptions::default(), now()).unwrap_or_else(|e| panic!("{e}"));
    let stored: Vec<(Uuid, JobStatus, Option<Uuid>)> =
        jobs_of(&reopened, acme).into_iter().map(|view| (view.job.id, view.job.status(), view.job.worker_id)).collect();
    // Each of the first six is held by the daemon that took it.
    for (job, holder) in jobs.iter().zip(&daemons) {
        assert!(stored.iter().any(|(id, _, worker)| id == job && *worker == Some(*holder)), "{stored:?}");
    }
    let status_of = |job: Uuid| stored.iter().find(|(id, ..)| *id == job).map(|(_, status, _)| *status);
    let statuses: Vec<_> = jobs.iter().map(|job| status_of(*job)).collect();
    let running = Some(JobStatus::Running);
    let expected = [
        Some(JobStatus::Succeeded),
        running,
        Some(JobStatus::Canceled),
        Some(JobStatus::Failed),
        running,
        running,
        running,
        running,
    ];
    assert_eq!(statuses, expected);
}

/// Daemons' steps asked while another step waits are run together (PostgreSQL: in one batch;
/// SQLite: each on its own, in one group commit), and each is answered as it would have been
/// alone: each taker its own job, oldest first; an end refused, or a daemon or job that does
/// not exist, changes nothing for the others.
fn steps_asked_together_are_each_answered_as_if_alone(f: Fixture) {
    let acme = organization(&f, "acme");
    let start = now() - Duration::minutes(10);
    let jobs: Vec<Uuid> = (0..7).map(|n| job_at(&f, acme, &[], start + Duration::seconds(n))).collect();
    let daemons: Vec<Uuid> = (0..6).map(|n| daemon(&f, acme, &format!("d{n}"), &[])).collect();
    for (daemon, job) in [(daemons[0], jobs[0]), (daemons[5], jobs[1])] {
        let taken = f.store.acquire_job(daemon, now()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(taken.map(|job| job.id), Some(job));
    }
    let before = f.store.job_step_batches();

    let release = hold_daemons(&f);
    let leading = ask(&f.store, Asked::Take(daemons[1]));
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Asked while the leading step's batch waits: these queue for the next one.
    let together = [
        Asked::Take(daemons[2]),
        Asked::End(daemons[4], jobs[0]),
        Asked::Take(Uuid::now_v7()),
        Asked::End(daemons[0], jobs[0]),
        Asked::Take(daemons[3]),
        Asked::End(daemons[4], Uuid::now_v7()),
        Asked::Fail(daemons[5], jobs[1], "it broke"),
    ]
    .map(|asked| ask(&f.store, asked));
    std::thread::sleep(std::time::Duration::from_millis(500));
    release();

    let taken_by = |answered: Answered, daemon: Uuid| match answered {
        Answered::Taken(Ok(Some(job))) => {
            assert_eq!((job.status(), job.worker_id), (JobStatus::Running, Some(daemon)));
            job.id
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(taken_by(answer(leading), daemons[1]), jobs[2]);
    let [second, not_yours, unknown_daemon, done, third, unknown_job, failed] = together.map(answer);
    let mut taken = vec![taken_by(second, daemons[2]), taken_by(third, daemons[3])];
    taken.sort();
    assert_eq!(taken, jobs[3..5], "the next oldest, one each");
    match failed {
        Answered::Ended(Ok(job)) => {
            assert_eq!(
                (job.id, job.status(), job.state.error.as_deref()),
                (jobs[1], JobStatus::Failed, Some("it broke"))
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(not_yours, Answered::Ended(Err(OpError::Refused(DaemonJobRefusal::NotYours(_))))),
        "{not_yours:?}"
    );
    assert!(matches!(unknown_daemon, Answered::Taken(Err(RepoError::NotFound))), "{unknown_daemon:?}");
    assert!(matches!(unknown_job, Answered::Ended(Err(OpError::Repo(RepoError::NotFound)))), "{unknown_job:?}");
    match done {
        Answered::Ended(Ok(job)) => {
            assert_eq!((job.id, job.status(), job.worker_id), (jobs[0], JobStatus::Succeeded, Some(daemons[0])));
        }
        other => panic!("{other:?}"),
    }
    let after = f.store.job_step_batches();
    let batched = (after.batches - before.batches, after.steps - before.steps);
    match f.db.backend() {
        Backend::Postgres => assert_eq!(batched, (2, 8), "one batch waited, one held the rest"),
        // Each step alone, the queued ones committed together by the group writer.
        Backend::Sqlite => assert_eq!(batched, (0, 0)),
    }

    // As written, read back through another store.
    let reopened = Store::open(f.db.url(), PoolOptions::default(), now()).unwrap_or_else(|e| panic!("{e}"));
    let stored: Vec<(Uuid, JobStatus, Option<Uuid>, Option<String>)> = jobs_of(&reopened, acme)
        .into_iter()
        .map(|view| (view.job.id, view.job.status(), view.job.worker_id, view.job.state.error))
        .collect();
    let holder_of =
        |job: Uuid| stored.iter().find(|(id, ..)| *id == job).map(|(_, status, worker, _)| (*status, *worker));
    assert_eq!(holder_of(jobs[0]), Some((JobStatus::Succeeded, Some(daemons[0]))));
    assert_eq!(holder_of(jobs[1]), Some((JobStatus::Failed, Some(daemons[5]))));
    let error_of = |job: Uuid| stored.iter().find(|(id, ..)| *id == job).and_then(|(.., error)| error.clone());
    assert_eq!((error_of(jobs[0]), error_of(jobs[1]).as_deref()), (None, Some("it broke")));
    assert_eq!(holder_of(jobs[2]), Some((JobStatus::Running, Some(daemons[1]))));
    for job in &jobs[3..5] {
        assert!(
            matches!(holder_of(*job), Some((JobStatus::Running, Some(worker))) if worker == daemons[2] || worker == daemons[3])
        );
    }
    for job in &jobs[5..] {
        assert_eq!(holder_of(*job), Some((JobStatus::Pending, None)));
    }
    reopened.close();
}

/// Daemons of one organization and tag set that offer different provisioners and ask at the
/// same moment each take the oldest job they can run, not one another's.
fn daemons_asking_together_take_only_jobs_they_can_run(f: Fixture) {
    let acme = organization(&f, "acme");
    let start = now() - Duration::minutes(10);
    let terraform = job_of_kind(&f, acme, "terraform", &[], start);
    let echo = job_of_kind(&f, acme, "echo", &[], start + Duration::seconds(1));
    let both = job_of_kind(&f, acme, "echo", &[], start + Duration::seconds(2));
    let echoes = daemon_offering(&f, acme, "echoes", &[], &["echo"]);
    let terraforms = daemon_offering(&f, acme, "terraforms", &[], &["terraform"]);
    let leader = daemon_offering(&f, acme, "leader", &[], &["echo", "terraform"]);

    let release = hold_daemons(&f);
    let leading = ask(&f.store, Asked::Take(leader));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let together = [Asked::Take(echoes), Asked::Take(terraforms)].map(|asked| ask(&f.store, asked));
    std::thread::sleep(std::time::Duration::from_millis(500));
    release();

    let taken = |answered: Answered| match answered {
        Answered::Taken(Ok(Some(job))) => (job.id, job.worker_id),
        other => panic!("{other:?}"),
    };
    // The leader can run either: the oldest, the Terraform job, is its own.
    assert_eq!(taken(answer(leading)), (terraform, Some(leader)));
    let [by_echoes, by_terraforms] = together.map(answer);
    assert_eq!(taken(by_echoes), (echo, Some(echoes)));
    assert!(matches!(by_terraforms, Answered::Taken(Ok(None))), "{by_terraforms:?}");
    let pending: Vec<Uuid> = all_jobs(&f, acme)
        .into_iter()
        .filter(|view| view.job.status() == JobStatus::Pending)
        .map(|view| view.job.id)
        .collect();
    assert_eq!(pending, vec![both]);
}

/// What a waiting daemon is matched with is what its full account says, and nothing for a
/// daemon that does not exist.
fn a_daemons_profile_agrees_with_its_account(f: Fixture) {
    let acme = organization(&f, "acme");
    let gpu = daemon(&f, acme, "gpu", &[("gpu", "a100")]);
    let account = f.store.daemon(gpu).unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|| panic!("registered"));
    let profile = f.store.daemon_profile(gpu).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        profile,
        Some(storage::DaemonProfile {
            id: gpu,
            organization_id: acme,
            created_at: account.created_at,
            provisioners: account.provisioners,
            tags: tags(&[("gpu", "a100")]),
        })
    );
    assert_eq!(f.store.daemon_profile(Uuid::now_v7()).unwrap_or_else(|e| panic!("{e}")), None);
}

fn logs_stop_at_the_budget_and_mark_the_job(f: Fixture) {
    let acme = organization(&f, "acme");
    let id = job(&f, acme, &[]);
    let worker = daemon(&f, acme, "d", &[]);
    f.store.acquire_job(worker, now()).unwrap_or_else(|e| panic!("{e}"));
    let line = |output: &str| NewLogLine {
        source: LogSource::Provisioner,
        level: LogLevel::Info,
        stage: "plan".into(),
        output: output.into(),
    };
    let budget = LogBudget { max_bytes: 10 };
    let outcome = f.store.update_job(worker, id, &[line("12345"), line("123456")], budget, now());
    assert_eq!(outcome.map(|o| o.canceled).ok(), Some(false));
    let logs = f.store.job_logs(id, 0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(logs.iter().map(|l| l.output.as_str()).collect::<Vec<_>>(), vec!["12345"]);
    let after = f.store.job_logs(id, logs[0].id).unwrap_or_else(|e| panic!("{e}"));
    assert!(after.is_empty());
    assert!(all_jobs(&f, acme)[0].job.logs_overflowed);
}

fn the_reaper_fails_hung_jobs_with_coders_message(f: Fixture) {
    let acme = organization(&f, "acme");
    let pending = job(&f, acme, &[("never", "runs")]);
    let running = job(&f, acme, &[]);
    let worker = daemon(&f, acme, "d", &[]);
    f.store.acquire_job(worker, now()).unwrap_or_else(|e| panic!("{e}"));
    let later = now() + Duration::minutes(31);
    let mut reaped = f.store.reap_jobs(Reaper::default(), later).unwrap_or_else(|e| panic!("{e}"));
    reaped.sort_by_key(|(id, _)| *id);
    assert_eq!(reaped.iter().map(|(id, _)| *id).collect::<Vec<_>>(), {
        let mut ids = vec![pending, running];
        ids.sort();
        ids
    });
    let views = all_jobs(&f, acme);
    for view in views {
        assert_eq!(view.job.status(), JobStatus::Failed);
        let error = view.job.state.error.unwrap_or_default();
        assert!(error.starts_with("Coder: Build has been detected as"), "{error}");
    }
    assert!(f.store.reap_jobs(Reaper::default(), later).unwrap_or_else(|e| panic!("{e}")).is_empty());
    let notice = f.store.job_logs(running, 0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(notice.len(), 5);
}

fn a_tag_filter_matches_jobs_whose_tags_contain_it(f: Fixture) {
    let acme = organization(&f, "acme");
    let one = job(&f, acme, &[("count", "1")]);
    job(&f, acme, &[("count", "2")]);
    let filter = JobFilter {
        ids: vec![],
        statuses: vec![JobStatus::Pending],
        tags: TagFilter([("count".to_owned(), "1".to_owned())].into()),
        initiator: Some(f.owner),
        limit: Some(50),
        after: None,
        scope: JobScope::All,
    };
    let found = f.store.jobs(acme, &filter, Liveness::default(), now()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(found.into_iter().map(|v| v.job.id).collect::<Vec<_>>(), vec![one]);
}

fn a_job_whose_answer_cannot_be_read_is_not_created(f: Fixture) {
    let acme = organization(&f, "acme");
    // The queue numbers of the answer read the daemons: take them away mid-flight.
    f.db.execute("ALTER TABLE provisioner_daemons RENAME TO provisioner_daemons_away");
    let new = new_job(&f, acme, "echo", &[]);
    let created = f.store.create_job(&new, Liveness::default(), now());
    assert!(created.is_err(), "{created:?}");
    f.db.execute("ALTER TABLE provisioner_daemons_away RENAME TO provisioner_daemons");
    assert_eq!(all_jobs(&f, acme), vec![], "an error was answered for a job that exists");
}

fn pages_after_a_cursor_read_the_whole_list_once(f: Fixture) {
    let acme = organization(&f, "acme");
    // Four jobs created in the same instant: only their ids order them.
    let instant = now();
    for n in 0..7 {
        job_at(&f, acme, &[], instant + chrono::Duration::seconds(i64::from(n >= 4)));
    }
    let whole: Vec<Uuid> = all_jobs(&f, acme).into_iter().map(|view| view.job.id).collect();
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let filter = JobFilter {
            ids: vec![],
            statuses: vec![],
            tags: TagFilter::default(),
            initiator: None,
            limit: Some(3),
            after,
            scope: JobScope::All,
        };
        let page = f.store.jobs(acme, &filter, Liveness::default(), now()).unwrap_or_else(|e| panic!("{e}"));
        let Some(last) = page.last() else { break };
        after = Some(JobCursor::at(&last.job));
        paged.extend(page.iter().map(|view| view.job.id));
    }
    assert_eq!(whole.len(), 7);
    assert_eq!(paged, whole);
}

/// Every job's `(id, position, size, workers)` as `store` answers, by id.
fn queue_of(store: &Store, organization: Uuid) -> Vec<(Uuid, u32, u32, Vec<Uuid>)> {
    let mut numbers: Vec<_> = jobs_of(store, organization)
        .into_iter()
        .map(|view| (view.job.id, view.queue.position, view.queue.size, view.queue.available_workers))
        .collect();
    numbers.sort();
    numbers
}

/// The numbers a server that has kept nothing yet gives: read from the database afresh.
fn fresh_queue_of(f: &Fixture, organization: Uuid) -> Vec<(Uuid, u32, u32, Vec<Uuid>)> {
    let store = Store::open(f.db.url(), PoolOptions::default(), now()).unwrap_or_else(|e| panic!("{e}"));
    let numbers = queue_of(&store, organization);
    store.close();
    numbers
}

/// The server keeps its queue numbers current from each change, never counting the queue
/// again: after every kind of change they equal a fresh count.
fn queue_numbers_stay_exact_through_every_change(f: Fixture) {
    let acme = organization(&f, "acme");
    let plain = daemon(&f, acme, "plain", &[]);
    daemon(&f, acme, "tagged", &[("a", "1")]);
    let jobs: Vec<Uuid> = (0..6).map(|n| job(&f, acme, if n % 2 == 0 { &[] } else { &[("a", "1")] })).collect();
    let check = |what: &str| {
        let kept = queue_of(&f.store, acme);
        assert!(kept.iter().any(|(_, position, _, _)| *position > 0) || what == "reaped", "{what}: no numbers");
        assert_eq!(kept, fresh_queue_of(&f, acme), "after {what}");
    };
    check("created");
    let taken = f.store.acquire_job(plain, now()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(taken.map(|job| job.id), Some(jobs[0]));
    check("acquired");
    f.store.cancel_job(acme, jobs[3], now()).unwrap_or_else(|e| panic!("{e}"));
    check("canceled");
    job(&f, acme, &[("a", "1")]);
    check("created again");
    f.store.complete_job(plain, jobs[0], now()).unwrap_or_else(|e| panic!("{e}"));
    check("completed");
    f.store.reap_jobs(Reaper::default(), now() + Duration::minutes(31)).unwrap_or_else(|e| panic!("{e}"));
    check("reaped");
}

/// Ends every other session on the test database, as an administrator (or a proxy's idle
/// limit) would.
fn end_other_sessions(url: &str) {
    use diesel::prelude::*;
    let mut admin = diesel::PgConnection::establish(url).unwrap_or_else(|e| panic!("{e}"));
    diesel::sql_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
    )
    .execute(&mut admin)
    .unwrap_or_else(|e| panic!("{e}"));
}

/// Pooled PostgreSQL connections are not asked `SELECT 1` before each use while they have
/// just answered; one whose session ended is found out, closed, and makes the others be
/// asked, so the store goes on answering.
#[test]
fn pooled_postgres_connections_whose_sessions_ended_are_replaced() {
    let Some(f) = fixture(Backend::Postgres) else { return };
    let read = || f.store.organization(&OrganizationRef::Default);
    assert!(read().is_ok_and(|found| found.is_some()));

    // At once: the connection that just answered may be used unasked and found dead, which
    // costs that one answer (the database is "unavailable" to it); the next one is served.
    end_other_sessions(f.db.url());
    let first = read();
    assert!(matches!(first, Ok(Some(_)) | Err(RepoError::Unavailable(_))), "{first:?}");
    let second = read();
    assert!(second.as_ref().is_ok_and(|found| found.is_some()), "{second:?}");

    // A moment later every connection is asked first: nothing is lost.
    end_other_sessions(f.db.url());
    std::thread::sleep(std::time::Duration::from_millis(400));
    let later = read();
    assert!(later.as_ref().is_ok_and(|found| found.is_some()), "{later:?}");
}

/// A daemon's pick reads the index of pending jobs alone, even when the statistics still count
/// every job as pending (as right after a burst of new jobs). The index of all of an
/// organization's jobs by age gives the same order, and was chosen then: each pick stepped over
/// every job already taken, and its cost grew with the organization's history.
#[test]
fn postgres_picks_read_the_index_of_pending_jobs_whatever_the_statistics_say() {
    let Some(f) = fixture(Backend::Postgres) else { return };
    let acme = organization(&f, "acme");
    let worker = daemon(&f, acme, "worker", &[]);
    let jobs: Vec<Uuid> = (0..120).map(|_| job(&f, acme, &[])).collect();
    f.db.execute("ANALYZE provisioner_jobs");
    let scans = |index: &str| f.db.index_scans(index);
    let (by_age_before, pending_before) = (scans("provisioner_jobs_org_created"), scans("provisioner_jobs_pending"));
    for expected in &jobs[..100] {
        let taken = f.store.acquire_job(worker, now()).unwrap_or_else(|e| panic!("{e}")).map(|j| j.id);
        assert_eq!(taken.as_ref(), Some(expected));
        f.store.complete_job(worker, *expected, now()).unwrap_or_else(|e| panic!("{e:?}"));
    }
    // A session reports its counts to the statistics when idle, within ten seconds or so.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while scans("provisioner_jobs_pending") < pending_before + 100 {
        assert!(std::time::Instant::now() < deadline, "the picks did not read the index of pending jobs");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(scans("provisioner_jobs_org_created"), by_age_before, "no pick read the index of all jobs by age");
}

/// A second server on the fixture's database, once its listener is connected, and what it
/// hears from then on (each event within 10 s, or the test fails).
fn second_server(f: &Fixture) -> (Store, impl Fn() -> storage::StoreEvent) {
    let other = Store::open(f.db.url(), PoolOptions::default(), now()).unwrap_or_else(|e| panic!("{e}"));
    let (heard, hearing) = std::sync::mpsc::channel();
    let heard = std::sync::Mutex::new(heard);
    other.subscribe(move |event| {
        let _ = heard.lock().map(|sender| sender.send(event));
    });
    let next = move || hearing.recv_timeout(std::time::Duration::from_secs(10)).unwrap_or_else(|e| panic!("{e}"));
    // Its listener announces itself once connected; from then on it keeps a copy.
    while next() != storage::StoreEvent::Resync {}
    (other, next)
}

/// Waits until `read` answers `expected`, for 5 s at most (then fails, naming `what` came
/// before): a second server follows the first's changes a moment after they are made.
fn eventually<T: PartialEq + std::fmt::Debug>(what: &str, expected: T, read: impl Fn() -> T) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let seen = read();
        if seen == expected {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "after {what}: {seen:?} != {expected:?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Waits until `listening` announces `job` entering the queue, and answers the announcement.
fn hear_queued(listening: &impl Fn() -> storage::StoreEvent, job: Uuid) -> storage::JobQueued {
    loop {
        if let storage::StoreEvent::JobQueued(queued) = listening()
            && queued.job == job
        {
            return queued;
        }
    }
}

/// Two servers on one PostgreSQL database: the second keeps its own copy of the queue, and
/// follows the first's changes through the notices.
#[test]
fn servers_on_one_postgres_database_agree_on_queue_numbers() {
    let Some(f) = fixture(Backend::Postgres) else { return };
    let (other, _) = second_server(&f);
    let acme = organization(&f, "acme");
    let plain = daemon(&f, acme, "plain", &[]);
    for n in 0..5 {
        job(&f, acme, if n % 2 == 0 { &[] } else { &[("a", "1")] });
    }
    let agree = |what: &str| eventually(what, fresh_queue_of(&f, acme), || queue_of(&other, acme));
    agree("created");
    f.store.acquire_job(plain, now()).unwrap_or_else(|e| panic!("{e}"));
    agree("acquired");
    let newest = job(&f, acme, &[]);
    agree("created on the first");
    f.store.cancel_job(acme, newest, now()).unwrap_or_else(|e| panic!("{e}"));
    agree("canceled");
    other.close();
}

/// A job of a tag set another server has never read reaches this one's waiters with its
/// tags, so that one daemon that can run it is woken rather than every one that might.
#[test]
fn a_job_from_another_server_is_announced_with_its_tags() {
    let Some(f) = fixture(Backend::Postgres) else { return };
    let (other, listening) = second_server(&f);
    let acme = organization(&f, "acme");
    let job = job(&f, acme, &[("gpu", "a100")]);
    let announced = hear_queued(&listening, job);
    assert_eq!(announced.tags, Some(tags(&[("gpu", "a100")])));
    other.close();
}

/// A job ended in one statement tells other servers only if someone follows it: a follower
/// on another server hears the end, and an end nobody follows wakes nobody there. Notices
/// arrive in the order of their commits, so the first end heard is the followed one.
#[test]
fn another_server_hears_a_job_end_in_one_statement_only_when_someone_follows_the_job() {
    let Some(f) = fixture(Backend::Postgres) else { return };
    let (other, listening) = second_server(&f);
    let acme = organization(&f, "acme");
    let worker = daemon(&f, acme, "worker", &[]);
    let registered = last_seen(&f, worker);
    let at = |millis| registered + Duration::milliseconds(millis);
    let jobs: Vec<Uuid> = (0..2).map(|n| job_at(&f, acme, &[], at(n))).collect();
    let before = f.store.job_step_batches();
    for (n, job) in jobs.iter().enumerate() {
        let step = 10 * i64::try_from(n).unwrap_or(0);
        let taken = f.store.acquire_job(worker, at(10 + step)).unwrap_or_else(|e| panic!("{e}")).map(|j| j.id);
        assert_eq!(taken.as_ref(), Some(job));
        if n == 1 {
            other.follow_job(*job).unwrap_or_else(|e| panic!("{e}"));
        }
        f.store.complete_job(worker, *job, at(15 + step)).unwrap_or_else(|e| panic!("{e:?}"));
    }
    let ended_in_one = f.store.job_step_batches().ended_in_one_statement - before.ended_in_one_statement;
    assert_eq!(ended_in_one, 2, "both ends were single statements");
    let heard = loop {
        if let storage::StoreEvent::JobChanged(job) = listening() {
            break job;
        }
    };
    assert_eq!(heard, jobs[1], "the end of {} nobody follows was told", jobs[0]);
    other.close();
}

/// PostgreSQL refuses, at the commit, any write that leaves a job in `status` (a deferred
/// constraint trigger); calling the answer lifts the refusal.
fn refuse_commits_leaving_jobs(f: &Fixture, status: &str) -> impl FnOnce() {
    use diesel::connection::SimpleConnection;

    let mut admin = f.db.connect().unwrap_or_else(|e| panic!("{e}"));
    let storage::conn::AnyConnection::Postgresql(conn) = &mut admin else { panic!("not PostgreSQL") };
    let refusal = format!("refuse_{status}");
    conn.batch_execute(&format!(
        "CREATE FUNCTION {refusal}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE 'refused'; END $$; \
         CREATE CONSTRAINT TRIGGER {refusal} AFTER UPDATE ON provisioner_jobs \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.status = '{status}') \
         EXECUTE FUNCTION {refusal}();"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    move || {
        let storage::conn::AnyConnection::Postgresql(conn) = &mut admin else { panic!("not PostgreSQL") };
        conn.batch_execute(&format!("DROP TRIGGER {refusal} ON provisioner_jobs")).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// A write whose connection the database ends during its `COMMIT` (here a deferred trigger
/// that terminates its own session at the commit) is answered as in doubt, not as refused or
/// unavailable: the server cannot know whether the commit was applied. Later writes succeed.
#[test]
fn a_commit_cut_off_by_the_database_going_away_is_in_doubt() {
    let Some(f) = fixture(Backend::Postgres) else { return };
    let acme = organization(&f, "acme");
    f.db.execute(
        "CREATE FUNCTION cut_off() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$; \
         CREATE CONSTRAINT TRIGGER cut_off AFTER INSERT ON provisioner_jobs \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cut_off();",
    );
    let new = new_job(&f, acme, "echo", &[]);
    let cut_off = f.store.create_job(&new, Liveness::default(), now());
    assert!(matches!(cut_off, Err(RepoError::InDoubt(_))), "{cut_off:?}");
    f.db.execute("DROP TRIGGER cut_off ON provisioner_jobs");
    let created = f.store.create_job(&new, Liveness::default(), now()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(all_jobs(&f, acme).iter().map(|job| job.job.id).collect::<Vec<_>>(), vec![created.job.id]);
}

/// A write whose commit fails leaves no echo behind: when the job it would have put back
/// enters the queue through another server, this server still wakes a daemon for it.
#[test]
fn a_failed_commit_leaves_no_echo_behind() {
    let Some(f) = fixture(Backend::Postgres) else { return };
    let (other, listening) = second_server(&f);
    let acme = organization(&f, "acme");
    let plain = daemon(&f, acme, "plain", &[]);
    let job = job(&f, acme, &[]);
    hear_queued(&listening, job);
    let taken = other.acquire_job(plain, now()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(taken.map(|j| j.id), Some(job));
    // The database refuses, at the commit, any job going back to the queue.
    let allow = refuse_commits_leaving_jobs(&f, "pending");
    assert!(other.release_job(plain, job).is_err(), "the commit was to fail");
    allow();
    assert_eq!(f.store.release_job(plain, job).ok(), Some(true));
    hear_queued(&listening, job);
    other.close();
}

/// A batch of steps whose commit fails fails every step in it, and leaves nothing written:
/// the job that was to end is still running, the one that was to be taken still waits.
#[test]
fn a_batch_of_steps_that_fails_to_commit_fails_each_step_and_writes_nothing() {
    let Some(f) = fixture(Backend::Postgres) else { return };
    let acme = organization(&f, "acme");
    let start = now() - Duration::minutes(10);
    let jobs: Vec<Uuid> = (0..3).map(|n| job_at(&f, acme, &[], start + Duration::seconds(n))).collect();
    let daemons: Vec<Uuid> = (0..3).map(|n| daemon(&f, acme, &format!("d{n}"), &[])).collect();
    let first = f.store.acquire_job(daemons[0], now()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.map(|job| job.id), Some(jobs[0]));
    // The database refuses, at the commit, any job that succeeds.
    let allow = refuse_commits_leaving_jobs(&f, "succeeded");

    let release = hold_daemons(&f);
    let leading = ask(&f.store, Asked::Take(daemons[2]));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let together = [Asked::End(daemons[0], jobs[0]), Asked::Take(daemons[1])].map(|asked| ask(&f.store, asked));
    std::thread::sleep(std::time::Duration::from_millis(500));
    release();

    assert!(matches!(answer(leading), Answered::Taken(Ok(Some(job))) if job.id == jobs[1]));
    let [ended, taken] = together.map(answer);
    assert!(matches!(ended, Answered::Ended(Err(OpError::Repo(RepoError::Other(_))))), "{ended:?}");
    assert!(matches!(taken, Answered::Taken(Err(RepoError::Other(_)))), "{taken:?}");
    allow();

    let stored: Vec<(Uuid, JobStatus, Option<Uuid>)> =
        all_jobs(&f, acme).into_iter().map(|view| (view.job.id, view.job.status(), view.job.worker_id)).collect();
    let state_of =
        |job: Uuid| stored.iter().find(|(id, _, _)| *id == job).map(|(_, status, worker)| (*status, *worker));
    assert_eq!(state_of(jobs[0]), Some((JobStatus::Running, Some(daemons[0]))));
    assert_eq!(state_of(jobs[2]), Some((JobStatus::Pending, None)));
    // Asked again alone, both steps go through.
    assert_eq!(
        f.store.complete_job(daemons[0], jobs[0], now()).map(|job| job.status()).ok(),
        Some(JobStatus::Succeeded)
    );
    assert_eq!(f.store.acquire_job(daemons[1], now()).ok().flatten().map(|job| job.id), Some(jobs[2]));
}

/// SQLite: writes that queue behind one another commit together, and one that fails in such
/// a group is undone alone, its neighbours kept.
#[test]
fn sqlite_writes_that_queue_share_a_commit_and_fail_alone() {
    use diesel::connection::SimpleConnection;

    let Some(f) = fixture(Backend::Sqlite) else {
        return;
    };
    organization(&f, "taken");
    let before = f.store.grouped_commits().unwrap_or_else(|| panic!("SQLite groups its commits"));
    // Another connection holds the database's write lock, so the first write waits for it
    // and the others queue behind that one.
    let mut holder = f.db.connect().unwrap_or_else(|e| panic!("{e}"));
    let diesel_holder = match &mut holder {
        storage::conn::AnyConnection::Sqlite(conn) => conn,
        storage::conn::AnyConnection::Postgresql(_) => panic!("not SQLite"),
    };
    diesel_holder.batch_execute("BEGIN IMMEDIATE").unwrap_or_else(|e| panic!("{e}"));
    let writes: Vec<_> = (0..12)
        .map(|i| {
            let store = f.store.clone();
            // Every third write asks for a name already taken.
            let name = if i % 3 == 0 { "taken".to_owned() } else { format!("group-{i}") };
            let owner = f.owner;
            std::thread::spawn(move || {
                let new = NewOrganization::new(
                    OrganizationName::parse(&name).unwrap_or_else(|e| panic!("{e}")),
                    None,
                    String::new(),
                    String::new(),
                );
                (name, store.create_organization(&new, owner, now()))
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(500));
    diesel_holder.batch_execute("COMMIT").unwrap_or_else(|e| panic!("{e}"));
    for write in writes {
        let (name, created) = write.join().unwrap_or_else(|_| panic!("a write panicked"));
        match name.as_str() {
            "taken" => assert!(matches!(created, Err(RepoError::Conflict("name"))), "{created:?}"),
            _ => assert!(created.is_ok(), "{name}: {created:?}"),
        }
    }
    let after = f.store.grouped_commits().unwrap_or_else(|| panic!("SQLite groups its commits"));
    assert_eq!(after.writes - before.writes, 12);
    assert!(after.commits - before.commits < 12, "{before:?} then {after:?}: every write committed alone");
    // Read back through another store: the kept writes are on disk, the refused ones left nothing.
    let reopened = Store::open(f.db.url(), PoolOptions::default(), now()).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<String> =
        reopened.organizations(None).unwrap_or_else(|e| panic!("{e}")).into_iter().map(|o| o.name).collect();
    assert_eq!(names.iter().filter(|name| name.starts_with("group-")).count(), 8);
    assert_eq!(names.iter().filter(|name| *name == "taken").count(), 1);
}

/// `secret`'s sign-in on `store`, naming `daemon`.
fn sign_in(store: &Store, secret: &str, daemon: Option<Uuid>) -> Option<DaemonSignIn> {
    store.daemon_sign_in(secret.as_bytes(), daemon).unwrap_or_else(|e| panic!("{e}"))
}

/// The daemon a sign-in names, `None` when refused.
fn signed_in_daemon(store: &Store, secret: &str, daemon: Uuid) -> Option<Option<Uuid>> {
    sign_in(store, secret, Some(daemon)).map(|signed_in| signed_in.daemon)
}

/// A key made for `daemon`'s organization with `secret` and the tags `pairs`, and `daemon`
/// registered with it again; answers that registration.
fn move_daemon_to_new_key(
    f: &Fixture,
    organization: Uuid,
    daemon_name: &str,
    secret: &str,
    pairs: &[(&str, &str)],
) -> NewDaemon {
    let key = f
        .store
        .create_provisioner_key(
            &NewProvisionerKey {
                organization_id: organization,
                name: ProvisionerKeyName::parse(&format!("key-{secret}")).unwrap_or_else(|e| panic!("{e}")),
                tags: tags(pairs),
                hashed_secret: secret.as_bytes().to_vec(),
            },
            now(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let again = NewDaemon {
        organization_id: organization,
        key_id: key.id,
        name: daemon_name.into(),
        version: "test".into(),
        provisioners: vec![ProvisionerType::parse("provisioners", "echo").unwrap_or_else(|e| panic!("{e}"))],
        tags: key.tags,
    };
    f.store.register_daemon(&again, now()).unwrap_or_else(|e| panic!("{e}"));
    again
}

/// A daemon's sign-in follows its key and daemon at once on the server that changes them,
/// kept or not: the daemon registered again with another key, a key deleted.
fn a_kept_sign_in_follows_its_key_and_daemon(f: Fixture) {
    let acme = organization(&f, "acme");
    let moving = daemon(&f, acme, "moving", &[]);
    // The second answer is the kept one.
    for _ in 0..2 {
        assert_eq!(signed_in_daemon(&f.store, "moving", moving), Some(Some(moving)));
    }
    let registration = move_daemon_to_new_key(&f, acme, "moving", "second", &[]);
    assert_eq!(signed_in_daemon(&f.store, "moving", moving), Some(None), "the first key no longer has it");
    for _ in 0..2 {
        assert_eq!(signed_in_daemon(&f.store, "second", moving), Some(Some(moving)));
    }
    f.store.delete_provisioner_key(acme, "key-second").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(signed_in_daemon(&f.store, "second", moving), None);
    assert_eq!(sign_in(&f.store, "second", None), None);
    assert!(sign_in(&f.store, "moving", None).is_some(), "the first key still signs in");
    // A daemon that signed in just before its key went registers with no key.
    let again = f.store.register_daemon(&registration, now());
    assert!(matches!(again, Err(RepoError::NotFound)), "{again:?}");
    let fresh = NewDaemon { name: "fresh".into(), ..registration };
    let fresh = f.store.register_daemon(&fresh, now());
    assert!(matches!(fresh, Err(RepoError::NotFound)), "{fresh:?}");
}

/// A sign-in another server keeps ends as soon as the notice of a change arrives, whoever
/// made the change: a store, or someone at a psql prompt (the database's triggers send it).
#[test]
fn a_sign_in_kept_by_another_server_ends_with_the_notice() {
    let Some(f) = fixture(Backend::Postgres) else { return };
    let (other, _) = second_server(&f);
    let acme = organization(&f, "acme");
    let until = |what: &str, secret: &str, moving: Uuid, expected: Option<Option<Uuid>>| {
        eventually(what, expected, || signed_in_daemon(&other, secret, moving))
    };
    let moving = daemon(&f, acme, "moving", &[]);
    for _ in 0..2 {
        assert_eq!(signed_in_daemon(&other, "moving", moving), Some(Some(moving)));
    }
    assert_eq!(other.daemon_sign_ins(), storage::DaemonSignIns { kept: 1, read: 1 });
    f.db.execute("DELETE FROM provisioner_keys WHERE name = 'key-moving'");
    until("a key deleted by hand", "moving", moving, None);

    let moving = daemon(&f, acme, "moving", &[]);
    assert_eq!(signed_in_daemon(&other, "moving", moving), Some(Some(moving)));
    move_daemon_to_new_key(&f, acme, "moving", "second", &[]);
    until("moving the daemon", "moving", moving, Some(None));
    until("moving the daemon", "second", moving, Some(Some(moving)));
    f.store.delete_provisioner_key(acme, "key-second").unwrap_or_else(|e| panic!("{e}"));
    until("deleting the key", "second", moving, None);
    other.close();
}

/// While a server's listener is away it may miss the notice of a change: what it kept is
/// dropped and nothing is kept until the listener is back, so a key deleted meanwhile is
/// refused even if its notice was lost.
#[test]
fn kept_sign_ins_do_not_outlive_the_listeners_absence() {
    let Some(f) = fixture(Backend::Postgres) else { return };
    let (other, listening) = second_server(&f);
    let acme = organization(&f, "acme");
    let moving = daemon(&f, acme, "moving", &[]);
    for _ in 0..2 {
        assert_eq!(signed_in_daemon(&other, "moving", moving), Some(Some(moving)));
    }
    assert_eq!(other.daemon_sign_ins().kept, 1);
    // The listeners' sessions end, and the key goes at once: its notice is sent before they
    // listen again, as often as not.
    f.db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN %'",
    );
    f.db.execute("DELETE FROM provisioner_keys WHERE name = 'key-moving'");
    while listening() != storage::StoreEvent::Resync {}
    assert_eq!(signed_in_daemon(&other, "moving", moving), None);
    other.close();
}

/// The daemon's last sighting, as stored.
fn last_seen(f: &Fixture, daemon: Uuid) -> DateTime<Utc> {
    f.store.daemon(daemon).unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|| panic!("no daemon")).last_seen_at
}

/// Taking and ending jobs mark a daemon seen, but write its sighting again only once the
/// stored one is a second old: within the second it stays as it was.
fn a_step_writes_its_daemons_sighting_once_it_is_due(f: Fixture) {
    let acme = organization(&f, "acme");
    let worker = daemon(&f, acme, "worker", &[]);
    let registered = last_seen(&f, worker);
    let first = job(&f, acme, &[]);
    job(&f, acme, &[]);
    let soon = registered + Duration::milliseconds(500);
    let taken = f.store.acquire_job(worker, soon).unwrap_or_else(|e| panic!("{e}")).map(|j| j.id);
    assert_eq!(taken, Some(first));
    assert_eq!(last_seen(&f, worker), registered, "a sighting half a second old is kept");
    let later = registered + Duration::milliseconds(1500);
    f.store.complete_job(worker, first, later).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(last_seen(&f, worker), later, "one past the second is written again");
    let within = later + Duration::milliseconds(999);
    assert!(f.store.acquire_job(worker, within).unwrap_or_else(|e| panic!("{e}")).is_some());
    assert_eq!(last_seen(&f, worker), later);
    let due = later + Duration::seconds(3);
    assert_eq!(f.store.acquire_job(worker, due).unwrap_or_else(|e| panic!("{e}")), None);
    assert_eq!(last_seen(&f, worker), due, "even a look that finds nothing");
    // Under a short window (1.5 s) a tenth of it is due: the daemon never looks offline.
    let short = f.store.clone().with_liveness(Liveness { stale_after: Duration::milliseconds(1500) });
    let tenth = due + Duration::milliseconds(200);
    assert_eq!(short.acquire_job(worker, tenth).unwrap_or_else(|e| panic!("{e}")), None);
    assert_eq!(last_seen(&f, worker), tenth);
}

/// Ending a job and sending logs skip the daemon's row while the sighting this server saw
/// committed is less than a second old. A heartbeat dated earlier moves the stored one back
/// (as a server whose clock is behind would), which tells a skipped marking from one that
/// rewrote the row unchanged: only a skipped one leaves the earlier sighting in place.
fn a_step_leaves_a_daemons_row_alone_while_the_sighting_it_saw_is_fresh(f: Fixture) {
    let acme = organization(&f, "acme");
    let worker = daemon(&f, acme, "worker", &[]);
    let key = f.store.provisioner_keys(acme).unwrap_or_else(|e| panic!("{e}")).remove(0).id;
    let registered = last_seen(&f, worker);
    let first = job(&f, acme, &[]);
    let second = job(&f, acme, &[]);
    let taken_at = registered + Duration::milliseconds(1500);
    let taken = f.store.acquire_job(worker, taken_at).unwrap_or_else(|e| panic!("{e}")).map(|j| (j.id, j.worker_name));
    assert_eq!(taken, Some((first, "worker".to_owned())));
    assert_eq!(last_seen(&f, worker), taken_at);
    f.store.heartbeat(worker, key, registered).unwrap_or_else(|e| panic!("{e}"));
    let ended = f.store.complete_job(worker, first, taken_at + Duration::milliseconds(500));
    let ended = ended.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(ended.worker_name, "worker", "the answer still names the daemon");
    assert_eq!(last_seen(&f, worker), registered, "a fresh sighting is not written");
    let line =
        NewLogLine { source: LogSource::Provisioner, level: LogLevel::Info, stage: "plan".into(), output: "x".into() };
    let budget = LogBudget { max_bytes: 1024 };
    f.store.acquire_job(worker, taken_at + Duration::milliseconds(600)).unwrap_or_else(|e| panic!("{e}"));
    // Taking a job marks the daemon whatever this server saw: the stored sighting is due.
    let marked = taken_at + Duration::milliseconds(600);
    assert_eq!(last_seen(&f, worker), marked);
    f.store.heartbeat(worker, key, registered).unwrap_or_else(|e| panic!("{e}"));
    let logged =
        f.store.update_job(worker, second, std::slice::from_ref(&line), budget, marked + Duration::milliseconds(900));
    assert_eq!(logged.map(|o| o.canceled).ok(), Some(false));
    assert_eq!(last_seen(&f, worker), registered, "nor by sending logs");
    // Once what this server saw is due, the row is marked again.
    let due = marked + Duration::milliseconds(1100);
    f.store.update_job(worker, second, &[line], budget, due).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(last_seen(&f, worker), due);
}

/// Whether the store runs daemons' steps as single statements, as PostgreSQL does.
fn in_one_statement(f: &Fixture) -> u64 {
    u64::from(f.db.backend() == Backend::Postgres)
}

/// Once a daemon was marked by this server, taking a job is one statement, and ending one
/// this server handed it is another that commits alone (PostgreSQL); the answers and the
/// queue are what the longer way leaves.
fn a_daemon_this_server_knows_takes_and_ends_its_jobs_in_one_statement_each(f: Fixture) {
    let acme = organization(&f, "acme");
    let worker = daemon(&f, acme, "worker", &[]);
    let registered = last_seen(&f, worker);
    let at = |millis| registered + Duration::milliseconds(millis);
    let jobs: Vec<Uuid> = (0..3).map(|n| job_at(&f, acme, &[], at(n))).collect();
    let before = f.store.job_step_batches();
    let first = f.store.acquire_job(worker, at(10)).unwrap_or_else(|e| panic!("{e}")).map(|j| j.id);
    assert_eq!(first, Some(jobs[0]));
    let done = f.store.complete_job(worker, jobs[0], at(20)).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        (done.status(), done.worker_name.as_str(), done.state.completed_at),
        (JobStatus::Succeeded, "worker", Some(at(20)))
    );
    let second = f.store.acquire_job(worker, at(30)).unwrap_or_else(|e| panic!("{e}"));
    let second = second.unwrap_or_else(|| panic!("the second job is not taken"));
    assert_eq!((second.id, second.status(), second.worker_id), (jobs[1], JobStatus::Running, Some(worker)));
    assert_eq!((second.worker_name.as_str(), second.state.started_at), ("worker", Some(at(30))));
    let failed = f.store.fail_job(worker, jobs[1], "boom".into(), Some("REQUIRED_TEMPLATE_VARIABLES".into()), at(40));
    let failed = failed.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        (failed.status(), failed.state.error.as_deref(), failed.state.error_code.as_deref()),
        (JobStatus::Failed, Some("boom"), Some("REQUIRED_TEMPLATE_VARIABLES"))
    );
    let after = f.store.job_step_batches();
    let one = in_one_statement(&f);
    assert_eq!(after.taken_in_one_statement - before.taken_in_one_statement, one, "the second take");
    assert_eq!(after.ended_in_one_statement - before.ended_in_one_statement, 2 * one, "both ends");
    // As stored: the two ended, the third waits first in line.
    let stored: Vec<_> =
        all_jobs(&f, acme).into_iter().map(|view| (view.job.id, view.job.status(), view.queue.position)).collect();
    assert!(stored.contains(&(jobs[0], JobStatus::Succeeded, 0)), "{stored:?}");
    assert!(stored.contains(&(jobs[1], JobStatus::Failed, 0)), "{stored:?}");
    assert!(stored.contains(&(jobs[2], JobStatus::Pending, 1)), "{stored:?}");
    // Ending it again is refused from the job as stored.
    let again = f.store.complete_job(worker, jobs[1], at(50));
    assert!(matches!(again, Err(OpError::Refused(DaemonJobRefusal::Finished(_)))), "{again:?}");
}

/// A daemon this server knows that registers again with other tags takes by them at once.
fn a_daemon_registered_again_with_other_tags_takes_by_its_new_tags(f: Fixture) {
    let acme = organization(&f, "acme");
    let worker = daemon(&f, acme, "worker", &[("color", "red")]);
    let red = job(&f, acme, &[("color", "red")]);
    let blue = job(&f, acme, &[("color", "blue")]);
    let also_red = job(&f, acme, &[("color", "red")]);
    let taken = f.store.acquire_job(worker, now()).unwrap_or_else(|e| panic!("{e}")).map(|j| j.id);
    assert_eq!(taken, Some(red));
    let blue_tags = move_daemon_to_new_key(&f, acme, "worker", "blue", &[("color", "blue")]).tags;
    let registered = f.store.daemon(worker).unwrap_or_else(|e| panic!("{e}")).map(|d| d.tags);
    assert_eq!(registered, Some(blue_tags), "the same daemon, now with the new key's tags");
    let taken = f.store.acquire_job(worker, now()).unwrap_or_else(|e| panic!("{e}")).map(|j| j.id);
    assert_eq!(taken, Some(blue), "not {also_red}, which the tags it had would run");
    assert_eq!(f.store.acquire_job(worker, now()).unwrap_or_else(|e| panic!("{e}")), None);
}

/// A job canceled after this server handed it out is ended as the job now stored says, not
/// as it was handed out.
fn an_end_is_decided_from_the_job_as_stored_once_it_changed_after_it_was_handed_out(f: Fixture) {
    let acme = organization(&f, "acme");
    let worker = daemon(&f, acme, "worker", &[]);
    let registered = last_seen(&f, worker);
    let at = |millis| registered + Duration::milliseconds(millis);
    let first = job_at(&f, acme, &[], at(0));
    job_at(&f, acme, &[], at(1));
    assert_eq!(f.store.acquire_job(worker, at(10)).unwrap_or_else(|e| panic!("{e}")).map(|j| j.id), Some(first));
    f.store.complete_job(worker, first, at(20)).unwrap_or_else(|e| panic!("{e:?}"));
    let second = f.store.acquire_job(worker, at(30)).unwrap_or_else(|e| panic!("{e}"));
    let second = second.unwrap_or_else(|| panic!("nothing taken")).id;
    let canceling = f.store.cancel_job(acme, second, at(40)).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(canceling.status(), JobStatus::Canceling);
    let before = f.store.job_step_batches();
    let ended = f.store.complete_job(worker, second, at(50)).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!((ended.status(), ended.state.canceled_at), (JobStatus::Canceled, Some(at(40))));
    assert_eq!(f.store.job_step_batches().ended_in_one_statement, before.ended_in_one_statement);
}

/// PostgreSQL over the loopback: a URL that says nothing of TLS connects without it, and one
/// that asks for it gets it (where the server offers TLS, as Debian's does by default).
#[test]
fn a_loopback_connection_goes_without_tls_unless_the_url_asks_for_it() {
    use diesel::prelude::*;

    let Some(f) = fixture(Backend::Postgres) else {
        return;
    };
    // Whether a connection made as the store makes it from `url` uses TLS, and whether the
    // server offers TLS at all.
    let over_tls = |url: &str| {
        let Ok(storage::DatabaseUrl::Postgres(url)) = storage::DatabaseUrl::parse(url) else {
            panic!("not a PostgreSQL URL: {url}");
        };
        let mut conn = diesel::PgConnection::establish(url.connecting()).unwrap_or_else(|e| panic!("{e}"));
        diesel::select(diesel::dsl::sql::<(diesel::sql_types::Bool, diesel::sql_types::Bool)>(
            "(SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), current_setting('ssl') = 'on'",
        ))
        .get_result::<(bool, bool)>(&mut conn)
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let url = f.db.url();
    let loopback = ["@127.0.0.1", "@localhost", "//127.0.0.1", "//localhost"].iter().any(|host| url.contains(host));
    if !loopback || url.contains("sslmode") {
        eprintln!("TEST_DATABASE_URL does not reach its server over the loopback, silent on TLS: nothing to check");
        return;
    }
    let (tls, offered) = over_tls(url);
    if !offered {
        eprintln!("the test server offers no TLS: nothing to check");
        return;
    }
    if std::env::var_os("PGSSLMODE").is_none() {
        assert!(!tls, "the URL said nothing of TLS");
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    assert_eq!(over_tls(&format!("{url}{separator}sslmode=require")), (true, true), "the URL asked for TLS");
}

/// SQLite: a server's first read of an organization's queue waits for a moment between
/// groups of writes; a steady stream of writers, each group kept open for the next, must
/// still leave it one.
#[test]
fn sqlite_queue_reads_are_not_starved_by_a_steady_stream_of_writes() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, mpsc};
    use std::time::Duration;

    let Some(f) = fixture(Backend::Sqlite) else {
        return;
    };
    let (busy, quiet) = (organization(&f, "busy"), organization(&f, "quiet"));
    // The quiet organization's jobs come from another server, so this one has read nothing of them.
    let other = Store::open(f.db.url(), PoolOptions::default(), now()).unwrap_or_else(|e| panic!("{e}"));
    let waiting: Vec<Uuid> = (0..5)
        .map(|_| {
            other
                .create_job(&new_job(&f, quiet, "echo", &[]), Liveness::default(), now())
                .unwrap_or_else(|e| panic!("{e}"))
                .job
                .id
        })
        .collect();
    other.close();

    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..6)
        .map(|_| {
            let (store, stop, job) = (f.store.clone(), Arc::clone(&stop), new_job(&f, busy, "echo", &[]));
            std::thread::spawn(move || {
                let mut written = 0_u32;
                while !stop.load(Ordering::SeqCst) {
                    store.create_job(&job, Liveness::default(), now()).unwrap_or_else(|e| panic!("{e}"));
                    written += 1;
                }
                written
            })
        })
        .collect();
    // The writers are under way, their groups held open for one another.
    let started = f.store.grouped_commits().unwrap_or_else(|| panic!("SQLite groups its commits"));
    eventually("the writers started", true, || {
        f.store.grouped_commits().is_some_and(|so_far| so_far.writes >= started.writes + 200)
    });
    let (answer, answered) = mpsc::channel();
    let store = f.store.clone();
    std::thread::spawn(move || {
        let _ = answer.send(queue_of(&store, quiet));
    });
    let numbers = answered.recv_timeout(Duration::from_secs(60));
    stop.store(true, Ordering::SeqCst);
    let written: u32 = writers.into_iter().map(|w| w.join().unwrap_or_else(|_| panic!("a writer panicked"))).sum();
    let numbers = numbers.unwrap_or_else(|_| panic!("the queue read waited a minute behind {written} writes"));
    assert_eq!(numbers.len(), waiting.len());
    assert_eq!(numbers, fresh_queue_of(&f, quiet));
}
