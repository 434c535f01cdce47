use diesel::prelude::*;
use domain::membership::{OrgRole, SiteRole};
use domain::user::{User, UserStatus};
use uuid::Uuid;

use crate::error::Fail;
use crate::schema::users;
use crate::sql_types::{Id, Instant};

#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
pub(crate) struct UserRow {
    pub(crate) id: Id,
    pub(crate) email: String,
    pub(crate) username: String,
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) created_at: Instant,
    pub(crate) updated_at: Instant,
    pub(crate) last_seen_at: Instant,
}

impl UserRow {
    /// The user, with the role rows and memberships the caller read for it.
    pub(crate) fn into_domain<R>(
        self,
        site_roles: &[String],
        memberships: Vec<(Uuid, Vec<OrgRole>)>,
    ) -> Result<User, Fail<R>> {
        Ok(User {
            id: self.id.0,
            memberships,
            email: self.email,
            username: self.username,
            name: self.name,
            status: UserStatus::parse(&self.status)
                .ok_or_else(|| Fail::corrupt(format_args!("status {:?}", self.status)))?,
            site_roles: SiteRole::parse_list(site_roles).map_err(Fail::corrupt)?,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
            last_seen_at: self.last_seen_at.0,
        })
    }
}

/// Organization role rows read back.
pub(crate) fn org_roles<R>(names: &[String]) -> Result<Vec<OrgRole>, Fail<R>> {
    OrgRole::parse_list(names).map_err(Fail::corrupt)
}
