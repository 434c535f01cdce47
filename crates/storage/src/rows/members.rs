use diesel::prelude::*;
use domain::membership::{Membership, OrgRole};

use crate::schema::organization_members;
use crate::sql_types::{Id, Instant};

#[derive(Queryable, Selectable)]
#[diesel(table_name = organization_members)]
pub(crate) struct MemberRow {
    pub(crate) organization_id: Id,
    pub(crate) user_id: Id,
    pub(crate) created_at: Instant,
    pub(crate) updated_at: Instant,
}

impl MemberRow {
    pub(crate) fn into_domain(self, roles: Vec<OrgRole>) -> Membership {
        Membership {
            organization_id: self.organization_id.0,
            user_id: self.user_id.0,
            roles,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
        }
    }
}
