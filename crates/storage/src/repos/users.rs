use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::membership::{OrgRole, SiteRole};
use domain::organization::{OrganizationRef, member_may_leave};
use domain::repo::{FirstUserExists, OpResult, RepoResult, SoleMember, UnknownOrganization, UserLookup, UserRepo};
use domain::user::{NewUser, User, UserStatus, onboarding};
use uuid::Uuid;

use super::lower;
use super::organizations::{add_member_row, find};
use crate::Store;
use crate::conn::AnyConnection;
use crate::convert::{id, naive, text};
use crate::error::{ConflictOn, Fail};
use crate::rows::users::{UserRow, org_roles, site_roles_column};
use crate::schema::{api_keys, organization_members, organizations, users};

type Memberships = BTreeMap<String, Vec<(Uuid, Vec<OrgRole>)>>;

/// The live memberships of these users, by user id.
fn memberships<R>(conn: &mut AnyConnection, user_ids: &[String]) -> Result<Memberships, Fail<R>> {
    let rows: Vec<(String, String, String)> = organization_members::table
        .inner_join(organizations::table)
        .filter(organizations::deleted_at.is_null())
        .filter(organization_members::user_id.eq_any(user_ids))
        .order(organization_members::organization_id)
        .select((organization_members::user_id, organization_members::organization_id, organization_members::roles))
        .load(conn)?;
    let mut by_user = Memberships::new();
    for (user, organization, roles) in rows {
        by_user.entry(user).or_default().push((id(&organization)?, org_roles(&roles)?));
    }
    Ok(by_user)
}

/// Users with their memberships, in the order of `rows`.
pub(crate) fn with_memberships<R>(conn: &mut AnyConnection, rows: Vec<UserRow>) -> Result<Vec<User>, Fail<R>> {
    let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
    let mut memberships = memberships(conn, &ids)?;
    rows.into_iter()
        .map(|row| {
            let memberships = memberships.remove(&row.id).unwrap_or_default();
            row.into_domain(memberships)
        })
        .collect()
}

/// Users not deleted: a deleted user is gone for every lookup.
fn live() -> users::BoxedQuery<'static, <AnyConnection as Connection>::Backend> {
    users::table.filter(users::deleted_at.is_null()).into_boxed()
}

pub(crate) fn find_user<R>(conn: &mut AnyConnection, lookup: &UserLookup) -> Result<Option<User>, Fail<R>> {
    let query = live().select(UserRow::as_select());
    let query = match lookup {
        UserLookup::Id(user) => query.filter(users::id.eq(text(*user))),
        UserLookup::Username(username) => query.filter(lower(users::username).eq(username.clone())),
    };
    let row = query.first(conn).optional()?;
    Ok(with_memberships(conn, row.into_iter().collect())?.pop())
}

fn user_by_id<R>(conn: &mut AnyConnection, user: Uuid) -> Result<User, Fail<R>> {
    find_user(conn, &UserLookup::Id(user))?.ok_or(Fail::NotFound)
}

/// Inserts the user and its memberships; the caller holds the write transaction.
fn insert_user(conn: &mut AnyConnection, new: &NewUser, now: DateTime<Utc>) -> Result<User, Fail<UnknownOrganization>> {
    let taken = |column: &'static str, value: &str, conn: &mut AnyConnection| -> QueryResult<bool> {
        let query = live().select(users::id);
        let query = match column {
            "email" => query.filter(lower(users::email).eq(value.to_lowercase())),
            _ => query.filter(lower(users::username).eq(value.to_lowercase())),
        };
        Ok(query.first::<String>(conn).optional()?.is_some())
    };
    if taken("username", new.username.as_str(), conn)? {
        return Err(Fail::Conflict("username"));
    }
    if taken("email", new.email.as_str(), conn)? {
        return Err(Fail::Conflict("email"));
    }
    let user_id = Uuid::now_v7();
    diesel::insert_into(users::table)
        .values((
            users::id.eq(text(user_id)),
            users::email.eq(new.email.as_str()),
            users::username.eq(new.username.as_str()),
            users::name.eq(new.name.as_str()),
            users::hashed_password.eq(&new.hashed_password),
            users::status.eq(UserStatus::Active.as_str()),
            users::site_roles.eq(site_roles_column(&new.site_roles)),
            users::created_at.eq(naive(now)),
            users::updated_at.eq(naive(now)),
            users::last_seen_at.eq(naive(now)),
        ))
        .execute(conn)
        .conflict_on("username")?;
    for reference in onboarding::organizations_to_join(&new.organization_ids) {
        let requested = match reference {
            OrganizationRef::Id(id) => id,
            _ => Uuid::nil(),
        };
        let organization = find(conn, &reference)?.ok_or(Fail::Refused(UnknownOrganization(requested)))?;
        add_member_row(conn, organization.id, user_id, String::new(), now).or_else(|fail| {
            match fail {
                // The default organization named by its id and as the default.
                Fail::Conflict(_) => Ok(()),
                other => Err(other),
            }
        })?;
    }
    user_by_id(conn, user_id)
}

