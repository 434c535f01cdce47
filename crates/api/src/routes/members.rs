//! Members of an organization and their roles there.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use domain::authz::Action;
use domain::membership::OrgRole;
use domain::repo::{MembershipRepo, OpError, RepoError};
use domain::user::{SelfChange, User};

use crate::error::ApiError;
use crate::extract::{InOrganization, Valid};
use crate::respond;
use crate::state::{AppState, now};
use crate::wire::members::{OrganizationMember, OrganizationMemberWithUserData};
use crate::wire::users::UpdateMemberRoles;

/// Member management needs an admin of the organization; the `{user}` is any existing user.
async fn managed_user(req: &HttpRequest, scope: &InOrganization) -> Result<User, ApiError> {
    scope.authorize(|organization| Action::ManageMembers { organization })?;
    crate::extract::find_member_user(req, &scope.actor).await
}

fn self_change(refusal: SelfChange) -> ApiError {
    let error = ApiError::bad_request(refusal.to_string());
    match refusal.detail() {
        Some(detail) => error.detail(detail),
        None => error,
    }
}

/// List organization members
#[utoipa::path(
    tag = "Members",
    operation_id = "list-organization-members",
    params(("organization" = String, Path, description = super::param::ORGANIZATION)),
    responses((status = 200, body = Vec<OrganizationMemberWithUserData>)),
    security(("CoderSessionToken" = []))
)]
#[get("/organizations/{organization}/members")]
pub async fn list(state: web::Data<AppState>, scope: InOrganization) -> Result<HttpResponse, ApiError> {
    scope.authorize(|organization| Action::ReadMembers { organization })?;
    let id = scope.organization.id;
    let members = state.db(move |store| store.members(id)).await?;
    Ok(respond::ok(&members.into_iter().map(OrganizationMemberWithUserData::from).collect::<Vec<_>>()))
}

/// Add organization member
#[utoipa::path(
    tag = "Members",
    operation_id = "add-organization-member",
    params(("organization" = String, Path, description = super::param::ORGANIZATION), ("user" = String, Path, description = "The user: its ID or its username (in any case); `me` for the caller.")),
    responses(
        (status = 200, description = "The new membership", body = OrganizationMember, links(
            ("RemoveMember" = (operation_id = "remove-organization-member", parameters(("organization" = "$response.body#/organization_id"), ("user" = "$response.body#/user_id")))),
            ("AssignMemberRoles" = (operation_id = "assign-role-to-organization-member", parameters(("organization" = "$response.body#/organization_id"), ("user" = "$response.body#/user_id")))),
        )),
        (status = 400, description = "No such user, or already a member."),
        (status = 403, description = "Only owners and the organization's admins manage members."),
    ),
    security(("CoderSessionToken" = []))
)]
#[post("/organizations/{organization}/members/{user}")]
pub async fn add(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: InOrganization,
) -> Result<HttpResponse, ApiError> {
    let user = managed_user(&req, &scope).await?;
    let organization = scope.organization.id;
    match state.run(move |store| store.add_member(organization, user.id, now())).await? {
        Ok(member) => Ok(respond::ok(&OrganizationMember::from(&member.membership))),
        Err(RepoError::Conflict(_)) => {
            Err(ApiError::bad_request("Organization member already exists in this organization"))
        }
        Err(error) => Err(error.into()),
    }
}

/// Remove organization member
#[utoipa::path(
    tag = "Members",
    operation_id = "remove-organization-member",
    params(("organization" = String, Path, description = super::param::ORGANIZATION), ("user" = String, Path, description = "The user: its ID or its username (in any case); `me` for the caller.")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "No such user, oneself, or the last member."),
        (status = 403, description = "Only owners and the organization's admins manage members."),
        (status = 404, description = "The user is not a member."),
    ),
    security(("CoderSessionToken" = []))
)]
#[delete("/organizations/{organization}/members/{user}")]
pub async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: InOrganization,
) -> Result<HttpResponse, ApiError> {
    let user = managed_user(&req, &scope).await?;
    SelfChange::LeaveOrganization.check(scope.actor.id(), user.id).map_err(self_change)?;
    let organization = scope.organization.id;
    match state.run(move |store| store.remove_member(organization, user.id)).await? {
        Ok(()) => Ok(HttpResponse::NoContent().finish()),
        Err(OpError::Refused(last)) => Err(ApiError::bad_request(last.to_string())),
        Err(OpError::Repo(error)) => Err(error.into()),
    }
}

/// Assign role to organization member
#[utoipa::path(
    tag = "Members",
    operation_id = "assign-role-to-organization-member",
    params(("organization" = String, Path, description = super::param::ORGANIZATION), ("user" = String, Path, description = "The user: its ID or its username (in any case); `me` for the caller.")),
    request_body = UpdateMemberRoles,
    responses(
        (status = 200, description = "The membership with its new roles", body = OrganizationMember),
        (status = 400, description = "No such user, one's own roles, or an unknown role."),
        (status = 403, description = "Only owners and the organization's admins manage members."),
        (status = 404, description = "The user is not a member."),
    ),
    security(("CoderSessionToken" = []))
)]
#[put("/organizations/{organization}/members/{user}/roles")]
pub async fn update_roles(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: InOrganization,
    body: Valid<UpdateMemberRoles>,
) -> Result<HttpResponse, ApiError> {
    let user = managed_user(&req, &scope).await?;
    SelfChange::OrganizationRoles.check(scope.actor.id(), user.id).map_err(self_change)?;
    let roles = OrgRole::parse_list(&body.roles).map_err(|error| ApiError::bad_request(error.to_string()))?;
    let organization = scope.organization.id;
    let member = state.db(move |store| store.set_member_roles(organization, user.id, &roles, now())).await?;
    Ok(respond::ok(&OrganizationMember::from(&member.membership)))
}
