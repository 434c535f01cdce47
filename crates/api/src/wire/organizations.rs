use chrono::{DateTime, Utc};
use domain::organization::{DisplayName, NewOrganization, OrganizationName, OrganizationNameError, OrganizationPatch};
use domain::validation::PLAIN_TEXT;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::Object;
use uuid::Uuid;
use validator::Validate;

use super::{rules, schema};
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

/// `POST /organizations`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, Validate)]
#[schema(
    as = codersdk::CreateOrganizationRequest,
    examples(json!({ "name": "acme", "display_name": "Acme Corp", "description": "Rockets", "icon": "/emojis/1f680.png" }))
)]
pub struct CreateOrganizationRequest {
    #[serde(default)]
    #[schema(required = true, schema_with = name)]
    #[validate(custom(function = "rules::organization_name"))]
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = display_name)]
    #[validate(custom(function = "rules::display_name"))]
    pub display_name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = free_text)]
    #[validate(custom(function = "rules::text"))]
    pub description: Option<String>,
    #[serde(default)]
    #[schema(schema_with = free_text)]
    #[validate(custom(function = "rules::text"))]
    pub icon: Option<String>,
}

fn name() -> Object {
    schema::text(OrganizationName::rule())
        .description(Some("Unique among organizations regardless of case; `default` is reserved."))
        .build()
}

fn display_name() -> Object {
    schema::or_null(schema::text(DisplayName::rule()))
        .description(Some("What people read; absent, `null` or empty: the name."))
        .build()
}

fn free_text() -> Object {
    schema::or_null(schema::text(&PLAIN_TEXT)).build()
}

fn new_name() -> Object {
    schema::or_null(schema::text_or_empty(OrganizationName::rule()))
        .description(Some("Absent, `null` or empty: unchanged."))
        .build()
}

fn new_display_name() -> Object {
    schema::or_null(schema::text(DisplayName::rule())).description(Some("Absent, `null` or empty: unchanged.")).build()
}

fn new_free_text() -> Object {
    schema::or_null(schema::text(&PLAIN_TEXT)).description(Some("Absent or `null`: unchanged; empty: cleared.")).build()
}

/// The name the request gives, with `default` refused in its own words.
fn parsed_name(raw: &str) -> Result<OrganizationName, ApiError> {
    OrganizationName::parse(raw).map_err(|error| match error {
        OrganizationNameError::Reserved => ApiError::bad_request(error.to_string()),
        OrganizationNameError::Invalid(error) => ApiError::validation(&[error]),
    })
}

fn parsed_display_name(raw: &str) -> Result<DisplayName, ApiError> {
    DisplayName::parse(raw).map_err(|error| ApiError::validation(&[error]))
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|raw| !raw.is_empty())
}

impl CreateOrganizationRequest {
    /// The organization to create; the field rules have been checked.
    pub fn into_domain(self) -> Result<NewOrganization, ApiError> {
        let name = parsed_name(&self.name)?;
        let display_name = given(&self.display_name).map(parsed_display_name).transpose()?;
        Ok(NewOrganization::new(
            name,
            display_name,
            self.description.unwrap_or_default(),
            self.icon.unwrap_or_default(),
        ))
    }
}

/// `PATCH /organizations/{organization}`: `name` and `display_name` absent or empty leave
/// them; `description` and `icon` absent leave them, empty clears them.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, Validate)]
#[schema(as = codersdk::UpdateOrganizationRequest, examples(json!({ "display_name": "Acme Rockets", "icon": "" })))]
pub struct UpdateOrganizationRequest {
    #[serde(default)]
    #[schema(schema_with = new_name)]
    #[validate(custom(function = "rules::organization_rename"))]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = new_display_name)]
    #[validate(custom(function = "rules::display_name"))]
    pub display_name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = new_free_text)]
    #[validate(custom(function = "rules::text"))]
    pub description: Option<String>,
    #[serde(default)]
    #[schema(schema_with = new_free_text)]
    #[validate(custom(function = "rules::text"))]
    pub icon: Option<String>,
}

impl UpdateOrganizationRequest {
    /// The change to make; the field rules have been checked.
    pub fn into_domain(self) -> Result<OrganizationPatch, ApiError> {
        let name = given(&self.name).map(parsed_name).transpose()?;
        let display_name = given(&self.display_name).map(parsed_display_name).transpose()?;
        Ok(OrganizationPatch { name, display_name, description: self.description, icon: self.icon })
    }
}
