use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::provisioner::{DaemonJob, JobMetadata, NewDaemon, ProvisionerDaemon, ProvisionerType, Tags, protocol};
use domain::repo::{DaemonFilter, DaemonRepo, RepoResult};
use uuid::Uuid;

use super::lower;
use super::organizations::find_live;
use super::tag_sets;
use crate::Store;
use crate::conn::AnyConnection;
use crate::error::Fail;
use crate::rows::daemons::{DaemonRow, provisioners_of};
use crate::rows::job_documents::MetadataDocument;
use crate::rows::jobs::{StateColumns, state_of};
use crate::schema::{provisioner_daemon_provisioners, provisioner_daemons, provisioner_jobs, provisioner_keys};
use crate::sql_types::{Id, Instant, Json};

type Backend = <AnyConnection as Connection>::Backend;
type DaemonQuery = provisioner_daemons::BoxedQuery<'static, Backend>;

/// The provisioner types these daemons offer, by daemon.
pub(crate) fn provisioners(
    conn: &mut AnyConnection,
    daemons: impl IntoIterator<Item = Id>,
) -> QueryResult<HashMap<Id, Vec<ProvisionerType>>> {
    let daemons: Vec<Id> = daemons.into_iter().collect();
    let rows: Vec<(Id, String)> = provisioner_daemon_provisioners::table
        .filter(provisioner_daemon_provisioners::daemon_id.eq_any(daemons))
        .select((provisioner_daemon_provisioners::daemon_id, provisioner_daemon_provisioners::provisioner))
        .load(conn)?;
    let mut names: HashMap<Id, Vec<String>> = HashMap::new();
    for (daemon, provisioner) in rows {
        names.entry(daemon).or_default().push(provisioner);
    }
    Ok(names.into_iter().map(|(daemon, names)| (daemon, provisioners_of(names))).collect())
}

/// A daemon's latest job in one state: running (not completed) or finished.
fn daemon_job(conn: &mut AnyConnection, daemon: Id, finished: bool) -> Result<Option<DaemonJob>, Fail> {
    let query = provisioner_jobs::table.filter(provisioner_jobs::worker_id.eq(daemon)).into_boxed();
    let query = if finished {
        query.filter(provisioner_jobs::completed_at.is_not_null()).order(provisioner_jobs::completed_at.desc())
    } else {
        query.filter(provisioner_jobs::completed_at.is_null()).order(provisioner_jobs::started_at.desc())
    };
    let row: Option<(Id, StateColumns, Json<MetadataDocument>)> = query
        .select((
            provisioner_jobs::id,
            (
                provisioner_jobs::started_at,
                provisioner_jobs::completed_at,
                provisioner_jobs::canceled_at,
                provisioner_jobs::error,
                provisioner_jobs::error_code,
            ),
            provisioner_jobs::metadata,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|(job, state, Json(metadata))| {
        let metadata = JobMetadata::from(metadata);
        DaemonJob {
            id: job.0,
            status: state_of(state).status(),
            template_name: metadata.template_name,
            template_icon: metadata.template_icon,
            template_display_name: metadata.template_display_name,
        }
    }))
}

/// Daemons with their key's name, tags, provisioners and jobs, newest first; those whose tags
/// `keep` refuses are left out before `limit` applies.
fn load(
    conn: &mut AnyConnection,
    filter: impl FnOnce(DaemonQuery) -> DaemonQuery,
    keep: impl Fn(&Tags) -> bool,
    limit: Option<u32>,
) -> Result<Vec<ProvisionerDaemon>, Fail> {
    let rows: Vec<(DaemonRow, String)> = filter(provisioner_daemons::table.into_boxed())
        .inner_join(provisioner_keys::table)
        .order((provisioner_daemons::created_at.desc(), provisioner_daemons::id.desc()))
        .select((DaemonRow::as_select(), provisioner_keys::name))
        .load(conn)?;
    let tags = tag_sets::load(conn, rows.iter().map(|(row, _)| row.tag_set_id))?;
    let mut kept = Vec::new();
    for (row, key_name) in rows {
        let tags = tags.get(&row.tag_set_id).cloned().ok_or_else(|| Fail::corrupt("missing tag set"))?;
        if keep(&tags) && limit.is_none_or(|limit| kept.len() < limit as usize) {
            kept.push((row, key_name, tags));
        }
    }
    let mut provisioners = provisioners(conn, kept.iter().map(|(row, _, _)| row.id))?;
    kept.into_iter()
        .map(|(row, key_name, tags)| {
            Ok(ProvisionerDaemon {
                current_job: daemon_job(conn, row.id, false)?,
                previous_job: daemon_job(conn, row.id, true)?,
                provisioners: provisioners.remove(&row.id).unwrap_or_default(),
                id: row.id.0,
                organization_id: row.organization_id.0,
                key_id: row.key_id.0,
                key_name,
                name: row.name,
                version: row.version,
                api_version: row.api_version,
                tags,
                created_at: row.created_at.0,
                last_seen_at: row.last_seen_at.0,
            })
        })
        .collect()
}

fn find(conn: &mut AnyConnection, daemon: Id) -> Result<Option<ProvisionerDaemon>, Fail> {
    Ok(load(conn, |q| q.filter(provisioner_daemons::id.eq(daemon)), |_| true, None)?.pop())
}

