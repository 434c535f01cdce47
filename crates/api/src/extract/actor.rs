use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest};
use domain::auth::{ApiKey, ApiToken, AuthFailure, check_key};
use domain::authz::{Action, Decision, Subject, decide};
use domain::organization::{Organization, OrganizationRef};
use domain::repo::{ApiKeyRepo, OrganizationRepo};
use domain::user::User;

use crate::error::ApiError;
use crate::state::now;

pub const SESSION_COOKIE: &str = "coder_session_token";
const SESSION_HEADER: &str = "Coder-Session-Token";

/// The signed-in user making the request, and the key it used.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user: User,
    pub key: ApiKey,
    subject: Subject,
}

impl Actor {
    /// The one place a decision becomes a response: 404 for what may not be seen, 403 for
    /// what may be seen but not done.
    pub fn authorize(&self, action: Action) -> Result<(), ApiError> {
        match decide(&self.subject, action) {
            Decision::Allow => Ok(()),
            Decision::NotFound => Err(ApiError::not_found()),
            Decision::Forbidden => Err(ApiError::forbidden()),
        }
    }

    pub fn subject(&self) -> &Subject {
        &self.subject
    }

    pub fn id(&self) -> uuid::Uuid {
        self.user.id
    }
}

/// A token that came in the query string, taken out of the URL before anything logs it.
#[derive(Debug, Clone)]
struct QueryToken(String);

/// Middleware, outermost: moves `coder_session_token` from the query string into the
/// request, so request logs and error reports never carry a secret.
pub async fn hide_query_token(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let query = req.query_string();
    if query.contains(SESSION_COOKIE) {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        let (tokens, kept): (Vec<_>, Vec<_>) = pairs.into_iter().partition(|(name, _)| name == SESSION_COOKIE);
        if let Some((_, token)) = tokens.into_iter().next() {
            let rest = serde_urlencoded::to_string(&kept).unwrap_or_default();
            let path = req.path().to_owned();
            let target = if rest.is_empty() { path } else { format!("{path}?{rest}") };
            if let Ok(uri) = target.parse() {
                req.head_mut().uri = uri;
            }
            req.extensions_mut().insert(QueryToken(token));
        }
    }
    next.call(req).await
}

/// The token, from the first source that has one: the `coder_session_token` cookie, the
/// query parameter of that name, the `Coder-Session-Token` header, `Authorization: Bearer`.
pub fn token_from_request(req: &HttpRequest) -> Option<String> {
    let non_empty = |value: String| (!value.is_empty()).then_some(value);
    let from_cookie = || req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()).and_then(non_empty);
    let from_query = || req.extensions().get::<QueryToken>().map(|token| token.0.clone()).and_then(non_empty);
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim).map(str::to_owned);
    let from_header = || header(SESSION_HEADER).and_then(non_empty);
    let from_bearer = || {
        let value = header("Authorization")?;
        let (scheme, token) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned()).and_then(non_empty)
    };
    from_cookie().or_else(from_query).or_else(from_header).or_else(from_bearer)
}

/// The organization a request's path names, read together with its caller.
#[derive(Debug, Clone)]
struct ReadAlong(OrganizationRef, Option<Organization>);

/// The signed-in caller. Checked once per request: the rate limiter may have asked first,
/// and the request's log line names the user. The organization the path names, if any, is
/// read in the same trip, for the route's extractor to find.
pub(crate) async fn authenticate(req: &HttpRequest) -> Result<Actor, ApiError> {
    Ok(authenticate_in(req, organization_in_path(req.path())).await?.0)
}

/// `/api/v2/organizations/{organization}/...`'s organization, as the path spells it. Read
/// from the raw path because the rate limiter asks before routing; a segment that needs
/// decoding is left to the route.
fn organization_in_path(path: &str) -> Option<OrganizationRef> {
    let mut segments = path.strip_prefix("/api/v2/organizations/")?.split('/');
    segments.next().filter(|segment| !segment.contains('%')).and_then(OrganizationRef::parse)
}

/// The signed-in caller, and the organization `organization` names (if it exists), read
/// together: one trip to the blocking pool and one pooled connection for both.
pub(crate) async fn authenticate_in(
    req: &HttpRequest,
    organization: Option<OrganizationRef>,
) -> Result<(Actor, Option<Organization>), ApiError> {
    let known = req.extensions().get::<Actor>().cloned();
    if let Some(actor) = known {
        let read = req.extensions().get::<ReadAlong>().cloned();
        let organization = match (organization, read) {
            (Some(reference), Some(ReadAlong(named, found))) if named == reference => found,
            (Some(reference), _) => super::state(req)?.db(move |store| store.organization(&reference)).await?,
            (None, _) => None,
        };
        return Ok((actor, organization));
    }
    let (actor, found) = check_token(req, organization.clone()).await?;
    req.extensions_mut().insert(actor.clone());
    if let Some(reference) = organization {
        req.extensions_mut().insert(ReadAlong(reference, found.clone()));
    }
    Ok((actor, found))
}

async fn check_token(
    req: &HttpRequest,
    organization: Option<OrganizationRef>,
) -> Result<(Actor, Option<Organization>), ApiError> {
    let state = super::state(req)?;
    let raw = token_from_request(req).ok_or_else(|| ApiError::unauthorized(&AuthFailure::Missing))?;
    let token = ApiToken::parse(&raw).map_err(|e| ApiError::unauthorized(&AuthFailure::Format(e)))?;
    let now = now();
    let (key, user, organization) = state
        .run(move |store| -> Result<(ApiKey, User, Option<Organization>), ApiError> {
            let session = store.session(token.id(), organization.as_ref())?;
            check_key(session.key.as_ref(), &token, now).map_err(|failure| ApiError::unauthorized(&failure))?;
            let key = session.key.ok_or_else(|| ApiError::unauthorized(&AuthFailure::UnknownKey))?;
            let user = session.user.ok_or_else(|| ApiError::unauthorized(&AuthFailure::UnknownKey))?;
            if !user.status.may_sign_in() {
                return Err(ApiError::unauthorized(&AuthFailure::Inactive(user.status)));
            }
            // The only write on a read, and only when the key's sliding refresh is due.
            if let Some(refresh) = key.refresh(now) {
                store.refresh_api_key(&key, refresh)?;
            }
            Ok((key, user, session.organization))
        })
        .await??;
    Ok((Actor { subject: user.subject(), user, key }, organization))
}

super::extract_with!(Actor, authenticate);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_organization_is_read_from_paths_under_it_only() {
        let id = uuid::Uuid::now_v7();
        assert_eq!(
            organization_in_path(&format!("/api/v2/organizations/{id}/provisionerjobs")),
            Some(OrganizationRef::Id(id))
        );
        assert_eq!(organization_in_path("/api/v2/organizations/default"), Some(OrganizationRef::Default));
        assert_eq!(organization_in_path("/api/v2/organizations"), None);
        assert_eq!(organization_in_path("/api/v2/organizations/"), None);
        assert_eq!(organization_in_path("/api/v2/users/me/organizations/acme"), None);
        assert_eq!(organization_in_path("/api/v2/organizations/ac%6De"), None);
    }
}
