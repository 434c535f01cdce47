//! Handing jobs to daemons that wait for one. An acquire long-polls: it takes the oldest
//! pending job the daemon can run, or waits for the queue to change until its time runs out,
//! its daemon hangs up, or the server stops.

pub mod peer;
pub mod waiters;

use std::time::Duration;

use actix_web::HttpRequest;
use domain::provisioner::ProvisionerJob;
use domain::repo::JobRepo;
use tokio::time::Instant;
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::{AppState, now};
use peer::PeerSocket;
use waiters::Profile;

/// Looks again at least this often while waiting, in case a notice was missed.
const SAFETY_POLL: Duration = Duration::from_secs(5);

/// The job `daemon` takes within `wait`, if any. A daemon that hung up is never handed one:
/// a job taken at the moment it left is put back.
pub async fn acquire(
    state: &AppState,
    req: &HttpRequest,
    daemon: Uuid,
    wait: Duration,
) -> Result<Option<ProvisionerJob>, ApiError> {
    let started = Instant::now();
    let taken = wait_for_job(state, req, daemon, started + wait).await?;
    state.metrics.queue.acquire_ended(started.elapsed().as_secs_f64(), taken.as_ref());
    Ok(taken)
}

async fn wait_for_job(
    state: &AppState,
    req: &HttpRequest,
    daemon: Uuid,
    deadline: Instant,
) -> Result<Option<ProvisionerJob>, ApiError> {
    let socket = PeerSocket::of(req);
    let gone = || socket.is_some_and(PeerSocket::hung_up);
    if gone() {
        return Ok(None);
    }
    // A daemon that finds work waits for nothing, and joins no line.
    if let Some(job) = take(state, daemon, &gone).await? {
        return Ok(Some(job));
    }
    if Instant::now() >= deadline || state.lifecycle.is_stopping() {
        return Ok(None);
    }
    let Some(profile) = state.db(move |store| store.daemon_profile(daemon)).await? else {
        return Ok(None);
    };
    let profile = Profile(profile);
    // In line before looking again, so a job arriving meanwhile is not missed.
    let place = state.signals.waiters.join(profile);
    loop {
        let owed = place.looking();
        let taken = take(state, daemon, &gone).await?;
        place.looked(owed, taken.as_ref().map(|job| job.id));
        if taken.is_some() || gone() {
            return Ok(taken);
        }
        let now = Instant::now();
        if now >= deadline || state.lifecycle.is_stopping() {
            return Ok(None);
        }
        tokio::select! {
            () = place.woken() => {}
            _ = tokio::time::sleep((deadline - now).min(SAFETY_POLL)) => {}
            () = state.lifecycle.stopping() => return Ok(None),
        }
        place.rejoin();
    }
}

/// One look at the queue. A job taken just as its daemon hung up is put back.
async fn take(state: &AppState, daemon: Uuid, gone: &impl Fn() -> bool) -> Result<Option<ProvisionerJob>, ApiError> {
    let Some(job) = state.db(move |store| store.acquire_job(daemon, now())).await? else {
        return Ok(None);
    };
    if gone() {
        let job_id = job.id;
        state.db(move |store| store.release_job(daemon, job_id)).await?;
        return Ok(None);
    }
    Ok(Some(job))
}
