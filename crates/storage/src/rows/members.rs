use chrono::NaiveDateTime;
use diesel::prelude::*;
use domain::membership::Membership;

use super::users::org_roles;
use crate::convert::{id, utc};
use crate::error::Fail;
use crate::schema::organization_members;

#[derive(Queryable, Selectable)]
#[diesel(table_name = organization_members)]
pub(crate) struct MemberRow {
    pub(crate) organization_id: String,
    pub(crate) user_id: String,
    pub(crate) roles: String,
    pub(crate) created_at: NaiveDateTime,
    pub(crate) updated_at: NaiveDateTime,
}

impl MemberRow {
    pub(crate) fn into_domain<R>(self) -> Result<Membership, Fail<R>> {
        Ok(Membership {
            organization_id: id(&self.organization_id)?,
            user_id: id(&self.user_id)?,
            roles: org_roles(&self.roles)?,
            created_at: utc(self.created_at),
            updated_at: utc(self.updated_at),
        })
    }
}
