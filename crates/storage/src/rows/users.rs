use chrono::NaiveDateTime;
use diesel::prelude::*;
use domain::membership::{OrgRole, SiteRole};
use domain::user::{User, UserStatus};
use uuid::Uuid;

use crate::convert::{id, join_list, split_list, utc};
use crate::error::Fail;
use crate::schema::users;

#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
pub(crate) struct UserRow {
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) username: String,
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) site_roles: String,
    pub(crate) created_at: NaiveDateTime,
    pub(crate) updated_at: NaiveDateTime,
    pub(crate) last_seen_at: NaiveDateTime,
}

pub(crate) fn site_roles_column(roles: &[SiteRole]) -> String {
    join_list(roles.iter().map(|role| role.name()))
}

pub(crate) fn org_roles_column(roles: &[OrgRole]) -> String {
    join_list(roles.iter().map(|role| role.name()))
}

pub(crate) fn org_roles<R>(stored: &str) -> Result<Vec<OrgRole>, Fail<R>> {
    OrgRole::parse_list(&split_list(stored).collect::<Vec<_>>()).map_err(Fail::corrupt)
}

impl UserRow {
    /// The user, with the memberships the caller read for it.
    pub(crate) fn into_domain<R>(self, memberships: Vec<(Uuid, Vec<OrgRole>)>) -> Result<User, Fail<R>> {
        let site_roles =
            SiteRole::parse_list(&split_list(&self.site_roles).collect::<Vec<_>>()).map_err(Fail::corrupt)?;
        Ok(User {
            id: id(&self.id)?,
            memberships,
            email: self.email,
            username: self.username,
            name: self.name,
            status: UserStatus::parse(&self.status)
                .ok_or_else(|| Fail::corrupt(format_args!("status {:?}", self.status)))?,
            site_roles,
            created_at: utc(self.created_at),
            updated_at: utc(self.updated_at),
            last_seen_at: utc(self.last_seen_at),
        })
    }
}
