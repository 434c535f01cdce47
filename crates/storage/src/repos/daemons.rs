use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use domain::provisioner::{DaemonJob, NewDaemon, ProvisionerDaemon, ProvisionerType, Tags, protocol};
use domain::repo::{DaemonFilter, DaemonRepo, RepoResult};
use uuid::Uuid;

use super::lower;
use super::organizations::find_live;
use super::tag_sets;
use crate::Store;
use crate::conn::AnyConnection;
use crate::convert::{id, join_list, naive, text, utc};
use crate::error::{ConflictOn, Fail};
use crate::rows::daemons::{DaemonRow, provisioners_of};
use crate::rows::job_documents::metadata_from_json;
use crate::rows::jobs::state_of;
use crate::schema::{provisioner_daemons, provisioner_jobs, provisioner_keys};

type Backend = <AnyConnection as Connection>::Backend;
type DaemonQuery = provisioner_daemons::BoxedQuery<'static, Backend>;

/// A daemon's latest job in one state: running (not completed) or finished.
fn daemon_job(conn: &mut AnyConnection, daemon: &str, finished: bool) -> Result<Option<DaemonJob>, Fail> {
    type JobColumns = (
        String,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
        Option<String>,
        Option<String>,
        String,
    );
    let query = provisioner_jobs::table.filter(provisioner_jobs::worker_id.eq(daemon)).into_boxed();
    let query = if finished {
        query.filter(provisioner_jobs::completed_at.is_not_null()).order(provisioner_jobs::completed_at.desc())
    } else {
        query.filter(provisioner_jobs::completed_at.is_null()).order(provisioner_jobs::started_at.desc())
    };
    let row: Option<JobColumns> = query
        .select((
            provisioner_jobs::id,
            provisioner_jobs::started_at,
            provisioner_jobs::completed_at,
            provisioner_jobs::canceled_at,
            provisioner_jobs::error,
            provisioner_jobs::error_code,
            provisioner_jobs::metadata,
        ))
        .first(conn)
        .optional()?;
    let Some((job_id, started_at, completed_at, canceled_at, error, error_code, metadata)) = row else {
        return Ok(None);
    };
    let metadata = metadata_from_json(&metadata)?;
    Ok(Some(DaemonJob {
        id: id(&job_id)?,
        status: state_of(started_at, completed_at, canceled_at, error, error_code).status(),
        template_name: metadata.template_name,
        template_icon: metadata.template_icon,
        template_display_name: metadata.template_display_name,
    }))
}

/// Daemons with their key's name, tags and jobs, newest first; those whose tags `keep`
/// refuses are left out before `limit` applies.
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
    let tags = tag_sets::load(conn, rows.iter().map(|(row, _)| &row.tag_set_id))?;
    let tags_of = |row: &DaemonRow| tags.get(&row.tag_set_id).cloned().ok_or_else(|| Fail::corrupt("missing tag set"));
    let mut kept = Vec::new();
    for (row, key_name) in rows {
        let tags = tags_of(&row)?;
        if keep(&tags) && limit.is_none_or(|limit| kept.len() < limit as usize) {
            kept.push((row, key_name, tags));
        }
    }
    kept.into_iter()
        .map(|(row, key_name, tags)| {
            Ok(ProvisionerDaemon {
                current_job: daemon_job(conn, &row.id, false)?,
                previous_job: daemon_job(conn, &row.id, true)?,
                id: id(&row.id)?,
                organization_id: id(&row.organization_id)?,
                key_id: id(&row.key_id)?,
                key_name,
                name: row.name,
                version: row.version,
                api_version: row.api_version,
                provisioners: provisioners_of(&row.provisioners),
                tags,
                created_at: utc(row.created_at),
                last_seen_at: utc(row.last_seen_at),
            })
        })
        .collect()
}

