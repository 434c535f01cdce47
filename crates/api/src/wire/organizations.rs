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

/// The reserved name is its own message; broken field rules are listed together first.
fn name_check(checks: &mut Checks, raw: &str, reserved: &mut bool) -> Option<OrganizationName> {
    match OrganizationName::parse(raw) {
        Ok(name) => Some(name),
        Err(OrganizationNameError::Reserved) => {
            *reserved = true;
            None
        }
        Err(OrganizationNameError::Invalid(error)) => checks.check(Err(error)),
    }
}

fn reserved_error() -> ApiError {
    ApiError::bad_request(OrganizationNameError::Reserved.to_string())
}

impl CreateOrganizationRequest {
    pub fn into_domain(self) -> Result<NewOrganization, ApiError> {
        let mut checks = Checks::default();
        let mut reserved = false;
        let name = name_check(&mut checks, &self.name, &mut reserved);
        let display_name = match self.display_name.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(checks.check(DisplayName::parse(raw))),
        };
        checks.finish()?;
        if reserved {
            return Err(reserved_error());
        }
        let display_name = display_name.map(checked).transpose()?;
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
        let mut checks = Checks::default();
        let mut reserved = false;
        let name = match self.name.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(name_check(&mut checks, raw, &mut reserved)),
        };
        let display_name = match self.display_name.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(checks.check(DisplayName::parse(raw))),
        };
        checks.finish()?;
        if reserved {
            return Err(reserved_error());
        }
        Ok(OrganizationPatch {
            name: name.map(checked).transpose()?,
            display_name: display_name.map(checked).transpose()?,
            description: self.description,
            icon: self.icon,
        })
    }
}
