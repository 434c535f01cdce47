use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest};
use domain::auth::hash_secret;
use domain::provisioner::ProvisionerKey;
use domain::repo::{DaemonSignIn, ProvisionerKeyRepo};
use uuid::Uuid;

use crate::error::ApiError;
use crate::secrets::PROVISIONER_KEY_LEN;

pub const DAEMON_KEY_HEADER: &str = "Coder-Provisioner-Daemon-Key";

/// A daemon signed in with a provisioner key: the key gives it its organization and tags.
#[derive(Debug, Clone)]
pub struct DaemonKey {
    pub key: ProvisionerKey,
}

/// The sign-in a request presented, with the daemon it was asked with, looked up once per
/// request (the rate limiter may have looked first): `None` when no key has that secret.
#[derive(Debug, Clone)]
struct LookedUp(Option<Uuid>, Option<DaemonSignIn>);

/// `/api/v2/provisionerdaemons/{daemon}/...`'s daemon, read from the raw path because the
/// rate limiter asks before routing. Anything that is not a plain UUID is left to the route.
fn daemon_in_path(path: &str) -> Option<Uuid> {
    let segment = path.strip_prefix("/api/v2/provisionerdaemons/")?.split('/').next()?;
    Uuid::try_parse(segment).ok()
}

/// The key, and `daemon` if the key registered it, in one look-up.
async fn sign_in(req: &HttpRequest, daemon: Option<Uuid>) -> Result<DaemonSignIn, ApiError> {
    let raw = req.headers().get(DAEMON_KEY_HEADER).and_then(|v| v.to_str().ok()).map(str::trim).unwrap_or("");
    if raw.is_empty() {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "provisioner daemon key required"));
    }
    if raw.len() != PROVISIONER_KEY_LEN {
        return Err(ApiError::bad_request("provisioner daemon key invalid")
            .detail(format!("must be {PROVISIONER_KEY_LEN} characters")));
    }
    let cached = req.extensions().get::<LookedUp>().cloned();
    let found = match cached {
        Some(LookedUp(asked, found)) if asked == daemon => found,
        _ => {
            let hashed = hash_secret(raw);
            let state = super::state(req)?;
            // A kept sign-in is answered here, without a hop to the blocking pool.
            let found = match state.store.kept_daemon_sign_in(&hashed, daemon) {
                Some(kept) => Some(kept),
                None => state.db(move |store| store.daemon_sign_in(&hashed, daemon)).await?,
            };
            req.extensions_mut().insert(LookedUp(daemon, found.clone()));
            found
        }
    };
    found.ok_or_else(key_invalid)
}

/// No key has the secret presented, or it has been deleted.
pub(crate) fn key_invalid() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "provisioner daemon key invalid")
}

/// The daemon's key, from the `Coder-Provisioner-Daemon-Key` header. The daemon a path
/// names is read along, so that its route needs no second look-up.
pub(crate) async fn authenticate(req: &HttpRequest) -> Result<DaemonKey, ApiError> {
    Ok(DaemonKey { key: sign_in(req, daemon_in_path(req.path())).await?.key })
}

super::extract_with!(DaemonKey, authenticate);

/// A route under `/provisionerdaemons/{daemon}`: the daemon the path names, registered with
/// the key presented. Another key's daemon does not exist for this one.
#[derive(Debug, Clone)]
pub struct KeyDaemon {
    pub key: ProvisionerKey,
    pub daemon: Uuid,
}

async fn key_daemon(req: &HttpRequest) -> Result<KeyDaemon, ApiError> {
    // The key is checked first: a request without a good key learns nothing of daemons.
    let DaemonKey { key } = authenticate(req).await?;
    let named = super::uuid_segment(req, "daemon")?;
    match sign_in(req, Some(named)).await?.daemon {
        Some(daemon) => Ok(KeyDaemon { key, daemon }),
        None => Err(ApiError::not_found()),
    }
}

super::extract_with!(KeyDaemon, key_daemon);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemon_is_read_from_a_daemon_path_only() {
        let id = Uuid::now_v7();
        assert_eq!(daemon_in_path(&format!("/api/v2/provisionerdaemons/{id}/acquire")), Some(id));
        assert_eq!(daemon_in_path(&format!("/api/v2/provisionerdaemons/{id}")), Some(id));
        assert_eq!(daemon_in_path("/api/v2/provisionerdaemons/register"), None);
        assert_eq!(daemon_in_path(&format!("/api/v2/organizations/{id}/provisionerdaemons")), None);
    }
}
