//! Users: the first user, signing in and out, and accounts (owners manage them).

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, post, put, web};
use domain::auth::{ApiKey, LoginType, NewApiKey};
use domain::authz::Action;
use domain::membership::SiteRole;
use domain::organization::OrganizationRef;
use domain::repo::{ApiKeyRepo, FirstUserExists, OpError, OrganizationRepo, RepoError, UserRepo};
use domain::user::{Email, NewUser, Password, SelfChange, UserStatus, check_suspendable};
use domain::validation::FieldError;

use crate::error::ApiError;
use crate::extract::{Actor, Json, SESSION_COOKIE, TargetUser};
use crate::respond;
use crate::secrets;
use crate::state::{AppState, now};
use crate::wire::auth::{LoginWithPasswordRequest, LoginWithPasswordResponse};
use crate::wire::checks::Checks;
use crate::wire::organizations::Organization;
use crate::wire::users::{
    CreateFirstUserRequest, CreateFirstUserResponse, CreateUserRequest, GetUsersResponse, Identity, UpdateRoles, User,
};
use crate::wire::{Response, ValidationError};

/// The strength rule is judged after the field rules, with its own message (as Coder).
fn strong_password(raw: &str, identity: &Identity) -> Result<Password, ApiError> {
    Password::parse(raw, &identity.words()).map_err(|error| {
        ApiError::bad_request("Password not strong enough!")
            .validations(vec![ValidationError::new("password", error.reason)])
    })
}

async fn hash(state: &AppState, password: Password) -> Result<String, ApiError> {
    state.passwords.hash(password).await
}

fn new_user(identity: Identity, hashed_password: String, organization_ids: Vec<uuid::Uuid>) -> NewUser {
    NewUser {
        email: identity.email,
        username: identity.username,
        name: identity.name,
        hashed_password,
        site_roles: Vec::new(),
        organization_ids,
    }
}

/// Check initial user created
#[utoipa::path(
    tag = "Users",
    operation_id = "check-initial-user-created",
    responses(
        (status = 200, description = "The first user exists", body = Response),
        (status = 404, description = "No user yet", body = Response),
    )
)]
#[get("/users/first")]
pub async fn get_first_user(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.db(|store| store.has_users()).await? {
        Ok(respond::message(StatusCode::OK, "The initial user has already been created!"))
    } else {
        Ok(respond::message(StatusCode::NOT_FOUND, "The initial user has not been created!"))
    }
}

/// Create initial user
#[utoipa::path(
    tag = "Users",
    operation_id = "create-initial-user",
    request_body = CreateFirstUserRequest,
    responses(
        (status = 201, description = "Created: an owner, member of the default organization", body = CreateFirstUserResponse),
        (status = 400, description = "Invalid fields or a weak password", body = Response),
        (status = 409, description = "The first user already exists", body = Response),
    )
)]
#[post("/users/first")]
pub async fn create_first_user(
    state: web::Data<AppState>,
    body: Json<CreateFirstUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let identity = body.identity()?;
    let already = || ApiError::conflict(FirstUserExists.to_string());
    if state.db(|store| store.has_users()).await? {
        return Err(already());
    }
    let password = strong_password(&body.password, &identity)?;
    let new = new_user(identity, hash(&state, password).await?, Vec::new());
    let created = state.run(move |store| store.create_first_user(&new, now())).await?;
    match created {
        Ok((user, organization_id)) => {
            Ok(respond::created(&CreateFirstUserResponse { user_id: user.id, organization_id }))
        }
        Err(OpError::Refused(FirstUserExists)) => Err(already()),
        Err(OpError::Repo(error)) => Err(error.into()),
    }
}

fn session_cookie(value: String, max_age: Option<CookieDuration>, secure: bool) -> Cookie<'static> {
    let mut cookie =
        Cookie::build(SESSION_COOKIE, value).path("/").http_only(true).same_site(SameSite::Lax).secure(secure).finish();
    if let Some(max_age) = max_age {
        cookie.set_max_age(max_age);
    }
    cookie
}

/// Log in user
#[utoipa::path(
    tag = "Authorization",
    operation_id = "log-in-user",
    request_body = LoginWithPasswordRequest,
    responses(
        (status = 201, description = "Signed in; the token is also set as the `coder_session_token` cookie", body = LoginWithPasswordResponse),
        (status = 400, description = "Invalid fields", body = Response),
        (status = 401, description = "Wrong e-mail or password, or a suspended account", body = Response),
    )
)]
#[post("/users/login")]
pub async fn login(state: web::Data<AppState>, body: Json<LoginWithPasswordRequest>) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut checks = Checks::default();
    checks.check(Email::parse(&body.email));
    if body.password.is_empty() {
        checks.check::<()>(Err(FieldError::required("password")));
    }
    checks.finish()?;
    // The hashing turn first: a flood of sign-ins waits there, before any database work.
    let turn = state.passwords.turn().await?;
    let email = body.email;
    let (found, hash) = state.db(move |store| store.user_for_login(&email)).await?.unzip();
    // The same slow check whether or not the e-mail exists.
    let matches = turn.verify(body.password, hash).await?;
    let user = found
        .filter(|_| matches)
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "Incorrect email or password."))?;
    if user.status == UserStatus::Suspended {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Your account is suspended. Contact an admin to reactivate your account.",
        ));
    }
    let token = secrets::new_api_token();
    let key = NewApiKey::new(&token, user.id, LoginType::Password, String::new(), state.settings.session_lifetime);
    state.db(move |store| store.insert_api_key(key, now())).await?;
    let mut response = respond::created(&LoginWithPasswordResponse { session_token: token.to_string() });
    response
        .add_cookie(&session_cookie(token.to_string(), None, state.settings.secure_cookies))
        .map_err(|error| ApiError::internal(&error))?;
    Ok(response)
}

