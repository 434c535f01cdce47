//! Organizations: the seed's first five routes.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use domain::authz::Action;
use domain::organization::DeletionRefusal;
use domain::repo::{OpError, OrganizationRepo, RepoError};

use crate::error::ApiError;
use crate::extract::{Actor, InOrganization, Valid};
use crate::respond;
use crate::state::{AppState, now};
use crate::wire::organizations::{CreateOrganizationRequest, Organization, UpdateOrganizationRequest};
use crate::wire::{Response, ValidationError};

/// Get organizations
#[utoipa::path(
    tag = "Organizations",
    operation_id = "get-organizations",
    responses(
        (status = 200, description = "The organizations the caller may read, by name", body = Vec<Organization>, links(
            ("GetOrganization" = (operation_id = "get-organization-by-id", parameters(("organization" = "$response.body#/0/id")))),
        )),
    ),
    security(("CoderSessionToken" = []))
)]
#[get("/organizations")]
pub async fn list(state: web::Data<AppState>, actor: Actor) -> Result<HttpResponse, ApiError> {
    let visible = actor.subject().readable_organizations();
    let organizations = state.db(move |store| store.organizations(visible.as_deref())).await?;
    Ok(respond::ok(&organizations.into_iter().map(Organization::from).collect::<Vec<_>>()))
}

/// Create organization
#[utoipa::path(
    tag = "Organizations",
    operation_id = "create-organization",
    request_body = CreateOrganizationRequest,
    responses(
        (status = 201, description = "Created; the caller is its first member", body = Organization, links(
            ("GetOrganization" = (operation_id = "get-organization-by-id", parameters(("organization" = "$response.body#/id")))),
            ("UpdateOrganization" = (operation_id = "update-organization", parameters(("organization" = "$response.body#/id")))),
            ("DeleteOrganization" = (operation_id = "delete-organization", parameters(("organization" = "$response.body#/id")))),
            ("ListMembers" = (operation_id = "list-organization-members", parameters(("organization" = "$response.body#/id")))),
            ("CreateJob" = (operation_id = "create-provisioner-job", parameters(("organization" = "$response.body#/id")))),
            ("ListJobs" = (operation_id = "get-provisioner-jobs", parameters(("organization" = "$response.body#/id")))),
            ("CreateKey" = (operation_id = "create-provisioner-key", parameters(("organization" = "$response.body#/id")))),
            ("ListKeys" = (operation_id = "list-provisioner-key", parameters(("organization" = "$response.body#/id")))),
            ("ListDaemons" = (operation_id = "get-provisioner-daemons", parameters(("organization" = "$response.body#/id")))),
        )),
        (status = 400, description = "The name `default`, in any case (`Organization name \"default\" is reserved.`)."),
        (status = 403, description = "Only owners create organizations."),
        (status = 409, description = "Another organization has that name, in any case."),
    ),
    security(("CoderSessionToken" = []))
)]
#[post("/organizations")]
pub async fn create(
    state: web::Data<AppState>,
    actor: Actor,
    body: Valid<CreateOrganizationRequest>,
) -> Result<HttpResponse, ApiError> {
    actor.authorize(Action::CreateOrganization)?;
    let new = body.into_inner().into_domain()?;
    let creator = actor.id();
    match state.run(move |store| store.create_organization(&new, creator, now())).await? {
        Ok(organization) => Ok(respond::created(&Organization::from(organization))),
        Err(RepoError::Conflict(_)) => Err(ApiError::conflict("Organization already exists with that name.")),
        Err(error) => Err(error.into()),
    }
}

/// Get organization by ID
#[utoipa::path(
    tag = "Organizations",
    operation_id = "get-organization-by-id",
    params(("organization" = String, Path, description = super::param::ORGANIZATION)),
    responses((status = 200, body = Organization)),
    security(("CoderSessionToken" = []))
)]
#[get("/organizations/{organization}")]
pub async fn get(scope: InOrganization) -> Result<HttpResponse, ApiError> {
    Ok(respond::ok(&Organization::from(scope.organization)))
}

/// Update organization
#[utoipa::path(
    tag = "Organizations",
    operation_id = "update-organization",
    params(("organization" = String, Path, description = super::param::ORGANIZATION)),
    request_body = UpdateOrganizationRequest,
    responses(
        (status = 200, description = "The organization as changed", body = Organization),
        (status = 400, description = "The new name is `default`, in any case."),
        (status = 403, description = "Only owners and the organization's admins change it."),
        (status = 409, description = "Another organization has the new name, in any case."),
    ),
    security(("CoderSessionToken" = []))
)]
#[patch("/organizations/{organization}")]
pub async fn update(
    state: web::Data<AppState>,
    scope: InOrganization,
    body: Valid<UpdateOrganizationRequest>,
) -> Result<HttpResponse, ApiError> {
    scope.authorize(|organization| Action::UpdateOrganization { organization })?;
    let patch = body.into_inner().into_domain()?;
    let id = scope.organization.id;
    let new_name = patch.name.as_ref().map(|name| name.as_str().to_owned()).unwrap_or_default();
    match state.run(move |store| store.update_organization(id, &patch, now())).await? {
        Ok(organization) => Ok(respond::ok(&Organization::from(organization))),
        Err(RepoError::Conflict(_)) => {
            Err(ApiError::conflict(format!("Organization already exists with the name {new_name:?}."))
                .validations(vec![ValidationError::new("name", "This value is already in use and should be unique.")]))
        }
        Err(error) => Err(error.into()),
    }
}

/// Delete organization
#[utoipa::path(
    tag = "Organizations",
    operation_id = "delete-organization",
    params(("organization" = String, Path, description = super::param::ORGANIZATION)),
    responses(
        (status = 200, description = "Deleted; its name is free again and its job history is kept", body = Response),
        (status = 400, description = "The default organization is never deleted."),
        (status = 403, description = "Only owners and the organization's admins delete it."),
        (status = 409, description = "Other members, provisioner keys or active jobs remain; `detail` counts them."),
    ),
    security(("CoderSessionToken" = []))
)]
#[delete("/organizations/{organization}")]
pub async fn delete(state: web::Data<AppState>, scope: InOrganization) -> Result<HttpResponse, ApiError> {
    scope.authorize(|organization| Action::DeleteOrganization { organization })?;
    let (id, deleter) = (scope.organization.id, scope.actor.id());
    match state.run(move |store| store.delete_organization(id, deleter, now())).await? {
        Ok(()) => Ok(respond::message(StatusCode::OK, "Organization has been deleted.")),
        Err(OpError::Refused(refusal @ DeletionRefusal::DefaultOrganization)) => {
            Err(ApiError::bad_request(refusal.to_string()))
        }
        Err(OpError::Refused(refusal @ DeletionRefusal::StillInUse(blockers))) => {
            Err(ApiError::conflict(refusal.to_string()).detail(blockers.to_string()))
        }
        Err(OpError::Repo(error)) => Err(error.into()),
    }
}
