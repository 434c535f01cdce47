//! This server's copy of each organization's pending lines, so that queue numbers are read
//! without reading the queue.
//!
//! A copy is built from the database the first time an organization's numbers are asked for,
//! then kept current from the changes to the pending set:
//!
//! - On SQLite one process writes, under the database's write lock; each write applies its
//!   changes just before committing, so the copy sees them in commit order. A copy is built
//!   under the same lock, so no write is half-way when it is read.
//! - On PostgreSQL every write also sends its changes over NOTIFY, which the listener hears in
//!   commit order, this server's own included; that stream is what the copy follows. A write
//!   applies its own changes early as well, so that its client's next read sees them; the
//!   stream replays them in order a moment later. While the listener is away nothing is kept:
//!   numbers are counted from the database, and copies are rebuilt once it is back.
//!
//! If a commit fails after its changes were applied, the organization's copy is dropped.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::provisioner::{JobStatus, PendingLines, ProvisionerType, Tags};
use uuid::Uuid;

use crate::conn::{AnyConnection, write_transaction};
use crate::error::Fail;
use crate::group_commit::GroupWriter;
use crate::rows::jobs::is_pending;
use crate::schema::provisioner_jobs;
use crate::sql_types::{Id, Instant};
use crate::tag_catalog::TagCatalog;

/// A provisioner and a tag set: jobs of one kind are run by the same daemons.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Kind {
    pub(crate) provisioner: ProvisionerType,
    pub(crate) tag_set: Id,
}

/// A job entering or leaving the pending set of its organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingChange {
    pub(crate) organization: Uuid,
    pub(crate) kind: Kind,
    /// As stored (microseconds), so it orders exactly as the database does.
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) job: Uuid,
    pub(crate) entered: bool,
}

impl PendingChange {
    /// The change a job's move from `before` to `after` makes, if any.
    pub(crate) fn of_move(
        organization: Id,
        job: Id,
        created_at: Instant,
        provisioner: &str,
        tag_set: Id,
        before: Option<JobStatus>,
        after: JobStatus,
    ) -> Option<Self> {
        let was = before == Some(JobStatus::Pending);
        let is = after == JobStatus::Pending;
        (was != is).then(|| Self {
            organization: organization.0,
            kind: Kind { provisioner: ProvisionerType::from_stored(provisioner.to_owned()), tag_set },
            created_at: created_at.0,
            job: job.0,
            entered: is,
        })
    }

    fn apply(&self, lines: &mut PendingLines<Kind>) {
        if self.entered {
            lines.enter(&self.kind, self.created_at, self.job);
        } else {
            lines.leave(&self.kind, self.created_at, self.job);
        }
    }

    /// One line of text for NOTIFY: `+|-`, organization, job, microseconds, tag set, provisioner.
    pub(crate) fn encode(&self) -> String {
        format!(
            "{}{} {} {} {} {}",
            if self.entered { '+' } else { '-' },
            self.organization,
            self.job,
            self.created_at.timestamp_micros(),
            self.kind.tag_set.0,
            self.kind.provisioner.as_str(),
        )
    }

    pub(crate) fn decode(text: &str) -> Option<Self> {
        let entered = match text.chars().next()? {
            '+' => true,
            '-' => false,
            _ => return None,
        };
        let mut fields = text[1..].splitn(5, ' ');
        let organization = Uuid::try_parse(fields.next()?).ok()?;
        let job = Uuid::try_parse(fields.next()?).ok()?;
        let created_at = DateTime::from_timestamp_micros(fields.next()?.parse().ok()?)?;
        let tag_set = Id(Uuid::try_parse(fields.next()?).ok()?);
        let provisioner = ProvisionerType::from_stored(fields.next()?.to_owned());
        Some(Self { organization, kind: Kind { provisioner, tag_set }, created_at, job, entered })
    }
}

/// Where changes come from: see the module's documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Feed {
    /// SQLite: this process's writes are all the changes there are.
    LocalWrites,
    /// PostgreSQL: the listener's stream.
    Listener,
}

enum Held {
    /// Being read from the database; the changes heard meanwhile are replayed over it.
    Building {
        build: u64,
        heard: Vec<PendingChange>,
    },
    Ready(PendingLines<Kind>),
}

