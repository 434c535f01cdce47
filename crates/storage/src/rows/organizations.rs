use diesel::prelude::*;
use domain::organization::Organization;

use crate::schema::organizations;
use crate::sql_types::{Id, Instant};

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = organizations)]
pub(crate) struct OrganizationRow {
    pub(crate) id: Id,
    pub(crate) name: String,
    pub(crate) display_name: String,
    pub(crate) description: String,
    pub(crate) icon: String,
    pub(crate) is_default: bool,
    pub(crate) created_at: Instant,
    pub(crate) updated_at: Instant,
}

impl From<OrganizationRow> for Organization {
    fn from(row: OrganizationRow) -> Self {
        Self {
            id: row.id.0,
            name: row.name,
            display_name: row.display_name,
            description: row.description,
            icon: row.icon,
            is_default: row.is_default,
            created_at: row.created_at.0,
            updated_at: row.updated_at.0,
        }
    }
}

impl From<&Organization> for OrganizationRow {
    fn from(organization: &Organization) -> Self {
        Self {
            id: organization.id.into(),
            name: organization.name.clone(),
            display_name: organization.display_name.clone(),
            description: organization.description.clone(),
            icon: organization.icon.clone(),
            is_default: organization.is_default,
            created_at: organization.created_at.into(),
            updated_at: organization.updated_at.into(),
        }
    }
}
