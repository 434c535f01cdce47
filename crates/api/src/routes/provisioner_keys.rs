//! Provisioner keys: what daemons of an organization sign in with.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use domain::auth::hash_secret;
use domain::authz::Action;
use domain::provisioner::{NewProvisionerKey, ProvisionerKeyName, Tags};
use domain::repo::{ProvisionerKeyRepo, RepoError};

use crate::error::ApiError;
use crate::extract::{InOrganization, Valid};
use crate::respond;
use crate::secrets;
use crate::state::{AppState, now};
use crate::wire::ValidationError;
use crate::wire::provisioner::{CreateProvisionerKeyRequest, CreateProvisionerKeyResponse, ProvisionerKey};

/// List provisioner key
#[utoipa::path(
    tag = "Provisioning",
    operation_id = "list-provisioner-key",
    params(("organization" = String, Path, description = super::param::ORGANIZATION)),
    responses(
        (status = 200, description = "Oldest first; never the secrets", body = Vec<ProvisionerKey>),
        (status = 403, description = "Only owners and the organization's admins manage its keys."),
    ),
    security(("CoderSessionToken" = []))
)]
#[get("/organizations/{organization}/provisionerkeys")]
pub async fn list(state: web::Data<AppState>, scope: InOrganization) -> Result<HttpResponse, ApiError> {
    scope.authorize(|organization| Action::ManageProvisionerKeys { organization })?;
    let organization = scope.organization.id;
    let keys = state.db(move |store| store.provisioner_keys(organization)).await?;
    Ok(respond::ok(&keys.into_iter().map(ProvisionerKey::from).collect::<Vec<_>>()))
}

/// Create provisioner key
#[utoipa::path(
    tag = "Provisioning",
    operation_id = "create-provisioner-key",
    params(("organization" = String, Path, description = super::param::ORGANIZATION)),
    request_body = CreateProvisionerKeyRequest,
    responses(
        (status = 201, description = "The secret, shown this once", body = CreateProvisionerKeyResponse, links(
            ("DeleteKey" = (operation_id = "delete-provisioner-key", parameters(("organization" = "$request.path.organization"), ("provisionerkey" = "$request.body#/name")))),
            ("RegisterDaemon" = (operation_id = "register-provisioner-daemon", parameters(("header.Coder-Provisioner-Daemon-Key" = "$response.body#/key")))),
        )),
        (status = 400, description = "A name that is empty, too long or one of the built-in keys' (`Name is required` and the like, naming the field)."),
        (status = 403, description = "Only owners and the organization's admins manage its keys."),
        (status = 409, description = "The organization has a key of that name, in any case."),
    ),
    security(("CoderSessionToken" = []))
)]
#[post("/organizations/{organization}/provisionerkeys")]
pub async fn create(
    state: web::Data<AppState>,
    scope: InOrganization,
    body: Valid<CreateProvisionerKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    scope.authorize(|organization| Action::ManageProvisionerKeys { organization })?;
    let body = body.into_inner();
    let name = ProvisionerKeyName::parse(&body.name).map_err(|refusal| {
        ApiError::bad_request(refusal.to_string()).validations(vec![ValidationError::new("name", refusal.to_string())])
    })?;
    let tags = Tags::normalise_for_organization(body.tags).map_err(|error| ApiError::validation(&[error]))?;
    let secret = secrets::new_provisioner_key();
    let new =
        NewProvisionerKey { organization_id: scope.organization.id, name, tags, hashed_secret: hash_secret(&secret) };
    let name = new.name.as_str().to_owned();
    match state.run(move |store| store.create_provisioner_key(&new, now())).await? {
        Ok(_) => Ok(respond::created(&CreateProvisionerKeyResponse { key: secret })),
        Err(RepoError::Conflict(_)) => {
            Err(ApiError::conflict(format!("Provisioner key with name '{name}' already exists in organization")))
        }
        Err(error) => Err(error.into()),
    }
}

/// Delete provisioner key
#[utoipa::path(
    tag = "Provisioning",
    operation_id = "delete-provisioner-key",
    params(
        ("organization" = String, Path, description = super::param::ORGANIZATION),
        ("provisionerkey" = String, Path, description = "The key's name, in any case."),
    ),
    responses(
        (status = 204, description = "Deleted, with the daemons registered through it"),
        (status = 403, description = "Only owners and the organization's admins manage its keys."),
    ),
    security(("CoderSessionToken" = []))
)]
#[delete("/organizations/{organization}/provisionerkeys/{provisionerkey}")]
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: InOrganization,
) -> Result<HttpResponse, ApiError> {
    scope.authorize(|organization| Action::ManageProvisionerKeys { organization })?;
    let raw = req.match_info().get("provisionerkey").unwrap_or_default();
    // A name no key could have is not looked for.
    let name = ProvisionerKeyName::parse(raw).map_err(|_| ApiError::not_found())?;
    let organization = scope.organization.id;
    state.db(move |store| store.delete_provisioner_key(organization, name.as_str())).await?;
    Ok(HttpResponse::NoContent().finish())
}