#[derive(Default)]
struct Copies {
    organizations: HashMap<Uuid, Held>,
    /// Whether changes are arriving: on PostgreSQL, whether the listener is connected.
    following: bool,
    next_build: u64,
}

pub(crate) struct QueueIndex {
    feed: Feed,
    /// SQLite's writer (so only with [`Feed::LocalWrites`]), whose turn a read of the pending
    /// set takes (see `read_pending`).
    writes: Option<Arc<GroupWriter>>,
    copies: RwLock<Copies>,
    /// The stored tag sets, which the pending changes keep current too.
    pub(crate) tags: TagCatalog,
}

/// The pending lines of one organization, held for reading.
pub(crate) struct LinesGuard<'a>(Guarded<'a>);

enum Guarded<'a> {
    /// The server's copy.
    Shared(RwLockReadGuard<'a, Copies>, Uuid),
    /// Read for this request alone.
    Own(PendingLines<Kind>),
}

impl LinesGuard<'_> {
    pub(crate) fn lines(&self) -> &PendingLines<Kind> {
        match &self.0 {
            Guarded::Shared(copies, organization) => match copies.organizations.get(organization) {
                Some(Held::Ready(lines)) => lines,
                // Never built so: a shared guard is only made over a ready copy.
                _ => empty(),
            },
            Guarded::Own(lines) => lines,
        }
    }
}

fn empty() -> &'static PendingLines<Kind> {
    static EMPTY: std::sync::OnceLock<PendingLines<Kind>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(PendingLines::default)
}

