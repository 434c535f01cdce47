//! Long-lived API tokens of a user.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use domain::auth::{ApiToken, LoginType, NewApiKey, TokenName, check_scopes, token_lifetime};
use domain::authz::Action;
use domain::repo::{ApiKeyRepo, RepoError};

use crate::error::ApiError;
use crate::extract::{QueryParams, TargetUser, Valid};
use crate::respond;
use crate::secrets;
use crate::state::{AppState, now};
use crate::wire::ValidationError;
use crate::wire::auth::{ApiKey, ApiKeyWithOwner, CreateTokenRequest, GenerateApiKeyResponse};

/// Create token API key
#[utoipa::path(
    tag = "Users",
    operation_id = "create-token-api-key",
    params(("user" = String, Path, description = super::param::USER)),
    request_body = CreateTokenRequest,
    responses(
        (status = 201, description = "The token, shown this once", body = GenerateApiKeyResponse, links(
            ("ListTokens" = (operation_id = "get-user-tokens", parameters(("user" = "$request.path.user")))),
        )),
        (status = 400, description = "No such user (as for reading one), a lifetime over the deployment's maximum, or a scope narrower than everything."),
        (status = 403, description = "Only the user itself and owners make its tokens."),
        (status = 409, description = "The user has a token of that name."),
    ),
    security(("CoderSessionToken" = []))
)]
#[post("/users/{user}/keys/tokens")]
pub async fn create_token(
    state: web::Data<AppState>,
    target: TargetUser,
    body: Valid<CreateTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    target.actor.authorize(Action::ManageUserTokens { user: target.user.id })?;
    let asked = body.scope.iter().chain(&body.scopes).map(String::as_str);
    check_scopes(asked)
        .map_err(|refusal| ApiError::bad_request("Failed to create API key.").detail(refusal.to_string()))?;
    let settings = &state.settings;
    let lifetime = token_lifetime(body.lifetime, settings.default_token_lifetime, settings.max_token_lifetime)
        .map_err(|error| {
            ApiError::bad_request("Failed to validate create API key request.").detail(error.to_string())
        })?;
    let name = TokenName::requested(&body.token_name, || secrets::random_alphanumeric(8))
        .map_err(|error| ApiError::validation(&[error]))?;
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
        ("user" = String, Path, description = super::param::USER),
        ("include_expired" = Option<bool>, Query, description = "Also list the tokens that have expired."),
    ),
    responses(
        (status = 200, description = "The user's tokens (never their secrets), without sessions", body = Vec<ApiKeyWithOwner>),
        (status = 400, description = super::param::NO_SUCH_USER),
        (status = 403, description = "Only the user itself and owners see its tokens."),
    ),
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
        ("user" = String, Path, description = super::param::USER),
        ("keyid" = String, Path, description = "The key's ID: the part of the token before its `-`."),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = super::param::NO_SUCH_USER),
        (status = 403, description = "Only the user itself and owners delete its keys."),
    ),
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
    // An id no key could have is not looked for.
    if !ApiToken::is_key_id(&key_id) {
        return Err(ApiError::not_found());
    }
    let user = target.user.id;
    state.db(move |store| store.delete_api_key(user, &key_id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
