use actix_web::HttpRequest;
use domain::authz::{Action, Decision, decide};
use domain::repo::{UserLookup, UserRepo};
use domain::user::{User, UserRef};

use super::Actor;
use crate::error::ApiError;

/// A route under `/users/{user}`: the caller, and the user the path names (`me`, a UUID or
/// a username) whom the caller may read. Unknown and unreadable users get the same 400.
#[derive(Debug, Clone)]
pub struct TargetUser {
    pub actor: Actor,
    pub user: User,
}

fn unknown_user(raw: &str) -> ApiError {
    ApiError::bad_request("\"user\" must be an existing uuid or username.").detail(format!("queried user={raw:?}"))
}

/// Resolves `{user}` without deciding who may read it (members are added by username).
pub async fn find_user(req: &HttpRequest, actor: &Actor) -> Result<User, ApiError> {
    let raw = super::path_segment(req, "user")?;
    // A segment no user could be called is not looked for: it is an unknown user.
    let lookup = match UserRef::parse(&raw).ok_or_else(|| unknown_user(&raw))? {
        UserRef::Me => return Ok(actor.user.clone()),
        UserRef::Id(id) => UserLookup::Id(id),
        UserRef::Username(name) => UserLookup::Username(name),
    };
    let state = super::state(req)?;
    state.db(move |store| store.user(&lookup)).await?.ok_or_else(|| unknown_user(&raw))
}

async fn resolve(req: &HttpRequest) -> Result<TargetUser, ApiError> {
    let actor = super::actor::authenticate(req).await?;
    let user = find_user(req, &actor).await?;
    if decide(actor.subject(), Action::ReadUser { user: user.id }) != Decision::Allow {
        return Err(unknown_user(&super::path_segment(req, "user")?));
    }
    Ok(TargetUser { actor, user })
}

super::extract_with!(TargetUser, resolve);