fn find(conn: &mut AnyConnection, daemon: Uuid) -> Result<Option<ProvisionerDaemon>, Fail> {
    Ok(load(conn, |q| q.filter(provisioner_daemons::id.eq(text(daemon))), |_| true, None)?.pop())
}

impl DaemonRepo for Store {
    fn register_daemon(&self, new: &NewDaemon, now: DateTime<Utc>) -> RepoResult<ProvisionerDaemon> {
        self.write(|conn, _| {
            let tag_set = tag_sets::ensure(conn, &new.tags)?;
            let provisioners = join_list(new.provisioners.iter().map(ProvisionerType::as_str));
            let same_name = provisioner_daemons::table
                .filter(provisioner_daemons::organization_id.eq(text(new.organization_id)))
                .filter(lower(provisioner_daemons::name).eq(new.name.to_lowercase()));
            let existing: Option<String> = same_name.select(provisioner_daemons::id).first(conn).optional()?;
            let daemon_id = match existing {
                Some(existing) => {
                    diesel::update(provisioner_daemons::table.find(&existing))
                        .set((
                            provisioner_daemons::key_id.eq(text(new.key_id)),
                            provisioner_daemons::version.eq(&new.version),
                            provisioner_daemons::provisioners.eq(&provisioners),
                            provisioner_daemons::tag_set_id.eq(&tag_set),
                            provisioner_daemons::last_seen_at.eq(naive(now)),
                        ))
                        .execute(conn)?;
                    existing
                }
                None => {
                    let fresh = text(Uuid::now_v7());
                    diesel::insert_into(provisioner_daemons::table)
                        .values((
                            provisioner_daemons::id.eq(&fresh),
                            provisioner_daemons::organization_id.eq(text(new.organization_id)),
                            provisioner_daemons::key_id.eq(text(new.key_id)),
                            provisioner_daemons::name.eq(&new.name),
                            provisioner_daemons::version.eq(&new.version),
                            provisioner_daemons::api_version.eq(protocol::API_VERSION),
                            provisioner_daemons::provisioners.eq(&provisioners),
                            provisioner_daemons::tag_set_id.eq(&tag_set),
                            provisioner_daemons::created_at.eq(naive(now)),
                            provisioner_daemons::last_seen_at.eq(naive(now)),
                        ))
                        .execute(conn)
                        .conflict_on("name")?;
                    fresh
                }
            };
            find(conn, id(&daemon_id)?)?.ok_or(Fail::NotFound)
        })
        .map_err(Into::into)
    }

    fn heartbeat(&self, daemon: Uuid, key: Uuid, now: DateTime<Utc>) -> RepoResult<()> {
        self.write(|conn, _| {
            let seen = diesel::update(
                provisioner_daemons::table
                    .filter(provisioner_daemons::id.eq(text(daemon)))
                    .filter(provisioner_daemons::key_id.eq(text(key))),
            )
            .set(provisioner_daemons::last_seen_at.eq(naive(now)))
            .execute(conn)?;
            if seen == 0 { Err(Fail::NotFound) } else { Ok(()) }
        })
        .map_err(Into::into)
    }

    fn daemons(&self, organization: Uuid, filter: &DaemonFilter) -> RepoResult<Vec<ProvisionerDaemon>> {
        self.read(|conn| {
            find_live(conn, organization)?;
            let ids: Vec<String> = filter.ids.iter().copied().map(text).collect();
            let in_organization = |q: DaemonQuery| {
                let q = q.filter(provisioner_daemons::organization_id.eq(text(organization)));
                if ids.is_empty() { q } else { q.filter(provisioner_daemons::id.eq_any(ids)) }
            };
            load(conn, in_organization, |tags| filter.tags.matches(tags), filter.limit)
        })
        .map_err(Into::into)
    }

    fn daemon(&self, daemon: Uuid) -> RepoResult<Option<ProvisionerDaemon>> {
        self.read(|conn| find(conn, daemon)).map_err(Into::into)
    }
}
