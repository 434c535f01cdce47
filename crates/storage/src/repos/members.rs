use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::membership::OrgRole;
use domain::organization::member_may_leave;
use domain::repo::{LastMember, Member, MembershipRepo, OpResult, RepoResult};
use uuid::Uuid;

use super::lower;
use super::organizations::{add_member_row, find_live};
use super::users::{UserWithRole, assemble, user_with_role};
use crate::Store;
use crate::conn::AnyConnection;
use crate::error::Fail;
use crate::rows::members::MemberRow;
use crate::schema::{organization_member_roles, organization_members, user_site_roles, users};
use crate::sql_types::{Id, Instant};

/// Members of a live organization (optionally just one user), ordered by username.
fn load<R>(conn: &mut AnyConnection, organization: Uuid, only: Option<Uuid>) -> Result<Vec<Member>, Fail<R>> {
    find_live(conn, organization)?;
    let mut query = organization_members::table
        .inner_join(users::table.left_join(user_site_roles::table))
        .filter(organization_members::organization_id.eq(Id(organization)))
        .into_boxed();
    if let Some(user) = only {
        query = query.filter(organization_members::user_id.eq(Id(user)));
    }
    let rows: Vec<(MemberRow, UserWithRole)> = query
        .order((lower(users::username), users::id))
        .select((MemberRow::as_select(), user_with_role()))
        .load(conn)?;
    // A member has one row per site role; its membership row is the same in each.
    let mut memberships: Vec<MemberRow> = Vec::new();
    let mut user_rows = Vec::with_capacity(rows.len());
    for (membership, user) in rows {
        if memberships.last().is_none_or(|last| last.user_id != membership.user_id) {
            memberships.push(membership);
        }
        user_rows.push(user);
    }
    let users = assemble(conn, user_rows)?;
    memberships
        .into_iter()
        .zip(users)
        .map(|(membership, user)| {
            let roles = user
                .memberships
                .iter()
                .find(|(id, _)| *id == organization)
                .map(|(_, roles)| roles.clone())
                .unwrap_or_default();
            Ok(Member { membership: membership.into_domain(roles), user })
        })
        .collect()
}

fn load_one<R>(conn: &mut AnyConnection, organization: Uuid, user: Uuid) -> Result<Member, Fail<R>> {
    load(conn, organization, Some(user))?.pop().ok_or(Fail::NotFound)
}

fn membership_of(organization: Uuid, user: Uuid) -> (Id, Id) {
    (Id(organization), Id(user))
}

impl MembershipRepo for Store {
    fn members(&self, organization: Uuid) -> RepoResult<Vec<Member>> {
        self.read(|conn| load(conn, organization, None)).map_err(Into::into)
    }

    fn add_member(&self, organization: Uuid, user: Uuid, now: DateTime<Utc>) -> RepoResult<Member> {
        self.write(|conn, _| {
            find_live(conn, organization)?;
            add_member_row(conn, organization, user, now)?;
            load_one(conn, organization, user)
        })
        .map_err(Into::into)
    }

    fn remove_member(&self, organization: Uuid, user: Uuid) -> OpResult<(), LastMember> {
        self.write(|conn, _| {
            load_one(conn, organization, user)?;
            let members: i64 = organization_members::table
                .filter(organization_members::organization_id.eq(Id(organization)))
                .count()
                .get_result(conn)?;
            if !member_may_leave(u64::try_from(members).unwrap_or(0)) {
                return Err(Fail::Refused(LastMember));
            }
            // Its roles go with it (ON DELETE CASCADE).
            diesel::delete(organization_members::table.find(membership_of(organization, user))).execute(conn)?;
            Ok(())
        })
        .map_err(Into::into)
    }

    fn set_member_roles(
        &self,
        organization: Uuid,
        user: Uuid,
        roles: &[OrgRole],
        now: DateTime<Utc>,
    ) -> RepoResult<Member> {
        self.write(|conn, _| {
            load_one(conn, organization, user)?;
            let (organization_id, user_id) = membership_of(organization, user);
            diesel::delete(
                organization_member_roles::table
                    .filter(organization_member_roles::organization_id.eq(organization_id))
                    .filter(organization_member_roles::user_id.eq(user_id)),
            )
            .execute(conn)?;
            for role in roles {
                diesel::insert_into(organization_member_roles::table)
                    .values((
                        organization_member_roles::organization_id.eq(organization_id),
                        organization_member_roles::user_id.eq(user_id),
                        organization_member_roles::role.eq(role.name()),
                    ))
                    .execute(conn)?;
            }
            diesel::update(organization_members::table.find(membership_of(organization, user)))
                .set(organization_members::updated_at.eq(Instant::from(now)))
                .execute(conn)?;
            load_one(conn, organization, user)
        })
        .map_err(Into::into)
    }
}
