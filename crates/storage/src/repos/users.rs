use std::collections::HashMap;

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
use crate::error::{ConflictOn, Fail};
use crate::rows::users::{UserRow, org_roles};
use crate::schema::{api_keys, organization_member_roles, organization_members, organizations, user_site_roles, users};
use crate::sql_types::{Id, Instant};

type Backend = <AnyConnection as Connection>::Backend;

/// A user row beside one of its site role rows (or none): what user queries load.
pub(crate) type UserWithRole = (UserRow, Option<String>);

/// Live users with their site role rows, one row per role: a deleted user is gone for every
/// lookup.
fn live_with_roles()
-> diesel::dsl::IntoBoxed<'static, diesel::dsl::LeftJoin<users::table, user_site_roles::table>, Backend> {
    users::table.left_join(user_site_roles::table).filter(users::deleted_at.is_null()).into_boxed()
}

/// The columns of `UserWithRole`.
pub(crate) fn user_with_role() -> (diesel::dsl::AsSelect<UserRow, Backend>, diesel::dsl::Nullable<user_site_roles::role>)
{
    (UserRow::as_select(), user_site_roles::role.nullable())
}

type Memberships = HashMap<Id, Vec<(Uuid, Vec<OrgRole>)>>;

/// Membership rows `(user, organization, role or none)` of the users `$which` selects, in
/// order. A macro, not a function: the query's type depends on the filter, and a boxed query
/// would be parsed again by the database every time.
macro_rules! membership_rows {
    ($conn:expr, $which:expr) => {
        organization_members::table
            .inner_join(organizations::table)
            .left_join(
                organization_member_roles::table.on(organization_member_roles::organization_id
                    .eq(organization_members::organization_id)
                    .and(organization_member_roles::user_id.eq(organization_members::user_id))),
            )
            .filter(organizations::deleted_at.is_null())
            .filter($which)
            .order((organization_members::user_id, organization_members::organization_id))
            .select((
                organization_members::user_id,
                organization_members::organization_id,
                organization_member_roles::role.nullable(),
            ))
            .load::<(Id, Id, Option<String>)>($conn)
    };
}

/// The live memberships of these users, with their roles, by user (each user's sorted by
/// organization id).
fn memberships<R>(conn: &mut AnyConnection, user_ids: &[Id]) -> Result<Memberships, Fail<R>> {
    // One user (a request's caller) is the hot case: an `IN` list is a new statement for
    // SQLite at each length, an equality the same prepared one.
    let rows = match user_ids {
        [one] => membership_rows!(conn, organization_members::user_id.eq(*one))?,
        many => membership_rows!(conn, organization_members::user_id.eq_any(many))?,
    };
    let mut names: HashMap<Id, Vec<(Uuid, Vec<String>)>> = HashMap::new();
    for (user, organization, role) in rows {
        let memberships = names.entry(user).or_default();
        match memberships.last_mut() {
            Some((last, roles)) if *last == organization.0 => roles.extend(role),
            _ => memberships.push((organization.0, role.into_iter().collect())),
        }
    }
    names
        .into_iter()
        .map(|(user, memberships)| {
            let memberships = memberships
                .into_iter()
                .map(|(organization, roles)| Ok((organization, org_roles(&roles)?)))
                .collect::<Result<_, Fail<R>>>()?;
            Ok((user, memberships))
        })
        .collect()
}

/// Users from their rows, in the order they first appear (a user's rows are adjacent), with
/// their memberships.
pub(crate) fn assemble<R>(conn: &mut AnyConnection, rows: Vec<UserWithRole>) -> Result<Vec<User>, Fail<R>> {
    let mut grouped: Vec<(UserRow, Vec<String>)> = Vec::new();
    for (row, role) in rows {
        match grouped.last_mut() {
            Some((last, roles)) if last.id == row.id => roles.extend(role),
            _ => grouped.push((row, role.into_iter().collect())),
        }
    }
    let ids: Vec<Id> = grouped.iter().map(|(row, _)| row.id).collect();
    let mut memberships = memberships(conn, &ids)?;
    grouped
        .into_iter()
        .map(|(row, site_roles)| {
            let memberships = memberships.remove(&row.id).unwrap_or_default();
            row.into_domain(&site_roles, memberships)
        })
        .collect()
}

pub(crate) fn find_user<R>(conn: &mut AnyConnection, lookup: &UserLookup) -> Result<Option<User>, Fail<R>> {
    // Not boxed, so each lookup stays prepared on the connection.
    let live = users::table.left_join(user_site_roles::table).filter(users::deleted_at.is_null());
    let rows = match lookup {
        UserLookup::Id(user) => live.filter(users::id.eq(Id(*user))).select(user_with_role()).load(conn)?,
        UserLookup::Username(username) => {
            live.filter(lower(users::username).eq(username.clone())).select(user_with_role()).load(conn)?
        }
    };
    Ok(assemble(conn, rows)?.pop())
}

fn user_by_id<R>(conn: &mut AnyConnection, user: Uuid) -> Result<User, Fail<R>> {
    find_user(conn, &UserLookup::Id(user))?.ok_or(Fail::NotFound)
}

/// Makes these the user's explicit site roles.
fn replace_site_roles(conn: &mut AnyConnection, user: Uuid, roles: &[SiteRole]) -> QueryResult<()> {
    diesel::delete(user_site_roles::table.filter(user_site_roles::user_id.eq(Id(user)))).execute(conn)?;
    for role in roles {
        diesel::insert_into(user_site_roles::table)
            .values((user_site_roles::user_id.eq(Id(user)), user_site_roles::role.eq(role.name())))
            .execute(conn)?;
    }
    Ok(())
}