/// Log out user
#[utoipa::path(
    tag = "Authorization",
    operation_id = "log-out-user",
    responses((status = 200, description = "The session key is deleted", body = Response), (status = 401, body = Response)),
    security(("CoderSessionToken" = []))
)]
#[post("/users/logout")]
pub async fn logout(state: web::Data<AppState>, actor: Actor) -> Result<HttpResponse, ApiError> {
    let ApiKey { id, user_id, .. } = actor.key;
    state.db(move |store| store.delete_api_key(user_id, &id)).await?;
    let mut response = respond::message(StatusCode::OK, "Logged out!");
    let expired = session_cookie(String::new(), Some(CookieDuration::ZERO), state.settings.secure_cookies);
    response.add_cookie(&expired).map_err(|error| ApiError::internal(&error))?;
    Ok(response)
}

/// Get users
#[utoipa::path(
    tag = "Users",
    operation_id = "get-users",
    responses((status = 200, body = GetUsersResponse), (status = 401, body = Response), (status = 403, body = Response)),
    security(("CoderSessionToken" = []))
)]
#[get("/users")]
pub async fn list_users(state: web::Data<AppState>, actor: Actor) -> Result<HttpResponse, ApiError> {
    actor.authorize(Action::ListUsers)?;
    let users: Vec<User> = state.db(|store| store.users()).await?.into_iter().map(User::from).collect();
    Ok(respond::ok(&GetUsersResponse { count: users.len(), users }))
}

/// Create new user
#[utoipa::path(
    tag = "Users",
    operation_id = "create-new-user",
    request_body = CreateUserRequest,
    responses(
        (status = 201, body = User),
        (status = 400, description = "Invalid fields or a weak password", body = Response),
        (status = 403, body = Response),
        (status = 404, description = "A listed organization does not exist", body = Response),
        (status = 409, description = "Username or e-mail taken", body = Response),
    ),
    security(("CoderSessionToken" = []))
)]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    actor.authorize(Action::CreateUser)?;
    let identity = body.identity()?;
    let password = strong_password(&body.password, &identity)?;
    let new = new_user(identity, hash(&state, password).await?, body.organization_ids.clone());
    match state.run(move |store| store.create_user(&new, now())).await? {
        Ok(user) => Ok(respond::created(&User::from(user))),
        Err(OpError::Repo(RepoError::Conflict(_))) => Err(ApiError::conflict("User already exists.")),
        Err(OpError::Refused(unknown)) => Err(ApiError::new(StatusCode::NOT_FOUND, unknown.to_string())),
        Err(OpError::Repo(error)) => Err(error.into()),
    }
}

/// Get user by name
#[utoipa::path(
    tag = "Users",
    operation_id = "get-user-by-name",
    params(("user" = String, Path, description = "User ID, username, or `me`")),
    responses((status = 200, body = User), (status = 400, description = "No such user", body = Response)),
    security(("CoderSessionToken" = []))
)]
#[get("/users/{user}")]
pub async fn get_user(target: TargetUser) -> Result<HttpResponse, ApiError> {
    Ok(respond::ok(&User::from(target.user)))
}

/// Assign role to user
#[utoipa::path(
    tag = "Users",
    operation_id = "assign-role-to-user",
    params(("user" = String, Path, description = "User ID, username, or `me`")),
    request_body = UpdateRoles,
    responses(
        (status = 200, body = User),
        (status = 400, description = "Unknown role, or one's own roles", body = Response),
        (status = 403, body = Response),
    ),
    security(("CoderSessionToken" = []))
)]
#[put("/users/{user}/roles")]
pub async fn update_site_roles(
    state: web::Data<AppState>,
    target: TargetUser,
    body: Json<UpdateRoles>,
) -> Result<HttpResponse, ApiError> {
    let TargetUser { actor, user } = target;
    SelfChange::SiteRoles.check(actor.id(), user.id).map_err(|refusal| ApiError::bad_request(refusal.to_string()))?;
    actor.authorize(Action::AssignSiteRoles { user: user.id })?;
    let roles = SiteRole::parse_list(&body.roles).map_err(|error| ApiError::bad_request(error.to_string()))?;
    let updated = state.db(move |store| store.set_site_roles(user.id, &roles, now())).await?;
    Ok(respond::ok(&User::from(updated)))
}

