use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::auth::{ApiKey, KeyRefresh, LoginType, NewApiKey};
use domain::organization::{Organization, OrganizationRef};
use domain::repo::{ApiKeyRepo, RepoResult, Session};
use uuid::Uuid;

use crate::Store;
use crate::error::{ConflictOn, Fail};
use crate::prepared::Rendered;
use crate::repos::lower;
use crate::rows::api_keys::ApiKeyRow;
use crate::rows::organizations::OrganizationRow;
use crate::rows::users::{UserRow, org_roles};
use crate::schema::{api_keys, organization_member_roles, organization_members, organizations, user_site_roles, users};
use crate::sql_types::{Id, Instant};

// A membership's organization, looked up by key to tell whether it is live: a membership
// outlives its organization only when it was added while the organization was being deleted.
diesel::alias!(organizations as member_organizations: MemberOrganizations);

/// A session's rows: one per (site role, membership, membership role) of the key's live user
/// (at least one row), each with the organization `$named` picks out, if it is live. A
/// membership's organization is read only where it is live. A user has a few of each, so the
/// product stays small, and the request needs one statement, whose cost does not grow with the
/// number of organizations.
macro_rules! session_rows {
    ($conn:expr, $key:expr, $named:expr) => {
        Rendered(
            api_keys::table
                .inner_join(users::table.left_join(user_site_roles::table))
                .left_join(organization_members::table.on(organization_members::user_id.eq(users::id)))
                .left_join(
                    member_organizations.on(member_organizations
                        .field(organizations::id)
                        .eq(organization_members::organization_id)
                        .and(member_organizations.field(organizations::deleted_at).is_null())),
                )
                .left_join(
                    organization_member_roles::table.on(organization_member_roles::organization_id
                        .eq(organization_members::organization_id)
                        .and(organization_member_roles::user_id.eq(organization_members::user_id))),
                )
                .left_join(organizations::table.on($named.and(organizations::deleted_at.is_null())))
                .filter(api_keys::id.eq($key))
                .filter(users::deleted_at.is_null())
                .select((
                    ApiKeyRow::as_select(),
                    UserRow::as_select(),
                    user_site_roles::role.nullable(),
                    member_organizations.field(organizations::id).nullable(),
                    organization_member_roles::role.nullable(),
                    Option::<OrganizationRow>::as_select(),
                )),
        )
        .load::<SessionRow>($conn)
    };
}

type SessionRow = (ApiKeyRow, UserRow, Option<String>, Option<Id>, Option<String>, Option<OrganizationRow>);

/// What a session's rows say, each fact once.
struct SessionParts {
    key: ApiKeyRow,
    user: UserRow,
    organization: Option<OrganizationRow>,
    site_roles: Vec<String>,
    /// By organization id, each with its role names.
    memberships: BTreeMap<Id, Vec<String>>,
}

impl SessionParts {
    fn of(rows: Vec<SessionRow>) -> Option<Self> {
        let mut rows = rows.into_iter();
        let (key, user, site_role, member_of, member_role, organization) = rows.next()?;
        let mut parts = Self { key, user, organization, site_roles: Vec::new(), memberships: BTreeMap::new() };
        parts.add(site_role, member_of, member_role);
        for (_, _, site_role, member_of, member_role, _) in rows {
            parts.add(site_role, member_of, member_role);
        }
        Some(parts)
    }

    fn add(&mut self, site_role: Option<String>, member_of: Option<Id>, member_role: Option<String>) {
        if let Some(role) = site_role
            && !self.site_roles.contains(&role)
        {
            self.site_roles.push(role);
        }
        if let Some(organization) = member_of {
            let roles = self.memberships.entry(organization).or_default();
            if let Some(role) = member_role
                && !roles.contains(&role)
            {
                roles.push(role);
            }
        }
    }
}

