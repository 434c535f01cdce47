use actix_web::HttpRequest;
use actix_web::http::StatusCode;
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

async fn authenticate(req: &HttpRequest) -> Result<DaemonKey, ApiError> {
    let raw = req.headers().get(DAEMON_KEY_HEADER).and_then(|v| v.to_str().ok()).map(str::trim).unwrap_or("");
    if raw.is_empty() {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "provisioner daemon key required"));
    }
    if raw.len() != PROVISIONER_KEY_LEN {
        return Err(ApiError::bad_request("provisioner daemon key invalid")
            .detail(format!("must be {PROVISIONER_KEY_LEN} characters")));
    }
    let hashed = hash_secret(raw);
    let state = super::state(req)?;
    let key = state.db(move |store| store.provisioner_key_by_hash(&hashed)).await?;
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