impl QueueIndex {
    pub(crate) fn new(feed: Feed, writes: Option<Arc<GroupWriter>>) -> Self {
        let copies = Copies { following: feed == Feed::LocalWrites, ..Copies::default() };
        Self { feed, writes, copies: RwLock::new(copies), tags: TagCatalog::new(feed == Feed::LocalWrites) }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Copies> {
        self.copies.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether every change is also heard from the listener, this server's own included.
    pub(crate) fn follows_listener(&self) -> bool {
        self.feed == Feed::Listener
    }

    /// A write's own changes, just before it commits.
    pub(crate) fn apply_own(&self, changes: &[PendingChange]) {
        if changes.is_empty() {
            return;
        }
        // On PostgreSQL a copy being built follows the stream alone (see the module docs).
        let buffer = self.feed == Feed::LocalWrites;
        self.apply(changes, buffer);
    }

    /// Changes heard from the listener, in commit order.
    pub(crate) fn apply_heard(&self, changes: &[PendingChange]) {
        self.apply(changes, true);
    }

    fn apply(&self, changes: &[PendingChange], buffer: bool) {
        self.tags.heard_of(changes.iter().filter(|change| change.entered).map(|change| change.kind.tag_set));
        let mut copies = self.write();
        for change in changes {
            match copies.organizations.get_mut(&change.organization) {
                Some(Held::Ready(lines)) => change.apply(lines),
                Some(Held::Building { heard, .. }) if buffer => heard.push(change.clone()),
                _ => {}
            }
        }
    }

    /// A write whose changes were applied did not commit (or may not have).
    pub(crate) fn forget(&self, organizations: impl IntoIterator<Item = Uuid>) {
        let mut copies = self.write();
        for organization in organizations {
            copies.organizations.remove(&organization);
        }
    }

    /// The listener connected (`true`: copies start afresh) or lost its connection (`false`:
    /// changes may be missed until it is back, so nothing is kept).
    pub(crate) fn following(&self, following: bool) {
        self.tags.following(following);
        let mut copies = self.write();
        copies.organizations.clear();
        copies.following = following;
    }

    /// The organization's pending lines: this server's copy, built first if need be.
    pub(crate) fn lines<R>(&self, conn: &mut AnyConnection, organization: Uuid) -> Result<LinesGuard<'_>, Fail<R>> {
        {
            let copies = self.copies.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(Held::Ready(_)) = copies.organizations.get(&organization) {
                return Ok(LinesGuard(Guarded::Shared(copies, organization)));
            }
        }
        let build = {
            let mut copies = self.write();
            // Nothing is kept while changes are not arriving, nor built twice at once.
            if copies.following && !copies.organizations.contains_key(&organization) {
                copies.next_build += 1;
                let build = copies.next_build;
                copies.organizations.insert(organization, Held::Building { build, heard: Vec::new() });
                Some(build)
            } else {
                None
            }
        };
        let read = self.read_pending(conn, organization);
        let mut lines = match read {
            Ok(lines) => lines,
            Err(error) => {
                if let Some(build) = build {
                    self.abandon(organization, build);
                }
                return Err(error);
            }
        };
        let Some(build) = build else {
            // Somebody else is building it, or changes are not arriving: use this reading once.
            return Ok(LinesGuard(Guarded::Own(lines)));
        };
        let mut copies = self.write();
        if let Some(held) = copies.organizations.get_mut(&organization)
            && let Held::Building { build: building, heard } = held
            && *building == build
        {
            heard.iter().for_each(|change| change.apply(&mut lines));
            *held = Held::Ready(lines);
            drop(copies);
            return self.lines(conn, organization);
        }
        // Dropped while we read (the listener came back, a commit failed): use it once.
        Ok(LinesGuard(Guarded::Own(lines)))
    }

    fn abandon(&self, organization: Uuid, build: u64) {
        let mut copies = self.write();
        if matches!(copies.organizations.get(&organization), Some(Held::Building { build: b, .. }) if *b == build) {
            copies.organizations.remove(&organization);
        }
    }

    /// Reads the pending set. On SQLite, under the write lock unless this connection already
    /// holds it (a write transaction): no write may be between applying and committing.
    fn read_pending<R>(&self, conn: &mut AnyConnection, organization: Uuid) -> Result<PendingLines<Kind>, Fail<R>> {
        let read = |conn: &mut AnyConnection| -> QueryResult<Vec<(Id, Instant, String, Id)>> {
            provisioner_jobs::table
                .filter(provisioner_jobs::organization_id.eq(Id(organization)))
                .filter(is_pending())
                .select((
                    provisioner_jobs::id,
                    provisioner_jobs::created_at,
                    provisioner_jobs::provisioner,
                    provisioner_jobs::tag_set_id,
                ))
                .load(conn)
        };
        let rows = match &self.writes {
            // In this process's turn between groups of writes: SQLite's own wait for the
            // lock polls, and could miss the moments between groups for as long as they last.
            Some(writes) if !crate::conn::in_transaction(conn) => {
                writes.between_groups(|| write_transaction(conn, read))?
            }
            _ => read(conn)?,
        };
        let mut lines = PendingLines::default();
        let mut provisioners: HashMap<String, ProvisionerType> = HashMap::new();
        for (job, created_at, provisioner, tag_set) in rows {
            let provisioner = provisioners
                .entry(provisioner)
                .or_insert_with_key(|name| ProvisionerType::from_stored(name.clone()))
                .clone();
            lines.enter(&Kind { provisioner, tag_set }, created_at.0, job.0);
        }
        Ok(lines)
    }

    /// The tags of these tag sets, read from the database the first time each is needed.
    pub(crate) fn tag_sets(
        &self,
        conn: &mut AnyConnection,
        ids: impl IntoIterator<Item = Id>,
    ) -> QueryResult<HashMap<Id, Tags>> {
        self.tags.tags_of(conn, ids)
    }

    /// The tags of one tag set a stored row names: a set that cannot be found is corrupt data.
    pub(crate) fn tag_set<R>(&self, conn: &mut AnyConnection, id: Id) -> Result<Tags, Fail<R>> {
        self.tag_sets(conn, [id])?.remove(&id).ok_or_else(|| Fail::corrupt("missing tag set"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_reads_back_from_its_notice() {
        let change = PendingChange {
            organization: Uuid::now_v7(),
            kind: Kind { provisioner: ProvisionerType::from_stored("terraform".into()), tag_set: Id(Uuid::now_v7()) },
            created_at: DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap_or_default(),
            job: Uuid::now_v7(),
            entered: false,
        };
        assert_eq!(PendingChange::decode(&change.encode()), Some(change.clone()));
        let entered = PendingChange { entered: true, ..change };
        assert_eq!(PendingChange::decode(&entered.encode()), Some(entered));
        assert_eq!(PendingChange::decode("?nonsense"), None);
        assert_eq!(PendingChange::decode("+not-a-uuid"), None);
    }
}