/// Makes these, each once, the provisioner types the daemon offers.
fn replace_provisioners(conn: &mut AnyConnection, daemon: Id, offered: &[ProvisionerType]) -> QueryResult<()> {
    diesel::delete(
        provisioner_daemon_provisioners::table.filter(provisioner_daemon_provisioners::daemon_id.eq(daemon)),
    )
    .execute(conn)?;
    let mut names: Vec<&str> = offered.iter().map(ProvisionerType::as_str).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        diesel::insert_into(provisioner_daemon_provisioners::table)
            .values((
                provisioner_daemon_provisioners::daemon_id.eq(daemon),
                provisioner_daemon_provisioners::provisioner.eq(name),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// What a daemon can run: what a daemon waiting for a job is matched against new jobs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonProfile {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub provisioners: Vec<ProvisionerType>,
    pub tags: Tags,
}

impl Store {
    /// What this daemon can run, without its key, jobs and the rest a daemon's account reads:
    /// two statements, its tags coming from this server's copy of the tag sets.
    pub fn daemon_profile(&self, daemon: Uuid) -> RepoResult<Option<DaemonProfile>> {
        let id = Id(daemon);
        self.read(|conn| {
            let row: Option<(Id, Instant, Id)> = provisioner_daemons::table
                .find(id)
                .select((
                    provisioner_daemons::organization_id,
                    provisioner_daemons::created_at,
                    provisioner_daemons::tag_set_id,
                ))
                .first(conn)
                .optional()?;
            let Some((organization, created_at, tag_set)) = row else {
                return Ok(None);
            };
            let tags = self.index.tag_set(conn, tag_set)?;
            let provisioners = provisioners(conn, [id])?.remove(&id).unwrap_or_default();
            Ok(Some(DaemonProfile {
                id: daemon,
                organization_id: organization.0,
                created_at: created_at.0,
                provisioners,
                tags,
            }))
        })
        .map_err(Into::into)
    }
}

/// A daemon the database would not write: its key was deleted since it signed in (the key
/// is not found), or another of its name was registered meanwhile.
fn refused_daemon<R>(error: diesel::result::Error) -> Fail<R> {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => Fail::NotFound,
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => Fail::Conflict("name"),
        other => other.into(),
    }
}

impl DaemonRepo for Store {
    fn register_daemon(&self, new: &NewDaemon, now: DateTime<Utc>) -> RepoResult<ProvisionerDaemon> {
        self.write(|conn, events| {
            let tag_set = tag_sets::ensure(conn, &new.tags)?;
            let same_name = provisioner_daemons::table
                .filter(provisioner_daemons::organization_id.eq(Id(new.organization_id)))
                .filter(lower(provisioner_daemons::name).eq(lower(&new.name)));
            let existing: Option<(Id, Id)> =
                same_name.select((provisioner_daemons::id, provisioner_daemons::key_id)).first(conn).optional()?;
            let daemon = match existing {
                Some((existing, key)) => {
                    if key != Id(new.key_id) {
                        // Its old key no longer names it.
                        events.sign_ins_changed();
                    }
                    diesel::update(provisioner_daemons::table.find(existing))
                        .set((
                            provisioner_daemons::key_id.eq(Id(new.key_id)),
                            provisioner_daemons::version.eq(&new.version),
                            provisioner_daemons::tag_set_id.eq(tag_set),
                            provisioner_daemons::last_seen_at.eq(Instant::from(now)),
                        ))
                        .execute(conn)
                        .map_err(refused_daemon)?;
                    existing
                }
                None => {
                    let fresh = Id(Uuid::now_v7());
                    diesel::insert_into(provisioner_daemons::table)
                        .values((
                            provisioner_daemons::id.eq(fresh),
                            provisioner_daemons::organization_id.eq(Id(new.organization_id)),
                            provisioner_daemons::key_id.eq(Id(new.key_id)),
                            provisioner_daemons::name.eq(&new.name),
                            provisioner_daemons::version.eq(&new.version),
                            provisioner_daemons::api_version.eq(protocol::API_VERSION),
                            provisioner_daemons::tag_set_id.eq(tag_set),
                            provisioner_daemons::created_at.eq(Instant::from(now)),
                            provisioner_daemons::last_seen_at.eq(Instant::from(now)),
                        ))
                        .execute(conn)
                        .map_err(refused_daemon)?;
                    fresh
                }
            };
            replace_provisioners(conn, daemon, &new.provisioners)?;
            find(conn, daemon)?.ok_or(Fail::NotFound)
        })
        .map_err(Into::into)
    }

    fn heartbeat(&self, daemon: Uuid, key: Uuid, now: DateTime<Utc>) -> RepoResult<()> {
        self.write(|conn, _| {
            let seen = diesel::update(
                provisioner_daemons::table
                    .filter(provisioner_daemons::id.eq(Id(daemon)))
                    .filter(provisioner_daemons::key_id.eq(Id(key))),
            )
            .set(provisioner_daemons::last_seen_at.eq(Instant::from(now)))
            .execute(conn)?;
            if seen == 0 { Err(Fail::NotFound) } else { Ok(()) }
        })
        .map_err(Into::into)
    }

    fn daemons(&self, organization: Uuid, filter: &DaemonFilter) -> RepoResult<Vec<ProvisionerDaemon>> {
        self.read(|conn| {
            find_live(conn, organization)?;
            let ids: Vec<Id> = filter.ids.iter().copied().map(Id).collect();
            let in_organization = |q: DaemonQuery| {
                let q = q.filter(provisioner_daemons::organization_id.eq(Id(organization)));
                if ids.is_empty() { q } else { q.filter(provisioner_daemons::id.eq_any(ids)) }
            };
            load(conn, in_organization, |tags| filter.tags.matches(tags), filter.limit)
        })
        .map_err(Into::into)
    }

    fn daemon(&self, daemon: Uuid) -> RepoResult<Option<ProvisionerDaemon>> {
        self.read(|conn| find(conn, Id(daemon))).map_err(Into::into)
    }
}