/// Inserts the user and its memberships; the caller holds the write transaction.
fn insert_user(conn: &mut AnyConnection, new: &NewUser, now: DateTime<Utc>) -> Result<User, Fail<UnknownOrganization>> {
    let taken = |column: &'static str, value: &str, conn: &mut AnyConnection| -> QueryResult<bool> {
        let query = users::table.filter(users::deleted_at.is_null()).select(users::id).into_boxed();
        let query = match column {
            "email" => query.filter(lower(users::email).eq(lower(value))),
            _ => query.filter(lower(users::username).eq(lower(value))),
        };
        Ok(query.first::<Id>(conn).optional()?.is_some())
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
            users::id.eq(Id(user_id)),
            users::email.eq(new.email.as_str()),
            users::username.eq(new.username.as_str()),
            users::name.eq(new.name.as_str()),
            users::hashed_password.eq(&new.hashed_password),
            users::status.eq(UserStatus::Active.as_str()),
            users::created_at.eq(Instant::from(now)),
            users::updated_at.eq(Instant::from(now)),
            users::last_seen_at.eq(Instant::from(now)),
        ))
        .execute(conn)
        .conflict_on("username")?;
    replace_site_roles(conn, user_id, &new.site_roles)?;
    for reference in onboarding::organizations_to_join(&new.organization_ids) {
        let requested = match reference {
            OrganizationRef::Id(id) => id,
            _ => Uuid::nil(),
        };
        let organization = find(conn, &reference)?.ok_or(Fail::Refused(UnknownOrganization(requested)))?;
        add_member_row(conn, organization.id, user_id, now).or_else(|fail| {
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
            .filter(organization_members::organization_id.eq(Id(*organization)))
            .count()
            .get_result(conn)?;
        if !member_may_leave(u64::try_from(members).unwrap_or(0)) {
            let name = find(conn, &OrganizationRef::Id(*organization))?.map(|o| o.name).unwrap_or_default();
            return Err(Fail::Refused(SoleMember { organization: name }));
        }
    }
    let id = Id(user);
    // Their roles go with the memberships (ON DELETE CASCADE).
    diesel::delete(organization_members::table.filter(organization_members::user_id.eq(id))).execute(conn)?;
    diesel::delete(api_keys::table.filter(api_keys::user_id.eq(id))).execute(conn)?;
    diesel::update(users::table.find(id)).set(users::deleted_at.eq(Some(Instant::from(now)))).execute(conn)?;
    Ok(())
}

/// Changes a live user: `change` returns how many rows it changed (none: no such user).
fn change_user<R>(
    conn: &mut AnyConnection,
    user: Uuid,
    change: impl FnOnce(&mut AnyConnection) -> QueryResult<usize>,
) -> Result<User, Fail<R>> {
    if change(conn)? == 0 {
        return Err(Fail::NotFound);
    }
    user_by_id(conn, user)
}

fn live_user(
    user: Uuid,
) -> diesel::dsl::Filter<diesel::dsl::Find<users::table, Id>, diesel::dsl::IsNull<users::deleted_at>> {
    users::table.find(Id(user)).filter(users::deleted_at.is_null())
}

impl UserRepo for Store {
    fn has_users(&self) -> RepoResult<bool> {
        self.read(|conn| Ok(users::table.select(users::id).first::<Id>(conn).optional()?.is_some())).map_err(Into::into)
    }

    fn create_first_user(&self, new: &NewUser, now: DateTime<Utc>) -> OpResult<(User, Uuid), FirstUserExists> {
        self.write(|conn, _| {
            if users::table.select(users::id).first::<Id>(conn).optional()?.is_some() {
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
            let rows =
                live_with_roles().order((lower(users::username), users::id)).select(user_with_role()).load(conn)?;
            assemble(conn, rows)
        })
        .map_err(Into::into)
    }

    fn user(&self, lookup: &UserLookup) -> RepoResult<Option<User>> {
        self.read(|conn| find_user(conn, lookup)).map_err(Into::into)
    }

    fn user_for_login(&self, email: &str) -> RepoResult<Option<(User, String)>> {
        self.read(|conn| {
            let rows: Vec<(UserRow, Option<String>, String)> = live_with_roles()
                .filter(lower(users::email).eq(lower(email)))
                .select((UserRow::as_select(), user_site_roles::role.nullable(), users::hashed_password))
                .load(conn)?;
            let Some(hashed_password) = rows.first().map(|(_, _, hash)| hash.clone()) else {
                return Ok(None);
            };
            let rows = rows.into_iter().map(|(row, role, _)| (row, role)).collect();
            Ok(assemble(conn, rows)?.pop().map(|user| (user, hashed_password)))
        })
        .map_err(Into::into)
    }

    fn set_site_roles(&self, id: Uuid, roles: &[SiteRole], now: DateTime<Utc>) -> RepoResult<User> {
        self.write(|conn, _| {
            change_user(conn, id, |conn| {
                let changed =
                    diesel::update(live_user(id)).set(users::updated_at.eq(Instant::from(now))).execute(conn)?;
                if changed > 0 {
                    replace_site_roles(conn, id, roles)?;
                }
                Ok(changed)
            })
        })
        .map_err(Into::into)
    }

    fn delete_user(&self, id: Uuid, now: DateTime<Utc>) -> OpResult<(), SoleMember> {
        self.write(|conn, _| delete(conn, id, now)).map_err(Into::into)
    }

    fn set_status(&self, id: Uuid, status: UserStatus, now: DateTime<Utc>) -> RepoResult<User> {
        self.write(|conn, _| {
            change_user(conn, id, |conn| {
                diesel::update(live_user(id))
                    .set((users::status.eq(status.as_str()), users::updated_at.eq(Instant::from(now))))
                    .execute(conn)
            })
        })
        .map_err(Into::into)
    }
}
