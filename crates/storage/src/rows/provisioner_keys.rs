use diesel::prelude::*;
use domain::provisioner::{ProvisionerKey, Tags};

use crate::schema::provisioner_keys;
use crate::sql_types::{Id, Instant};

#[derive(Queryable, Selectable)]
#[diesel(table_name = provisioner_keys)]
pub(crate) struct KeyRow {
    pub(crate) id: Id,
    pub(crate) organization_id: Id,
    pub(crate) name: String,
    pub(crate) hashed_secret: Vec<u8>,
    pub(crate) tag_set_id: Id,
    pub(crate) created_at: Instant,
}

impl KeyRow {
    pub(crate) fn into_domain(self, tags: Tags) -> ProvisionerKey {
        ProvisionerKey {
            id: self.id.0,
            organization_id: self.organization_id.0,
            name: self.name,
            tags,
            hashed_secret: self.hashed_secret,
            created_at: self.created_at.0,
        }
    }
}
