use chrono::NaiveDateTime;
use diesel::prelude::*;
use domain::organization::Organization;

use crate::convert::{id, naive, text, utc};
use crate::error::Fail;
use crate::schema::organizations;

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = organizations)]
pub(crate) struct OrganizationRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) display_name: String,
    pub(crate) description: String,
    pub(crate) icon: String,
    pub(crate) is_default: bool,
    pub(crate) created_at: NaiveDateTime,
    pub(crate) updated_at: NaiveDateTime,
}

impl OrganizationRow {
    pub(crate) fn into_domain<R>(self) -> Result<Organization, Fail<R>> {
        Ok(Organization {
            id: id(&self.id)?,
            name: self.name,
            display_name: self.display_name,
            description: self.description,
            icon: self.icon,
            is_default: self.is_default,
            created_at: utc(self.created_at),
            updated_at: utc(self.updated_at),
        })
    }

    pub(crate) fn from_domain(organization: &Organization) -> Self {
        Self {
            id: text(organization.id),
            name: organization.name.clone(),
            display_name: organization.display_name.clone(),
            description: organization.description.clone(),
            icon: organization.icon.clone(),
            is_default: organization.is_default,
            created_at: naive(organization.created_at),
            updated_at: naive(organization.updated_at),
        }
    }
}
