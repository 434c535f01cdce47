use chrono::{DateTime, Utc};
use domain::membership::{OrgRole, SiteRole};
use domain::user::{Email, UserRealName, Username};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::checks::{Checks, checked};

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
    #[schema(format = Email)]
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

/// The checked identity fields shared by the first user and later ones.
pub struct Identity {
    pub email: Email,
    pub username: Username,
    pub name: UserRealName,
}

/// The field rules of a new user; the password's strength is judged afterwards, on its own.
fn identity(email: &str, username: &str, name: &str, password: &str) -> Result<Identity, crate::error::ApiError> {
    let mut checks = Checks::default();
    let email = checks.check(Email::parse(email));
    let username = checks.check(Username::parse(username));
    let name = checks.check(UserRealName::parse(name));
    if password.is_empty() {
        checks.check::<()>(Err(domain::validation::FieldError::required("password")));
    }
    checks.finish()?;
    Ok(Identity { email: checked(email)?, username: checked(username)?, name: checked(name)? })
}

impl Identity {
    /// Words a password must not lean on.
    pub fn words(&self) -> [&str; 3] {
        [self.username.as_str(), self.email.as_str(), self.name.as_str()]
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[schema(as = codersdk::CreateFirstUserRequest)]
pub struct CreateFirstUserRequest {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub password: String,
}

impl CreateFirstUserRequest {
    pub fn identity(&self) -> Result<Identity, crate::error::ApiError> {
        identity(&self.email, &self.username, &self.name, &self.password)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::CreateFirstUserResponse)]
pub struct CreateFirstUserResponse {
    pub user_id: Uuid,
    pub organization_id: Uuid,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[schema(as = codersdk::CreateUserRequestWithOrgs)]
pub struct CreateUserRequest {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub password: String,
    /// Organizations the user joins; the default organization when empty.
    #[serde(default)]
    pub organization_ids: Vec<Uuid>,
}

impl CreateUserRequest {
    pub fn identity(&self) -> Result<Identity, crate::error::ApiError> {
        identity(&self.email, &self.username, &self.name, &self.password)
    }
}

/// `PUT /users/{user}/roles` and `PUT .../members/{user}/roles` (`codersdk.UpdateRoles`).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[schema(as = codersdk::UpdateRoles)]
pub struct UpdateRoles {
    #[serde(default)]
    pub roles: Vec<String>,
}
