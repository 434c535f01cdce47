//! Users: the first user, signing in and out, and accounts (owners manage them).

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, post, put, web};
use domain::auth::{ApiKey, LoginType, NewApiKey, check_sign_in};
use domain::authz::Action;
use domain::membership::SiteRole;
use domain::organization::OrganizationRef;
use domain::repo::{ApiKeyRepo, FirstUserExists, OpError, OrganizationRepo, RepoError, UserRepo};
use domain::user::{NewUser, Password, SelfChange, UserStatus, check_suspendable};

use crate::error::ApiError;
use crate::extract::{Actor, SESSION_COOKIE, TargetUser, Valid};
use crate::respond;
use crate::secrets;
use crate::state::{AppState, now};
use crate::wire::auth::{LoginWithPasswordRequest, LoginWithPasswordResponse};
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
        (status = 404, description = "No user exists yet", body = Response),
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
        (status = 201, description = "Created: an owner, and a member of the default organization", body = CreateFirstUserResponse, links(
            ("GetUser" = (operation_id = "get-user-by-name", parameters(("user" = "$response.body#/user_id")))),
            ("GetOrganization" = (operation_id = "get-organization-by-id", parameters(("organization" = "$response.body#/organization_id")))),
        )),
        (status = 400, description = "A password too easy to guess (`Password not strong enough!`)."),
        (status = 409, description = "The first user exists already."),
    )
)]
#[post("/users/first")]
pub async fn create_first_user(
    state: web::Data<AppState>,
    body: Valid<CreateFirstUserRequest>,
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
        (status = 401, description = "A wrong e-mail or password, or a suspended account."),
    )
)]
#[post("/users/login")]
pub async fn login(
    state: web::Data<AppState>,
    body: Valid<LoginWithPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    // The hashing turn first: a flood of sign-ins waits there, before any database work.
    let turn = state.passwords.turn().await?;
    let email = body.email;
    let (found, hash) = state.db(move |store| store.user_for_login(&email)).await?.unzip();
    // The same slow check whether or not the e-mail exists.
    let matches = turn.verify(body.password, hash).await?;
    let user = found
        .filter(|_| matches)
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "Incorrect email or password."))?;
    check_sign_in(user.status).map_err(|refused| ApiError::new(StatusCode::UNAUTHORIZED, refused.to_string()))?;
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
    responses((status = 200, description = "The key the request was made with is deleted", body = Response)),
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
    responses(
        (status = 200, body = GetUsersResponse, links(
            ("GetUser" = (operation_id = "get-user-by-name", parameters(("user" = "$response.body#/users/0/id")))),
        )),
        (status = 403, description = "Only owners list users."),
    ),
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
        (status = 201, body = User, links(
            ("GetUser" = (operation_id = "get-user-by-name", parameters(("user" = "$response.body#/id")))),
            ("DeleteUser" = (operation_id = "delete-user", parameters(("user" = "$response.body#/id")))),
            ("AssignSiteRoles" = (operation_id = "assign-role-to-user", parameters(("user" = "$response.body#/id")))),
            ("SuspendUser" = (operation_id = "suspend-user-account", parameters(("user" = "$response.body#/id")))),
            ("ActivateUser" = (operation_id = "activate-user-account", parameters(("user" = "$response.body#/id")))),
            ("UserOrganizations" = (operation_id = "get-organizations-by-user", parameters(("user" = "$response.body#/id")))),
            ("CreateToken" = (operation_id = "create-token-api-key", parameters(("user" = "$response.body#/id")))),
            ("ListTokens" = (operation_id = "get-user-tokens", parameters(("user" = "$response.body#/id")))),
            ("AddToOrganization" = (operation_id = "add-organization-member", parameters(("organization" = "$response.body#/organization_ids/0"), ("user" = "$response.body#/id")))),
        )),
        (status = 400, description = "A password too easy to guess (`Password not strong enough!`)."),
        (status = 403, description = "Only owners create users."),
        (status = 404, description = "A listed organization does not exist."),
        (status = 409, description = "Another user has the username or e-mail."),
    ),
    security(("CoderSessionToken" = []))
)]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    actor: Actor,
    body: Valid<CreateUserRequest>,
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
    params(("user" = String, Path, description = super::param::USER)),
    responses((status = 200, body = User), (status = 400, description = super::param::NO_SUCH_USER)),
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
    params(("user" = String, Path, description = super::param::USER)),
    request_body = UpdateRoles,
    responses(
        (status = 200, description = "The user with its new site roles", body = User),
        (status = 400, description = "No such user (as for reading one), one's own roles, or an unknown role."),
        (status = 403, description = "Only owners assign site roles."),
    ),
    security(("CoderSessionToken" = []))
)]
#[put("/users/{user}/roles")]
pub async fn update_site_roles(
    state: web::Data<AppState>,
    target: TargetUser,
    body: Valid<UpdateRoles>,
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
    params(("user" = String, Path, description = super::param::USER)),
    responses(
        (status = 200, description = "Deleted: its keys and memberships go; the jobs it started stay", body = Response),
        (status = 400, description = super::param::NO_SUCH_USER),
        (status = 403, description = "Only owners delete users, and never themselves."),
        (status = 409, description = "The user is the last member of an organization."),
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
    params(("user" = String, Path, description = super::param::USER)),
    responses(
        (status = 200, description = "Suspended: it can no longer sign in or use its keys", body = User),
        (status = 400, description = "No such user (as for reading one), oneself, or an owner."),
        (status = 403, description = "Only owners suspend users."),
    ),
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
    params(("user" = String, Path, description = super::param::USER)),
    responses(
        (status = 200, description = "Active again", body = User),
        (status = 400, description = super::param::NO_SUCH_USER),
        (status = 403, description = "Only owners activate users."),
    ),
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
    params(("user" = String, Path, description = super::param::USER)),
    responses(
        (status = 200, description = "The organizations the user belongs to", body = Vec<Organization>),
        (status = 400, description = super::param::NO_SUCH_USER),
    ),
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
        ("user" = String, Path, description = super::param::USER),
        ("organizationname" = String, Path, description = "The organization's name, in any case."),
    ),
    responses(
        (status = 200, body = Organization),
        (status = 400, description = super::param::NO_SUCH_USER),
        (status = 404, description = "The user belongs to no organization of that name."),
    ),
    security(("CoderSessionToken" = []))
)]
#[get("/users/{user}/organizations/{organizationname}")]
pub async fn user_organization(
    state: web::Data<AppState>,
    target: TargetUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, name) = path.into_inner();
    let reference = OrganizationRef::name(&name).ok_or_else(ApiError::not_found)?;
    let organization = state.db(move |store| store.organization(&reference)).await?;
    match organization {
        Some(organization) if target.user.organization_ids().any(|id| id == organization.id) => {
            Ok(respond::ok(&Organization::from(organization)))
        }
        _ => Err(ApiError::not_found()),
    }
}
