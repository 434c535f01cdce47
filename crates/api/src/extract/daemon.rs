use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest};
use domain::auth::hash_secret;
use domain::provisioner::{ProvisionerDaemon, ProvisionerKey};
use domain::repo::{DaemonRepo, ProvisionerKeyRepo};

use crate::error::ApiError;
use crate::secrets::PROVISIONER_KEY_LEN;

pub const DAEMON_KEY_HEADER: &str = "Coder-Provisioner-Daemon-Key";

/// A daemon signed in with a provisioner key: the key gives it its organization and tags.
#[derive(Debug, Clone)]
pub struct DaemonKey {
    pub key: ProvisionerKey,
}

/// The key a request presented, looked up once per request (the rate limiter may have
/// looked first): `None` when no key has that secret.
#[derive(Debug, Clone)]
struct LookedUp(Option<ProvisionerKey>);

/// The daemon's key, from the `Coder-Provisioner-Daemon-Key` header.
pub(crate) async fn authenticate(req: &HttpRequest) -> Result<DaemonKey, ApiError> {
    let raw = req.headers().get(DAEMON_KEY_HEADER).and_then(|v| v.to_str().ok()).map(str::trim).unwrap_or("");
    if raw.is_empty() {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "provisioner daemon key required"));
    }
    if raw.len() != PROVISIONER_KEY_LEN {
        return Err(ApiError::bad_request("provisioner daemon key invalid")
            .detail(format!("must be {PROVISIONER_KEY_LEN} characters")));
    }
    let cached = req.extensions().get::<LookedUp>().cloned();
    let key = match cached {
        Some(LookedUp(key)) => key,
        None => {
            let hashed = hash_secret(raw);
            let state = super::state(req)?;
            let key = state.db(move |store| store.provisioner_key_by_hash(&hashed)).await?;
            req.extensions_mut().insert(LookedUp(key.clone()));
            key
        }
    };
    let key = key.ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "provisioner daemon key invalid"))?;
    Ok(DaemonKey { key })
}

super::extract_with!(DaemonKey, authenticate);

/// A route under `/provisionerdaemons/{daemon}`: the daemon the path names, registered with
/// the key presented. Another key's daemon does not exist for this one.
#[derive(Debug, Clone)]
pub struct KeyDaemon {
    pub key: ProvisionerKey,
    pub daemon: ProvisionerDaemon,
}

async fn key_daemon(req: &HttpRequest) -> Result<KeyDaemon, ApiError> {
    let DaemonKey { key } = authenticate(req).await?;
    let daemon_id = super::uuid_segment(req, "daemon")?;
    let state = super::state(req)?;
    let daemon = state.db(move |store| store.daemon(daemon_id)).await?;
    match daemon {
        Some(daemon) if daemon.key_id == key.id => Ok(KeyDaemon { key, daemon }),
        _ => Err(ApiError::not_found()),
    }
}

super::extract_with!(KeyDaemon, key_daemon);
