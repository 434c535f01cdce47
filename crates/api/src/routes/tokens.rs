//! Long-lived API tokens of a user.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use domain::auth::{LoginType, NewApiKey, TokenName, token_lifetime};
use domain::authz::Action;
use domain::repo::{ApiKeyRepo, RepoError};

use crate::error::ApiError;
use crate::extract::{Json, QueryParams, TargetUser};
use crate::respond;
use crate::secrets;
use crate::state::{AppState, now};
use crate::wire::auth::{ApiKey, ApiKeyWithOwner, CreateTokenRequest, FULL_SCOPE, GenerateApiKeyResponse};
use crate::wire::checks::Checks;
use crate::wire::{Response, ValidationError};

const ALL_SCOPES: [&str; 2] = [FULL_SCOPE, "coder:all"];

/// Scopes narrower than everything are refused rather than ignored: a client asking for a
/// restricted token must not silently get an unrestricted one.
fn check_scopes(request: &CreateTokenRequest) -> Result<(), ApiError> {
    let asked = request.scope.iter().chain(request.scopes.iter()).filter(|s| !s.is_empty());
    for scope in asked {
        if !ALL_SCOPES.contains(&scope.as_str()) {
            return Err(ApiError::bad_request("Failed to create API key.")
                .detail(format!("invalid or unsupported API key scope: {scope:?}")));
        }
    }
    Ok(())
}

/// Create token API key
#[utoipa::path(
    tag = "Users",
    operation_id = "create-token-api-key",
    params(("user" = String, Path, description = "User ID, username, or `me`")),
    request_body = CreateTokenRequest,
    responses(
        (status = 201, description = "The token, shown this once", body = GenerateApiKeyResponse),
        (status = 400, body = Response),
        (status = 409, description = "The user has a token of that name", body = Response),
    ),
    security(("CoderSessionToken" = []))
)]
#[post("/users/{user}/keys/tokens")]
pub async fn create_token(
    state: web::Data<AppState>,
    target: TargetUser,
    body: Json<CreateTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    target.actor.authorize(Action::ManageUserTokens { user: target.user.id })?;
    check_scopes(&body)?;
    let settings = &state.settings;
    let lifetime = token_lifetime(body.lifetime, settings.default_token_lifetime, settings.max_token_lifetime)
        .map_err(|error| {
            ApiError::bad_request("Failed to validate create API key request.").detail(error.to_string())
        })?;
    let raw_name = if body.token_name.is_empty() {
        format!("token-{}", secrets::random_alphanumeric(8).to_ascii_lowercase())
    } else {
        body.token_name.clone()
    };
    let mut checks = Checks::default();
    let name = checks.check(TokenName::parse(&raw_name));
    checks.finish()?;
    let name = crate::wire::checks::checked(name)?;
    let token = secrets::new_api_token();
    let key = NewApiKey::new(&token, target.user.id, LoginType::Token, name.as_str().to_owned(), lifetime);
    match state.run(move |store| store.insert_api_key(key, now())).await? {
        Ok(_) => Ok(respond::created(&GenerateApiKeyResponse { key: token.to_string() })),
        Err(RepoError::Conflict(_)) => {
            Err(ApiError::conflict(format!("A token with name {:?} already exists.", name.as_str()))
                .validations(vec![ValidationError::new("name", "This value is already in use and should be unique.")]))
        }
        Err(error) => Err(error.into()),
    }
}

/// Get user tokens
#[utoipa::path(
    tag = "Users",
    operation_id = "get-user-tokens",
    params(
        ("user" = String, Path, description = "User ID, username, or `me`"),
        ("include_expired" = Option<bool>, Query, description = "Include expired tokens in the list"),
    ),
    responses((status = 200, body = Vec<ApiKeyWithOwner>), (status = 400, body = Response)),
    security(("CoderSessionToken" = []))
)]
#[get("/users/{user}/keys/tokens")]
pub async fn list_tokens(
    req: HttpRequest,
    state: web::Data<AppState>,
    target: TargetUser,
) -> Result<HttpResponse, ApiError> {
    let mut query = QueryParams::new(&req)?;
    let include_expired = query.boolean("include_expired", false);
    query.finish()?;
    target.actor.authorize(Action::ManageUserTokens { user: target.user.id })?;
    let user = target.user.id;
    let keys = state.db(move |store| store.tokens(user)).await?;
    let now = now();
    let listed: Vec<ApiKeyWithOwner> = keys
        .into_iter()
        .filter(|key| include_expired || !key.is_expired(now))
        .map(|key| ApiKeyWithOwner { key: ApiKey::from(key), username: target.user.username.clone() })
        .collect();
    Ok(respond::ok(&listed))
}

/// Delete API key
#[utoipa::path(
    tag = "Users",
    operation_id = "delete-api-key",
    params(
        ("user" = String, Path, description = "User ID, username, or `me`"),
        ("keyid" = String, Path, description = "Key ID"),
    ),
    responses((status = 204, description = "Deleted"), (status = 404, body = Response)),
    security(("CoderSessionToken" = []))
)]
#[delete("/users/{user}/keys/{keyid}")]
pub async fn delete_token(
    state: web::Data<AppState>,
    target: TargetUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    target.actor.authorize(Action::ManageUserTokens { user: target.user.id })?;
    let (_, key_id) = path.into_inner();
    let user = target.user.id;
    state.db(move |store| store.delete_api_key(user, &key_id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
