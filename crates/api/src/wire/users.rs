use chrono::{DateTime, Utc};
use domain::membership::{OrgRole, SiteRole};
use domain::user::{Email, Password, UserRealName, Username};
use domain::validation::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::{Array, ArrayBuilder, Object};
use uuid::Uuid;
use validator::Validate;

use super::{rules, schema};
use crate::error::ApiError;

/// A role as listed on a user or member (`codersdk.SlimRole`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::SlimRole)]
pub struct SlimRole {
    pub name: String,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
}

impl From<SiteRole> for SlimRole {
    fn from(role: SiteRole) -> Self {
        Self { name: role.name().into(), display_name: role.display_name().into(), organization_id: None }
    }
}

impl SlimRole {
    pub fn in_organization(role: OrgRole, organization: Uuid) -> Self {
        Self {
            name: role.name().into(),
            display_name: role.display_name().into(),
            organization_id: Some(organization.to_string()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::UserStatus)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    Active,
    Dormant,
    Suspended,
}

impl From<domain::user::UserStatus> for UserStatus {
    fn from(status: domain::user::UserStatus) -> Self {
        match status {
            domain::user::UserStatus::Active => Self::Active,
            domain::user::UserStatus::Dormant => Self::Dormant,
            domain::user::UserStatus::Suspended => Self::Suspended,
        }
    }
}

/// `codersdk.LoginType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::LoginType)]
#[serde(rename_all = "lowercase")]
pub enum LoginType {
    Password,
    Token,
}

impl From<domain::auth::LoginType> for LoginType {
    fn from(login_type: domain::auth::LoginType) -> Self {
        match login_type {
            domain::auth::LoginType::Password => Self::Password,
            domain::auth::LoginType::Token => Self::Token,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::User)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub avatar_url: String,
    pub name: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub status: UserStatus,
    pub login_type: LoginType,
    pub theme_preference: String,
    pub is_service_account: bool,
    pub has_ai_seat: bool,
    pub organization_ids: Vec<Uuid>,
    pub roles: Vec<SlimRole>,
}

impl From<domain::user::User> for User {
    fn from(user: domain::user::User) -> Self {
        Self {
            organization_ids: user.organization_ids().collect(),
            roles: user.site_roles.iter().copied().map(SlimRole::from).collect(),
            id: user.id,
            username: user.username,
            avatar_url: String::new(),
            name: user.name,
            email: user.email,
            created_at: user.created_at,
            updated_at: user.updated_at,
            last_seen_at: user.last_seen_at,
            status: user.status.into(),
            login_type: LoginType::Password,
            theme_preference: String::new(),
            is_service_account: false,
            has_ai_seat: false,
        }
    }
}

/// `GET /users` (`codersdk.GetUsersResponse`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::GetUsersResponse)]
pub struct GetUsersResponse {
    pub users: Vec<User>,
    pub count: usize,
}

/// The identity fields shared by the first user and later ones, parsed.
pub struct Identity {
    pub email: Email,
    pub username: Username,
    pub name: UserRealName,
}

impl Identity {
    /// The identity a request gives; the field rules have been checked.
    fn parse(email: &str, username: &str, name: &str) -> Result<Self, ApiError> {
        let field = |error: FieldError| ApiError::validation(&[error]);
        Ok(Self {
            email: Email::parse(email).map_err(field)?,
            username: Username::parse(username).map_err(field)?,
            name: UserRealName::parse(name).map_err(field)?,
        })
    }

    /// Words a password must not lean on.
    pub fn words(&self) -> [&str; 3] {
        [self.username.as_str(), self.email.as_str(), self.name.as_str()]
    }
}

pub(super) fn email() -> Object {
    schema::text(Email::rule()).description(Some("`local@domain`.")).build()
}

fn username() -> Object {
    schema::text(Username::rule()).description(Some("Unique regardless of case; `me` is taken by paths.")).build()
}

fn real_name() -> Object {
    schema::text(UserRealName::rule()).description(Some("The person's full name; may be empty.")).build()
}

pub(super) fn password() -> Object {
    schema::text(Password::rule())
        .description(Some(
            "Judged by a strength estimator against the other fields: a guessable password is answered \
             `Password not strong enough!`.",
        ))
        .build()
}

/// `POST /users/first`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, Validate)]
#[schema(
    as = codersdk::CreateFirstUserRequest,
    examples(json!({ "email": "admin@example.com", "username": "admin", "name": "Ada Admin", "password": "correct-horse-battery-staple" }))
)]
pub struct CreateFirstUserRequest {
    #[serde(default)]
    #[schema(required = true, schema_with = email)]
    #[validate(custom(function = "rules::email"))]
    pub email: String,
    #[serde(default)]
    #[schema(required = true, schema_with = username)]
    #[validate(custom(function = "rules::username"))]
    pub username: String,
    #[serde(default)]
    #[schema(schema_with = real_name)]
    #[validate(custom(function = "rules::real_name"))]
    pub name: String,
    #[serde(default)]
    #[schema(required = true, schema_with = password)]
    #[validate(custom(function = "rules::required"))]
    pub password: String,
}

impl CreateFirstUserRequest {
    pub fn identity(&self) -> Result<Identity, ApiError> {
        Identity::parse(&self.email, &self.username, &self.name)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::CreateFirstUserResponse)]
pub struct CreateFirstUserResponse {
    pub user_id: Uuid,
    pub organization_id: Uuid,
}

/// `POST /users`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, Validate)]
#[schema(
    as = codersdk::CreateUserRequestWithOrgs,
    examples(json!({ "email": "bob@example.com", "username": "bob", "name": "Bob", "password": "unlikely-kettle-orbit-19", "organization_ids": [] }))
)]
pub struct CreateUserRequest {
    #[serde(default)]
    #[schema(required = true, schema_with = email)]
    #[validate(custom(function = "rules::email"))]
    pub email: String,
    #[serde(default)]
    #[schema(required = true, schema_with = username)]
    #[validate(custom(function = "rules::username"))]
    pub username: String,
    #[serde(default)]
    #[schema(schema_with = real_name)]
    #[validate(custom(function = "rules::real_name"))]
    pub name: String,
    #[serde(default)]
    #[schema(required = true, schema_with = password)]
    #[validate(custom(function = "rules::required"))]
    pub password: String,
    /// Organizations the user joins; the default organization when empty.
    #[serde(default)]
    pub organization_ids: Vec<Uuid>,
}

