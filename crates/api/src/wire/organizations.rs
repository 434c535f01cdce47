use chrono::{DateTime, Utc};
use domain::organization::{DisplayName, NewOrganization, OrganizationName, OrganizationNameError, OrganizationPatch};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::checks::{Checks, checked};
use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::Organization)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub icon: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub is_default: bool,
}

impl From<domain::organization::Organization> for Organization {
    fn from(organization: domain::organization::Organization) -> Self {
        Self {
            id: organization.id,
            name: organization.name,
            display_name: organization.display_name,
            description: organization.description,
            icon: organization.icon,
            created_at: organization.created_at,
            updated_at: organization.updated_at,
            is_default: organization.is_default,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[schema(as = codersdk::CreateOrganizationRequest)]
pub struct CreateOrganizationRequest {
    /// 1-32 letters, digits and single hyphens; unique regardless of case; not `default`.
    #[serde(default)]
    pub name: String,
    /// DisplayName will default to the same value as `Name` if not provided.
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub icon: Option<String>,
}

/// The name and display name a request gives (`None`: not given). Broken field rules are
/// listed together first; the reserved name is its own message after them, as in Coder.
fn checked_names(
    name: Option<&str>,
    display_name: Option<&str>,
) -> Result<(Option<OrganizationName>, Option<DisplayName>), ApiError> {
    let mut checks = Checks::default();
    let mut reserved = false;
    let name = name.and_then(|raw| match OrganizationName::parse(raw) {
        Ok(name) => Some(name),
        Err(OrganizationNameError::Reserved) => {
            reserved = true;
            None
        }
        Err(OrganizationNameError::Invalid(error)) => checks.check(Err(error)),
    });
    let display_name = display_name.and_then(|raw| checks.check(DisplayName::parse(raw)));
    checks.finish()?;
    if reserved {
        return Err(ApiError::bad_request(OrganizationNameError::Reserved.to_string()));
    }
    Ok((name, display_name))
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|raw| !raw.is_empty())
}

impl CreateOrganizationRequest {
    pub fn into_domain(self) -> Result<NewOrganization, ApiError> {
        let (name, display_name) = checked_names(Some(&self.name), given(&self.display_name))?;
        Ok(NewOrganization::new(
            checked(name)?,
            display_name,
            self.description.unwrap_or_default(),
            self.icon.unwrap_or_default(),
        ))
    }
}

/// `name` and `display_name`: absent or empty leaves them. `description` and `icon`: absent
/// leaves them, empty clears them.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[schema(as = codersdk::UpdateOrganizationRequest)]
pub struct UpdateOrganizationRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub icon: Option<String>,
}

impl UpdateOrganizationRequest {
    pub fn into_domain(self) -> Result<OrganizationPatch, ApiError> {
        let (name, display_name) = checked_names(given(&self.name), given(&self.display_name))?;
        Ok(OrganizationPatch { name, display_name, description: self.description, icon: self.icon })
    }
}