fn delete(conn: &mut AnyConnection, user: Uuid, now: DateTime<Utc>) -> Result<(), Fail<SoleMember>> {
    let found = user_by_id(conn, user)?;
    for (organization, _) in &found.memberships {
        let members: i64 = organization_members::table
            .filter(organization_members::organization_id.eq(text(*organization)))
            .count()
            .get_result(conn)?;
        if !member_may_leave(u64::try_from(members).unwrap_or(0)) {
            let name = find(conn, &OrganizationRef::Id(*organization))?.map(|o| o.name).unwrap_or_default();
            return Err(Fail::Refused(SoleMember { organization: name }));
        }
    }
    let id = text(user);
    diesel::delete(organization_members::table.filter(organization_members::user_id.eq(&id))).execute(conn)?;
    diesel::delete(api_keys::table.filter(api_keys::user_id.eq(&id))).execute(conn)?;
    diesel::update(users::table.find(&id)).set(users::deleted_at.eq(Some(naive(now)))).execute(conn)?;
    Ok(())
}

fn set_column<R>(
    conn: &mut AnyConnection,
    user: Uuid,
    change: impl FnOnce(&mut AnyConnection, String) -> QueryResult<usize>,
) -> Result<User, Fail<R>> {
    if change(conn, text(user))? == 0 {
        return Err(Fail::NotFound);
    }
    user_by_id(conn, user)
}

impl UserRepo for Store {
    fn has_users(&self) -> RepoResult<bool> {
        self.read(|conn| Ok(users::table.select(users::id).first::<String>(conn).optional()?.is_some()))
            .map_err(Into::into)
    }

    fn create_first_user(&self, new: &NewUser, now: DateTime<Utc>) -> OpResult<(User, Uuid), FirstUserExists> {
        self.write(|conn, _| {
            if users::table.select(users::id).first::<String>(conn).optional()?.is_some() {
                return Err(Fail::Refused(FirstUserExists));
            }
            let first = onboarding::first_user(new.clone());
            // Only a missing default organization could be refused here: a broken setup.
            let user = insert_user(conn, &first, now).map_err(|fail| fail.map_refusal(|_| Fail::NotFound))?;
            let default = find(conn, &OrganizationRef::Default)?.ok_or(Fail::NotFound)?;
            Ok((user, default.id))
        })
        .map_err(Into::into)
    }

    fn create_user(&self, new: &NewUser, now: DateTime<Utc>) -> OpResult<User, UnknownOrganization> {
        self.write(|conn, _| insert_user(conn, new, now)).map_err(Into::into)
    }

    fn users(&self) -> RepoResult<Vec<User>> {
        self.read(|conn| {
            let rows = live().order(lower(users::username)).select(UserRow::as_select()).load(conn)?;
            with_memberships(conn, rows)
        })
        .map_err(Into::into)
    }

    fn user(&self, lookup: &UserLookup) -> RepoResult<Option<User>> {
        self.read(|conn| find_user(conn, lookup)).map_err(Into::into)
    }

    fn user_for_login(&self, email: &str) -> RepoResult<Option<(User, String)>> {
        self.read(|conn| {
            let found: Option<(UserRow, String)> = live()
                .filter(lower(users::email).eq(email.to_lowercase()))
                .select((UserRow::as_select(), users::hashed_password))
                .first(conn)
                .optional()?;
            let Some((row, hashed_password)) = found else {
                return Ok(None);
            };
            Ok(with_memberships(conn, vec![row])?.pop().map(|user| (user, hashed_password)))
        })
        .map_err(Into::into)
    }

    fn set_site_roles(&self, id: Uuid, roles: &[SiteRole], now: DateTime<Utc>) -> RepoResult<User> {
        self.write(|conn, _| {
            set_column(conn, id, |conn, id| {
                diesel::update(users::table.filter(users::id.eq(id)).filter(users::deleted_at.is_null()))
                    .set((users::site_roles.eq(site_roles_column(roles)), users::updated_at.eq(naive(now))))
                    .execute(conn)
            })
        })
        .map_err(Into::into)
    }

    fn delete_user(&self, id: Uuid, now: DateTime<Utc>) -> OpResult<(), SoleMember> {
        self.write(|conn, _| delete(conn, id, now)).map_err(Into::into)
    }

    fn set_status(&self, id: Uuid, status: UserStatus, now: DateTime<Utc>) -> RepoResult<User> {
        self.write(|conn, _| {
            set_column(conn, id, |conn, id| {
                diesel::update(users::table.filter(users::id.eq(id)).filter(users::deleted_at.is_null()))
                    .set((users::status.eq(status.as_str()), users::updated_at.eq(naive(now))))
                    .execute(conn)
            })
        })
        .map_err(Into::into)
    }
}