impl CreateUserRequest {
    pub fn identity(&self) -> Result<Identity, ApiError> {
        Identity::parse(&self.email, &self.username, &self.name)
    }
}

/// `PUT /users/{user}/roles`: the user's site roles, replacing the ones it has.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, Validate)]
#[schema(as = codersdk::UpdateRoles, examples(json!({ "roles": ["owner"] })))]
pub struct UpdateRoles {
    #[serde(default)]
    #[schema(schema_with = site_roles)]
    pub roles: Vec<String>,
}

/// `PUT /organizations/{organization}/members/{user}/roles`: the member's roles there,
/// replacing the ones it has. The same body as [`UpdateRoles`], with the organization's roles.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, Validate)]
#[schema(as = api::UpdateMemberRoles, examples(json!({ "roles": ["organization-admin"] })))]
pub struct UpdateMemberRoles {
    #[serde(default)]
    #[schema(schema_with = organization_roles)]
    pub roles: Vec<String>,
}

fn site_roles() -> Array {
    ArrayBuilder::new()
        .items(schema::one_of(SiteRole::names()))
        .description(Some("Role names; `member` is implied and may be left out."))
        .build()
}

fn organization_roles() -> Array {
    ArrayBuilder::new()
        .items(schema::one_of(OrgRole::names()))
        .description(Some("Role names; `organization-member` is implied and may be left out."))
        .build()
}
