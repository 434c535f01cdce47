use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::membership::OrgRole;
use domain::organization::member_may_leave;
use domain::repo::{LastMember, Member, MembershipRepo, OpResult, RepoResult};
use uuid::Uuid;

use super::lower;
use super::organizations::{add_member_row, find_live};
use super::users::with_memberships;
use crate::Store;
use crate::conn::AnyConnection;
use crate::convert::{naive, text};
use crate::error::Fail;
use crate::rows::members::MemberRow;
use crate::rows::users::{UserRow, org_roles_column};
use crate::schema::{organization_members, users};

/// Members of a live organization (optionally just one user), ordered by username.
fn load<R>(conn: &mut AnyConnection, organization: Uuid, only: Option<Uuid>) -> Result<Vec<Member>, Fail<R>> {
    find_live(conn, organization)?;
    let mut query = organization_members::table
        .inner_join(users::table)
        .filter(organization_members::organization_id.eq(text(organization)))
        .into_boxed();
    if let Some(user) = only {
        query = query.filter(organization_members::user_id.eq(text(user)));
    }
    let rows: Vec<(MemberRow, UserRow)> =
        query.order(lower(users::username)).select((MemberRow::as_select(), UserRow::as_select())).load(conn)?;
    let (memberships, user_rows): (Vec<MemberRow>, Vec<UserRow>) = rows.into_iter().unzip();
    let users = with_memberships(conn, user_rows)?;
    memberships
        .into_iter()
        .zip(users)
        .map(|(membership, user)| Ok(Member { membership: membership.into_domain()?, user }))
        .collect()
}

fn load_one<R>(conn: &mut AnyConnection, organization: Uuid, user: Uuid) -> Result<Member, Fail<R>> {
    load(conn, organization, Some(user))?.pop().ok_or(Fail::NotFound)
}

fn membership_of(organization: Uuid, user: Uuid) -> (String, String) {
    (text(organization), text(user))
}

impl MembershipRepo for Store {
    fn members(&self, organization: Uuid) -> RepoResult<Vec<Member>> {
        self.read(|conn| load(conn, organization, None)).map_err(Into::into)
    }

    fn add_member(&self, organization: Uuid, user: Uuid, now: DateTime<Utc>) -> RepoResult<Member> {
        self.write(|conn, _| {
            find_live(conn, organization)?;
            add_member_row(conn, organization, user, String::new(), now)?;
            load_one(conn, organization, user)
        })
        .map_err(Into::into)
    }

    fn remove_member(&self, organization: Uuid, user: Uuid) -> OpResult<(), LastMember> {
        self.write(|conn, _| {
            load_one(conn, organization, user)?;
            let members: i64 = organization_members::table
                .filter(organization_members::organization_id.eq(text(organization)))
                .count()
                .get_result(conn)?;
            if !member_may_leave(u64::try_from(members).unwrap_or(0)) {
                return Err(Fail::Refused(LastMember));
            }
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
            diesel::update(organization_members::table.find(membership_of(organization, user)))
                .set((
                    organization_members::roles.eq(org_roles_column(roles)),
                    organization_members::updated_at.eq(naive(now)),
                ))
                .execute(conn)?;
            load_one(conn, organization, user)
        })
        .map_err(Into::into)
    }
}
