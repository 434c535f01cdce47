//! Provisioner keys: what daemons of an organization sign in with.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use domain::auth::hash_secret;
use domain::authz::Action;
use domain::provisioner::{NewProvisionerKey, ProvisionerKeyName, Tags};
use domain::repo::{ProvisionerKeyRepo, RepoError};

use crate::error::ApiError;
use crate::extract::{InOrganization, Json};
use crate::respond;
use crate::secrets;
use crate::state::{AppState, now};
use crate::wire::checks::Checks;
use crate::wire::provisioner::{CreateProvisionerKeyRequest, CreateProvisionerKeyResponse, ProvisionerKey};
use crate::wire::{Response, ValidationError};

/// List provisioner key
#[utoipa::path(
    tag = "Provisioning",
    operation_id = "list-provisioner-key",
    params(("organization" = String, Path, description = "Organization ID, name, `default`, or the nil UUID")),
    responses((status = 200, description = "Oldest first; never the secrets", body = Vec<ProvisionerKey>), (status = 403, body = Response), (status = 404, body = Response)),
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
    params(("organization" = String, Path, description = "Organization ID, name, `default`, or the nil UUID")),
    request_body = CreateProvisionerKeyRequest,
    responses(
        (status = 201, description = "The secret, shown this once", body = CreateProvisionerKeyResponse),
        (status = 400, body = Response),
        (status = 403, body = Response),
        (status = 409, description = "The organization has a key of that name", body = Response),
    ),
    security(("CoderSessionToken" = []))
)]
#[post("/organizations/{organization}/provisionerkeys")]
pub async fn create(
    state: web::Data<AppState>,
    scope: InOrganization,
    body: Json<CreateProvisionerKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    scope.authorize(|organization| Action::ManageProvisionerKeys { organization })?;
    let body = body.into_inner();
    let name = ProvisionerKeyName::parse(&body.name).map_err(|refusal| {
        ApiError::bad_request(refusal.to_string()).validations(vec![ValidationError::new("name", refusal.to_string())])
    })?;
    let mut checks = Checks::default();
    let tags = checks.check(Tags::normalise_for_organization(body.tags));
    checks.finish()?;
    let secret = secrets::new_provisioner_key();
    let new = NewProvisionerKey {
        organization_id: scope.organization.id,
        name,
        tags: crate::wire::checks::checked(tags)?,
        hashed_secret: hash_secret(&secret),
    };
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
        ("organization" = String, Path, description = "Organization ID, name, `default`, or the nil UUID"),
        ("provisionerkey" = String, Path, description = "Provisioner key name"),
    ),
    responses(
        (status = 204, description = "Deleted, with the daemons registered through it"),
        (status = 403, body = Response),
        (status = 404, body = Response),
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
    let name = req.match_info().get("provisionerkey").unwrap_or_default().to_owned();
    let organization = scope.organization.id;
    state.db(move |store| store.delete_provisioner_key(organization, &name)).await?;
    Ok(HttpResponse::NoContent().finish())
}
