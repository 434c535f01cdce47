//! Request extractors: who is calling, which organization or user a path names, and query
//! parameters read as Coder reads them. Each check lives here once; handlers just ask for
//! the value.

mod actor;
mod daemon;
mod json;
mod organization;
mod query;
mod user;

pub use actor::{Actor, SESSION_COOKIE, hide_query_token, token_from_request};
pub(crate) use daemon::key_invalid;
pub use daemon::{DAEMON_KEY_HEADER, DaemonKey, KeyDaemon};
pub use json::{MAX_BODY_BYTES, Valid, json_config};
pub use organization::InOrganization;
pub use query::QueryParams;
pub use user::{TargetUser, find_user as find_member_user};
/// For the rate limiter, which must know the caller before the route runs.
pub(crate) use {actor::authenticate as signed_in, daemon::authenticate as daemon_key};

use actix_web::{HttpRequest, web};

use crate::error::ApiError;
use crate::state::AppState;

/// `FromRequest` for an extractor whose work is an async function of the request: one
/// shape for every extractor here.
macro_rules! extract_with {
    ($type:ty, $resolve:path) => {
        impl actix_web::FromRequest for $type {
            type Error = $crate::error::ApiError;
            type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

            fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
                let req = req.clone();
                Box::pin(async move { $resolve(&req).await })
            }
        }
    };
}
use extract_with;

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(&std::io::Error::other("application state is not configured")))
}

/// A path segment the route declares, percent-decoded by the router.
fn path_segment(req: &HttpRequest, name: &str) -> Result<String, ApiError> {
    req.match_info()
        .get(name)
        .map(str::to_owned)
        .ok_or_else(|| ApiError::bad_request(format!("\"{name}\" must be provided.")))
}

/// A UUID path segment; Coder's message for anything else.
pub fn uuid_segment(req: &HttpRequest, name: &str) -> Result<uuid::Uuid, ApiError> {
    let raw = path_segment(req, name)?;
    uuid::Uuid::try_parse(&raw)
        .map_err(|error| ApiError::bad_request(format!("Invalid UUID {raw:?}.")).detail(error.to_string()))
}