/// Delete user
#[utoipa::path(
    tag = "Users",
    operation_id = "delete-user",
    params(("user" = String, Path, description = "User ID, username, or `me`")),
    responses(
        (status = 200, description = "Deleted: its tokens and memberships go; the jobs it started stay", body = Response),
        (status = 400, body = Response),
        (status = 403, description = "Not an owner, or oneself", body = Response),
        (status = 409, description = "The user is the last member of an organization", body = Response),
    ),
    security(("CoderSessionToken" = []))
)]
#[delete("/users/{user}")]
pub async fn delete_user(state: web::Data<AppState>, target: TargetUser) -> Result<HttpResponse, ApiError> {
    let TargetUser { actor, user } = target;
    SelfChange::Delete
        .check(actor.id(), user.id)
        .map_err(|refusal| ApiError::new(StatusCode::FORBIDDEN, refusal.to_string()))?;
    actor.authorize(Action::DeleteUser { user: user.id })?;
    match state.run(move |store| store.delete_user(user.id, now())).await? {
        Ok(()) => Ok(respond::message(StatusCode::OK, "User has been deleted!")),
        Err(OpError::Refused(refusal)) => Err(ApiError::conflict(refusal.to_string())),
        Err(OpError::Repo(error)) => Err(error.into()),
    }
}

async fn set_status(state: &AppState, target: TargetUser, status: UserStatus) -> Result<HttpResponse, ApiError> {
    let TargetUser { actor, user } = target;
    if status == UserStatus::Suspended {
        SelfChange::Suspend.check(actor.id(), user.id).map_err(|refusal| ApiError::bad_request(refusal.to_string()))?;
    }
    actor.authorize(Action::ChangeUserStatus { user: user.id })?;
    if status == UserStatus::Suspended {
        check_suspendable(&user).map_err(|refusal| ApiError::bad_request(refusal.to_string()))?;
    }
    let updated = state.db(move |store| store.set_status(user.id, status, now())).await?;
    Ok(respond::ok(&User::from(updated)))
}

/// Suspend user account
#[utoipa::path(
    tag = "Users",
    operation_id = "suspend-user-account",
    params(("user" = String, Path, description = "User ID, username, or `me`")),
    responses((status = 200, body = User), (status = 400, body = Response), (status = 403, body = Response)),
    security(("CoderSessionToken" = []))
)]
#[put("/users/{user}/status/suspend")]
pub async fn suspend_user(state: web::Data<AppState>, target: TargetUser) -> Result<HttpResponse, ApiError> {
    set_status(&state, target, UserStatus::Suspended).await
}

/// Activate user account
#[utoipa::path(
    tag = "Users",
    operation_id = "activate-user-account",
    params(("user" = String, Path, description = "User ID, username, or `me`")),
    responses((status = 200, body = User), (status = 400, body = Response), (status = 403, body = Response)),
    security(("CoderSessionToken" = []))
)]
#[put("/users/{user}/status/activate")]
pub async fn activate_user(state: web::Data<AppState>, target: TargetUser) -> Result<HttpResponse, ApiError> {
    set_status(&state, target, UserStatus::Active).await
}

/// Get organizations by user
#[utoipa::path(
    tag = "Users",
    operation_id = "get-organizations-by-user",
    params(("user" = String, Path, description = "User ID, username, or `me`")),
    responses((status = 200, body = Vec<Organization>), (status = 400, body = Response)),
    security(("CoderSessionToken" = []))
)]
#[get("/users/{user}/organizations")]
pub async fn user_organizations(state: web::Data<AppState>, target: TargetUser) -> Result<HttpResponse, ApiError> {
    let ids: Vec<uuid::Uuid> = target.user.organization_ids().collect();
    let organizations = state.db(move |store| store.organizations(Some(&ids))).await?;
    Ok(respond::ok(&organizations.into_iter().map(Organization::from).collect::<Vec<_>>()))
}

/// Get organization by user and organization name
#[utoipa::path(
    tag = "Users",
    operation_id = "get-organization-by-user-and-organization-name",
    params(
        ("user" = String, Path, description = "User ID, username, or `me`"),
        ("organizationname" = String, Path, description = "Organization name"),
    ),
    responses((status = 200, body = Organization), (status = 400, body = Response), (status = 404, body = Response)),
    security(("CoderSessionToken" = []))
)]
#[get("/users/{user}/organizations/{organizationname}")]
pub async fn user_organization(
    state: web::Data<AppState>,
    target: TargetUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, name) = path.into_inner();
    let reference = OrganizationRef::Name(name.to_ascii_lowercase());
    let organization = state.db(move |store| store.organization(&reference)).await?;
    match organization {
        Some(organization) if target.user.organization_ids().any(|id| id == organization.id) => {
            Ok(respond::ok(&Organization::from(organization)))
        }
        _ => Err(ApiError::not_found()),
    }
}
