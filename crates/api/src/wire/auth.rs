use chrono::{DateTime, Utc};
use domain::auth::{FULL_ACCESS_SCOPES, FULL_SCOPE, TokenName};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::{Array, ArrayBuilder, Object, ObjectBuilder, SchemaType, Type};
use uuid::Uuid;
use validator::Validate;

use super::users::LoginType;
use super::{rules, schema};

/// `POST /users/login`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, Validate)]
#[schema(
    as = codersdk::LoginWithPasswordRequest,
    examples(json!({ "email": "admin@example.com", "password": "correct-horse-battery-staple" }))
)]
pub struct LoginWithPasswordRequest {
    #[serde(default)]
    #[schema(required = true, schema_with = super::users::email)]
    #[validate(custom(function = "rules::email"))]
    pub email: String,
    #[serde(default)]
    #[schema(required = true, schema_with = login_password)]
    #[validate(custom(function = "rules::required"))]
    pub password: String,
}

fn login_password() -> Object {
    schema::text(domain::user::Password::rule()).build()
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

/// A token as listed (`codersdk.APIKeyWithOwner`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::APIKeyWithOwner)]
pub struct ApiKeyWithOwner {
    #[serde(flatten)]
    pub key: ApiKey,
    pub username: String,
}

/// `POST /users/{user}/keys/tokens`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, Validate)]
#[schema(as = codersdk::CreateTokenRequest, examples(json!({ "token_name": "ci", "lifetime": 86_400_000_000_000_i64 })))]
pub struct CreateTokenRequest {
    #[serde(default)]
    #[schema(schema_with = lifetime)]
    pub lifetime: i64,
    #[serde(default)]
    #[schema(schema_with = token_name)]
    #[validate(custom(function = "rules::token_name"))]
    pub token_name: String,
    #[serde(default)]
    #[schema(schema_with = scope)]
    pub scope: Option<String>,
    #[serde(default)]
    #[schema(schema_with = scopes)]
    pub scopes: Vec<String>,
}

/// The longest lifetime the document promises: the server's default maximum (876 600 h, as
/// Coder's), in nanoseconds. A deployment may lower it with `--max-token-lifetime`.
const MAX_DOCUMENTED_LIFETIME_NANOS: i64 = 876_600 * 3_600 * 1_000_000_000;

fn lifetime() -> Object {
    schema::int64(0, MAX_DOCUMENTED_LIFETIME_NANOS)
        .description(Some(
            "Nanoseconds, as Go's `time.Duration` counts them; 0 asks for the default (7 days). At most the \
             deployment's maximum.",
        ))
        .build()
}

fn token_name() -> Object {
    schema::text_or_empty(TokenName::rule()).description(Some("Unique per user; empty: a name is made up.")).build()
}

/// Coder's deprecated single scope. Only full access is granted, so the values are its names,
/// or empty (or `null`, or absent) for none.
fn scope() -> Object {
    let values =
        [serde_json::Value::Null].into_iter().chain(std::iter::once("").chain(FULL_ACCESS_SCOPES).map(Into::into));
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(values))
        .description(Some("Only full access is granted: its names, or empty for none."))
        .build()
}

fn scopes() -> Array {
    ArrayBuilder::new().items(schema::one_of(std::iter::once("").chain(FULL_ACCESS_SCOPES))).build()
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::GenerateAPIKeyResponse)]
pub struct GenerateApiKeyResponse {
    pub key: String,
}
