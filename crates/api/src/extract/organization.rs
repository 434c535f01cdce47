use actix_web::HttpRequest;
use domain::authz::Action;
use domain::organization::{Organization, OrganizationRef};
use domain::repo::OrganizationRepo;

use super::Actor;
use crate::error::ApiError;

/// A route under `/organizations/{organization}`: the caller, and the organization the path
/// names (id, name, `default` or the nil UUID), which the caller may read. Anything else,
/// including an organization the caller may not see, is 404.
#[derive(Debug, Clone)]
pub struct InOrganization {
    pub actor: Actor,
    pub organization: Organization,
}

impl InOrganization {
    pub fn authorize(&self, action: impl FnOnce(uuid::Uuid) -> Action) -> Result<(), ApiError> {
        self.actor.authorize(action(self.organization.id))
    }
}

async fn resolve(req: &HttpRequest) -> Result<InOrganization, ApiError> {
    let actor = super::actor::authenticate(req).await?;
    // A segment no organization could be called is not looked for: it is simply not found.
    let reference =
        OrganizationRef::parse(&super::path_segment(req, "organization")?).ok_or_else(ApiError::not_found)?;
    let state = super::state(req)?;
    let organization = state.db(move |store| store.organization(&reference)).await?.ok_or_else(ApiError::not_found)?;
    actor.authorize(Action::ReadOrganization { organization: organization.id })?;
    Ok(InOrganization { actor, organization })
}

super::extract_with!(InOrganization, resolve);
