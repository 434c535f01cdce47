use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::users::LoginType;

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[schema(as = codersdk::LoginWithPasswordRequest)]
pub struct LoginWithPasswordRequest {
    #[serde(default)]
    #[schema(format = Email)]
    pub email: String,
    #[serde(default)]
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::LoginWithPasswordResponse)]
pub struct LoginWithPasswordResponse {
    pub session_token: String,
}

/// `codersdk.APIKey`: everything about a key but its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::APIKey)]
pub struct ApiKey {
    pub id: String,
    pub user_id: Uuid,
    pub last_used: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub login_type: LoginType,
    /// Deprecated in Coder; always `all` here.
    pub scope: String,
    pub scopes: Vec<String>,
    pub token_name: String,
    pub lifetime_seconds: i64,
    pub allow_list: Vec<serde_json::Value>,
}

impl From<domain::auth::ApiKey> for ApiKey {
    fn from(key: domain::auth::ApiKey) -> Self {
        Self {
            id: key.id,
            user_id: key.user_id,
            last_used: key.last_used,
            expires_at: key.expires_at,
            created_at: key.created_at,
            updated_at: key.updated_at,
            login_type: key.login_type.into(),
            scope: FULL_SCOPE.into(),
            scopes: vec![FULL_SCOPE.into()],
            token_name: key.token_name,
            lifetime_seconds: key.lifetime_seconds,
            allow_list: Vec::new(),
        }
    }
}

/// The only scope this server grants: everything the user may do.
pub const FULL_SCOPE: &str = "all";

/// A token as listed (`codersdk.APIKeyWithOwner`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::APIKeyWithOwner)]
pub struct ApiKeyWithOwner {
    #[serde(flatten)]
    pub key: ApiKey,
    pub username: String,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[schema(as = codersdk::CreateTokenRequest)]
pub struct CreateTokenRequest {
    /// Nanoseconds, as Go's `time.Duration`; 0 means the default (7 days).
    #[serde(default)]
    pub lifetime: i64,
    /// Empty: a name is made up.
    #[serde(default)]
    pub token_name: String,
    /// Only `all` (or none) is accepted: this server has no narrower scopes.
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::GenerateAPIKeyResponse)]
pub struct GenerateApiKeyResponse {
    pub key: String,
}
