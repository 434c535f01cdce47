use actix_web::HttpRequest;
use domain::authz::Action;
use domain::organization::{Organization, OrganizationRef};

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
    // A segment no organization could be called is not looked for: it is simply not found
    // (once the caller is known: a stranger is told 401 first).
    let Some(reference) = OrganizationRef::parse(&super::path_segment(req, "organization")?) else {
        super::actor::authenticate(req).await?;
        return Err(ApiError::not_found());
    };
    let (actor, organization) = super::actor::authenticate_in(req, Some(reference)).await?;
    let organization = organization.ok_or_else(ApiError::not_found)?;
    actor.authorize(Action::ReadOrganization { organization: organization.id })?;
    Ok(InOrganization { actor, organization })
}

super::extract_with!(InOrganization, resolve);