impl ApiKeyRepo for Store {
    fn session(&self, key_id: &str, organization: Option<&OrganizationRef>) -> RepoResult<Session> {
        self.read(|conn| {
            // The key, its live user with their roles and memberships, and the organization
            // asked for, in one statement (one per way of naming the organization, so that
            // each stays prepared).
            let rows = match organization {
                None => session_rows!(conn, key_id, organizations::id.nullable().eq(None::<Id>))?,
                Some(OrganizationRef::Id(id)) => {
                    session_rows!(conn, key_id, organizations::id.nullable().eq(Some(Id(*id))))?
                }
                Some(OrganizationRef::Default) => session_rows!(conn, key_id, organizations::is_default.eq(true))?,
                Some(OrganizationRef::Name(name)) => {
                    session_rows!(conn, key_id, lower(organizations::name).eq(name.clone()))?
                }
            };
            let Some(parts) = SessionParts::of(rows) else {
                // No key, or a key without a live user: which one decides the answer's words.
                let key = api_keys::table.find(key_id).select(ApiKeyRow::as_select()).first(conn).optional()?;
                return Ok(Session { key: key.map(ApiKeyRow::into_domain).transpose()?, ..Session::default() });
            };
            let memberships = parts
                .memberships
                .into_iter()
                .map(|(organization, roles)| Ok((organization.0, org_roles(&roles)?)))
                .collect::<Result<_, Fail>>()?;
            Ok(Session {
                key: Some(parts.key.into_domain()?),
                user: Some(parts.user.into_domain(&parts.site_roles, memberships)?),
                organization: parts.organization.map(Organization::from),
            })
        })
        .map_err(Into::into)
    }

    fn insert_api_key(&self, key: NewApiKey, now: DateTime<Utc>) -> RepoResult<ApiKey> {
        let key = key.into_key(now);
        self.write(|conn, _| {
            diesel::insert_into(api_keys::table)
                .values(ApiKeyRow::from_domain(&key))
                .execute(conn)
                .conflict_on("token_name")?;
            Ok(())
        })?;
        Ok(key)
    }

    fn api_key(&self, key_id: &str) -> RepoResult<Option<ApiKey>> {
        self.read(|conn| {
            let row = api_keys::table.find(key_id).select(ApiKeyRow::as_select()).first(conn).optional()?;
            row.map(ApiKeyRow::into_domain).transpose()
        })
        .map_err(Into::into)
    }

    fn refresh_api_key(&self, key: &ApiKey, refresh: KeyRefresh) -> RepoResult<()> {
        self.write(|conn, _| {
            diesel::update(api_keys::table.find(&key.id))
                .set((
                    api_keys::last_used.eq(Instant::from(refresh.last_used)),
                    api_keys::expires_at.eq(Instant::from(refresh.expires_at)),
                    api_keys::updated_at.eq(Instant::from(refresh.last_used)),
                ))
                .execute(conn)?;
            diesel::update(users::table.find(Id(key.user_id)))
                .set(users::last_seen_at.eq(Instant::from(refresh.last_used)))
                .execute(conn)?;
            Ok(())
        })
        .map_err(Into::into)
    }

    fn tokens(&self, user: Uuid) -> RepoResult<Vec<ApiKey>> {
        self.read(|conn| {
            let rows = api_keys::table
                .filter(api_keys::user_id.eq(Id(user)))
                .filter(api_keys::login_type.eq(LoginType::Token.as_str()))
                .order((api_keys::created_at, api_keys::id))
                .select(ApiKeyRow::as_select())
                .load(conn)?;
            rows.into_iter().map(ApiKeyRow::into_domain).collect()
        })
        .map_err(Into::into)
    }

    fn delete_api_key(&self, user: Uuid, key_id: &str) -> RepoResult<()> {
        self.write(|conn, _| {
            let deleted =
                diesel::delete(api_keys::table.filter(api_keys::id.eq(key_id)).filter(api_keys::user_id.eq(Id(user))))
                    .execute(conn)?;
            if deleted == 0 { Err(Fail::NotFound) } else { Ok(()) }
        })
        .map_err(Into::into)
    }
}
