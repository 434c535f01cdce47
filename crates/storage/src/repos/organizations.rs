use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::organization::{
    DeletionBlockers, DeletionRefusal, NewOrganization, Organization, OrganizationPatch, OrganizationRef,
    check_deletable, default_organization,
};
use domain::provisioner::JobStatus;
use domain::repo::{OpResult, OrganizationRepo, RepoResult};
use uuid::Uuid;

use super::lower;
use crate::Store;
use crate::conn::{AnyConnection, write_transaction};
use crate::error::{ConflictOn, Fail};
use crate::rows::organizations::OrganizationRow;
use crate::schema::{organization_members, organizations, provisioner_jobs, provisioner_keys};
use crate::sql_types::{Id, Instant};

/// Live organizations only: a deleted one is gone for every lookup, by id too.
fn live() -> organizations::BoxedQuery<'static, <AnyConnection as Connection>::Backend> {
    organizations::table.filter(organizations::deleted_at.is_null()).into_boxed()
}

/// Not boxed: each lookup is a statement of its own type, which the connection prepares once.
pub(crate) fn find<R>(conn: &mut AnyConnection, reference: &OrganizationRef) -> Result<Option<Organization>, Fail<R>> {
    let live = organizations::table.filter(organizations::deleted_at.is_null()).select(OrganizationRow::as_select());
    let row = match reference {
        OrganizationRef::Default => live.filter(organizations::is_default.eq(true)).first(conn).optional()?,
        OrganizationRef::Id(organization) => {
            live.filter(organizations::id.eq(Id(*organization))).first(conn).optional()?
        }
        OrganizationRef::Name(name) => {
            live.filter(lower(organizations::name).eq(name.clone())).first(conn).optional()?
        }
    };
    Ok(row.map(Organization::from))
}

pub(crate) fn find_live<R>(conn: &mut AnyConnection, organization: Uuid) -> Result<Organization, Fail<R>> {
    find(conn, &OrganizationRef::Id(organization))?.ok_or(Fail::NotFound)
}

/// Creates the default organization on first start. Two servers starting together may both
/// try; the one-default index lets exactly one succeed.
pub(crate) fn ensure_default(conn: &mut AnyConnection, now: DateTime<Utc>) -> Result<(), Fail> {
    write_transaction(conn, |conn| {
        if find::<std::convert::Infallible>(conn, &OrganizationRef::Default)?.is_some() {
            return Ok(());
        }
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
        let inserted = diesel::insert_into(organizations::table).values(OrganizationRow::from(&default)).execute(conn);
        match inserted.conflict_on("is_default") {
            Ok(_) | Err(Fail::Conflict(_)) => Ok(()),
            Err(other) => Err(other),
        }
    })
}

pub(crate) fn add_member_row<R>(
    conn: &mut AnyConnection,
    organization: Uuid,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<(), Fail<R>> {
    diesel::insert_into(organization_members::table)
        .values((
            organization_members::organization_id.eq(Id(organization)),
            organization_members::user_id.eq(Id(user)),
            organization_members::created_at.eq(Instant::from(now)),
            organization_members::updated_at.eq(Instant::from(now)),
        ))
        .execute(conn)
        .conflict_on("user_id")?;
    Ok(())
}

fn blockers(conn: &mut AnyConnection, organization: Uuid, deleter: Uuid) -> QueryResult<DeletionBlockers> {
    let organization = Id(organization);
    let other_members: i64 = organization_members::table
        .filter(organization_members::organization_id.eq(&organization))
        .filter(organization_members::user_id.ne(Id(deleter)))
        .count()
        .get_result(conn)?;
    let provisioner_keys: i64 =
        provisioner_keys::table.filter(provisioner_keys::organization_id.eq(&organization)).count().get_result(conn)?;
    let active: Vec<&str> = JobStatus::ALL.into_iter().filter(|s| s.is_active()).map(JobStatus::as_str).collect();
    let active_jobs: i64 = provisioner_jobs::table
        .filter(provisioner_jobs::organization_id.eq(&organization))
        .filter(provisioner_jobs::status.eq_any(active))
        .count()
        .get_result(conn)?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(DeletionBlockers {
        other_members: count(other_members),
        provisioner_keys: count(provisioner_keys),
        active_jobs: count(active_jobs),
    })
}

impl OrganizationRepo for Store {
    fn organizations(&self, visible: Option<&[Uuid]>) -> RepoResult<Vec<Organization>> {
        self.read(|conn| {
            let mut query = live();
            if let Some(visible) = visible {
                query = query.filter(organizations::id.eq_any(visible.iter().copied().map(Id)));
            }
            let rows = query
                .order((lower(organizations::name), organizations::name))
                .select(OrganizationRow::as_select())
                .load(conn)?;
            Ok(rows.into_iter().map(Organization::from).collect())
        })
        .map_err(Into::into)
    }

    fn organization(&self, reference: &OrganizationRef) -> RepoResult<Option<Organization>> {
        self.read(|conn| find(conn, reference)).map_err(Into::into)
    }

    fn create_organization(
        &self,
        new: &NewOrganization,
        creator: Uuid,
        now: DateTime<Utc>,
    ) -> RepoResult<Organization> {
        self.write(|conn, _| {
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
            diesel::insert_into(organizations::table)
                .values(OrganizationRow::from(&organization))
                .execute(conn)
                .conflict_on("name")?;
            add_member_row(conn, organization.id, creator, now)?;
            find_live(conn, organization.id)
        })
        .map_err(Into::into)
    }

    fn update_organization(&self, id: Uuid, patch: &OrganizationPatch, now: DateTime<Utc>) -> RepoResult<Organization> {
        self.write(|conn, _| {
            let changed = patch.apply_to(&find_live(conn, id)?, now);
            diesel::update(organizations::table.filter(organizations::id.eq(Id(id))))
                .set(OrganizationRow::from(&changed))
                .execute(conn)
                .conflict_on("name")?;
            find_live(conn, id)
        })
        .map_err(Into::into)
    }

    fn delete_organization(&self, id: Uuid, deleter: Uuid, now: DateTime<Utc>) -> OpResult<(), DeletionRefusal> {
        self.write(|conn, _| {
            let organization = find_live(conn, id)?;
            check_deletable(&organization, &blockers(conn, id, deleter)?).map_err(Fail::Refused)?;
            // Memberships go; jobs and everything else stay as history of a deleted tenant.
            diesel::delete(organization_members::table.filter(organization_members::organization_id.eq(Id(id))))
                .execute(conn)?;
            diesel::update(organizations::table.filter(organizations::id.eq(Id(id))))
                .set(organizations::deleted_at.eq(Some(Instant::from(now))))
                .execute(conn)?;
            Ok(())
        })
        .map_err(Into::into)
    }
}
