//! Provisioner daemons: the organization's list, and the plain-HTTP protocol daemons speak
//! (register, heartbeat, acquire, update, complete, fail) with a provisioner key.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use domain::authz::Action;
use domain::provisioner::{DaemonName, JobErrorCode, NewDaemon, ProvisionerType, QueueInfo};
use domain::repo::{DaemonFilter, DaemonJobRefusal, DaemonRepo, JobRepo, OpError, RepoError};

use crate::dispatch;
use crate::error::ApiError;
use crate::extract::{DaemonKey, InOrganization, KeyDaemon, QueryParams, Valid, key_invalid, uuid_segment};
use crate::respond;
use crate::state::{AppState, now};
use crate::wire::provisioner::daemon::{FailJobRequest, RegisterRequest, UpdateJobRequest, UpdateJobResponse};
use crate::wire::provisioner::{ProvisionerDaemon, ProvisionerJob};
use crate::wire::schema::TagsQuery;

/// Get provisioner daemons
#[utoipa::path(
    tag = "Provisioning",
    operation_id = "get-provisioner-daemons",
    params(
        ("organization" = String, Path, description = super::param::ORGANIZATION),
        ("limit" = Option<i32>, Query, minimum = 0, description = super::param::LIMIT),
        ("ids" = Option<Vec<Uuid>>, Query, description = "Only these daemons: IDs, comma-separated or repeated."),
        ("tags" = inline(Option<TagsQuery>), Query, description = super::param::TAGS),
    ),
    responses((status = 200, description = "Newest first", body = Vec<ProvisionerDaemon>)),
    security(("CoderSessionToken" = []))
)]
#[get("/organizations/{organization}/provisionerdaemons")]
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: InOrganization,
) -> Result<HttpResponse, ApiError> {
    scope.authorize(|organization| Action::ReadProvisionerDaemons { organization })?;
    let mut query = QueryParams::new(&req)?;
    let limit = query.positive_i32("limit", 50);
    let ids = query.uuids("ids");
    let tags = query.tag_filter("tags");
    query.finish()?;
    let filter = DaemonFilter { ids, tags, limit: u32::try_from(limit).ok().filter(|l| *l > 0) };
    let organization = scope.organization.id;
    let daemons = state.db(move |store| store.daemons(organization, &filter)).await?;
    let (liveness, now) = (state.settings.liveness, now());
    Ok(respond::ok(&daemons.into_iter().map(|d| ProvisionerDaemon::new(d, liveness, now)).collect::<Vec<_>>()))
}

/// Register provisioner daemon
#[utoipa::path(
    tag = "Provisioner daemons",
    operation_id = "register-provisioner-daemon",
    request_body = RegisterRequest,
    responses(
        (status = 200, description = "Registered (or refreshed) in the key's organization, with the key's tags", body = ProvisionerDaemon, links(
            ("Heartbeat" = (operation_id = "provisioner-daemon-heartbeat", parameters(("daemon" = "$response.body#/id"), ("header.Coder-Provisioner-Daemon-Key" = "$request.header.Coder-Provisioner-Daemon-Key")))),
        )),
        (status = 409, description = "Another daemon of that name, in any case, was registered in the same moment; registering again refreshes it."),
    ),
    security(("CoderProvisionerDaemonKey" = []))
)]
#[post("/provisionerdaemons")]
pub async fn register(
    state: web::Data<AppState>,
    key: DaemonKey,
    body: Valid<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let field = |error| ApiError::validation(&[error]);
    let name = DaemonName::parse(&body.name).map_err(field)?;
    let offered =
        if body.provisioners.is_empty() { vec![ProvisionerType::DEFAULT.to_owned()] } else { body.provisioners };
    let provisioners = offered
        .iter()
        .map(|raw| ProvisionerType::parse("provisioners", raw))
        .collect::<Result<_, _>>()
        .map_err(field)?;
    let new = NewDaemon {
        organization_id: key.key.organization_id,
        key_id: key.key.id,
        name: name.as_str().to_owned(),
        version: body.version,
        provisioners,
        tags: key.key.tags.clone(),
    };
    // The key may have been deleted since the daemon signed in.
    let daemon = match state.run(move |store| store.register_daemon(&new, now())).await? {
        Err(RepoError::NotFound) => return Err(key_invalid()),
        registered => registered?,
    };
    Ok(respond::ok(&ProvisionerDaemon::new(daemon, state.settings.liveness, now())))
}

/// Provisioner daemon heartbeat
#[utoipa::path(
    tag = "Provisioner daemons",
    operation_id = "provisioner-daemon-heartbeat",
    params(("daemon" = Uuid, Path, description = super::param::DAEMON)),
    responses((status = 204, description = "Seen now")),
    security(("CoderProvisionerDaemonKey" = []))
)]
#[post("/provisionerdaemons/{daemon}/heartbeat")]
pub async fn heartbeat(state: web::Data<AppState>, daemon: KeyDaemon) -> Result<HttpResponse, ApiError> {
    let (id, key) = (daemon.daemon, daemon.key.id);
    state.db(move |store| store.heartbeat(id, key, now())).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Acquire provisioner job
#[utoipa::path(
    tag = "Provisioner daemons",
    operation_id = "acquire-provisioner-job",
    params(
        ("daemon" = Uuid, Path, description = super::param::DAEMON),
        ("timeout" = Option<i32>, Query, minimum = 0, maximum = 60, description = "Seconds to wait for a job (default 30; at most the deployment's maximum, 60 by default)."),
    ),
    responses(
        (status = 200, description = "The oldest pending job this daemon can run, now running on it", body = ProvisionerJob, links(
            ("UpdateJob" = (operation_id = "update-provisioner-job", parameters(("daemon" = "$request.path.daemon"), ("job" = "$response.body#/id"), ("header.Coder-Provisioner-Daemon-Key" = "$request.header.Coder-Provisioner-Daemon-Key")))),
            ("CompleteJob" = (operation_id = "complete-provisioner-job", parameters(("daemon" = "$request.path.daemon"), ("job" = "$response.body#/id"), ("header.Coder-Provisioner-Daemon-Key" = "$request.header.Coder-Provisioner-Daemon-Key")))),
            ("FailJob" = (operation_id = "fail-provisioner-job", parameters(("daemon" = "$request.path.daemon"), ("job" = "$response.body#/id"), ("header.Coder-Provisioner-Daemon-Key" = "$request.header.Coder-Provisioner-Daemon-Key")))),
        )),
        (status = 204, description = "No job arrived in time"),
        (status = 400, description = "A daemon ID that is not a UUID, or a wait over the maximum."),
    ),
    security(("CoderProvisionerDaemonKey" = []))
)]
#[post("/provisionerdaemons/{daemon}/acquire")]
pub async fn acquire(
    req: HttpRequest,
    state: web::Data<AppState>,
    daemon: KeyDaemon,
) -> Result<HttpResponse, ApiError> {
    let mut query = QueryParams::new(&req)?;
    let default_wait = i32::try_from(state.settings.acquire_wait.as_secs()).unwrap_or(30);
    let timeout = query.positive_i32("timeout", default_wait);
    query.finish()?;
    let max = state.settings.acquire_max_wait;
    let wait = Duration::from_secs(u64::try_from(timeout).unwrap_or(0));
    if wait > max {
        let detail = format!("Query param \"timeout\" must be at most {} seconds", max.as_secs());
        return Err(ApiError::invalid_query(vec![crate::wire::ValidationError::new("timeout", detail)]));
    }
    match dispatch::acquire(&state, &req, daemon.daemon, wait).await? {
        Some(job) => Ok(respond::ok(&ProvisionerJob::new(job, QueueInfo::default()))),
        None => Ok(HttpResponse::NoContent().finish()),
    }
}

fn refusal(error: OpError<DaemonJobRefusal>) -> ApiError {
    match error {
        OpError::Refused(DaemonJobRefusal::NotYours(refusal)) => {
            ApiError::new(StatusCode::FORBIDDEN, refusal.to_string())
        }
        OpError::Refused(DaemonJobRefusal::Finished(refusal)) => ApiError::bad_request(refusal.to_string()),
        OpError::Repo(error) => error.into(),
    }
}

/// Update provisioner job
#[utoipa::path(
    tag = "Provisioner daemons",
    operation_id = "update-provisioner-job",
    params(("daemon" = Uuid, Path, description = super::param::DAEMON), ("job" = Uuid, Path, description = super::param::JOB)),
    request_body = UpdateJobRequest,
    responses(
        (status = 200, description = "Logs stored (up to the job's 1 MiB); `canceled` says whether to stop", body = UpdateJobResponse),
        (status = 400, description = "An ID that is not a UUID, or a job that is over."),
        (status = 403, description = "Another daemon holds the job."),
    ),
    security(("CoderProvisionerDaemonKey" = []))
)]
#[post("/provisionerdaemons/{daemon}/jobs/{job}/update")]
pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    daemon: KeyDaemon,
    body: Valid<UpdateJobRequest>,
) -> Result<HttpResponse, ApiError> {
    let job = uuid_segment(&req, "job")?;
    let lines: Vec<_> = body.into_inner().logs.into_iter().map(|log| log.into_domain()).collect::<Result<_, _>>()?;
    let (id, budget) = (daemon.daemon, state.settings.log_budget);
    let outcome = state.run(move |store| store.update_job(id, job, &lines, budget, now())).await?.map_err(refusal)?;
    Ok(respond::ok(&UpdateJobResponse { canceled: outcome.canceled }))
}

/// Complete provisioner job
#[utoipa::path(
    tag = "Provisioner daemons",
    operation_id = "complete-provisioner-job",
    params(("daemon" = Uuid, Path, description = super::param::DAEMON), ("job" = Uuid, Path, description = super::param::JOB)),
    responses(
        (status = 200, description = "Succeeded, or canceled if cancellation was asked for", body = ProvisionerJob),
        (status = 400, description = "An ID that is not a UUID, or a job that is over."),
        (status = 403, description = "Another daemon holds the job."),
    ),
    security(("CoderProvisionerDaemonKey" = []))
)]
#[post("/provisionerdaemons/{daemon}/jobs/{job}/complete")]
pub async fn complete(
    req: HttpRequest,
    state: web::Data<AppState>,
    daemon: KeyDaemon,
) -> Result<HttpResponse, ApiError> {
    let job = uuid_segment(&req, "job")?;
    let id = daemon.daemon;
    let done = state.run(move |store| store.complete_job(id, job, now())).await?.map_err(refusal)?;
    state.metrics.queue.job_changed(&done);
    Ok(respond::ok(&ProvisionerJob::new(done, QueueInfo::default())))
}

/// Fail provisioner job
#[utoipa::path(
    tag = "Provisioner daemons",
    operation_id = "fail-provisioner-job",
    params(("daemon" = Uuid, Path, description = super::param::DAEMON), ("job" = Uuid, Path, description = super::param::JOB)),
    request_body = FailJobRequest,
    responses(
        (status = 200, description = "Failed with the error given", body = ProvisionerJob),
        (status = 400, description = "An ID that is not a UUID, or a job that is over."),
        (status = 403, description = "Another daemon holds the job."),
    ),
    security(("CoderProvisionerDaemonKey" = []))
)]
#[post("/provisionerdaemons/{daemon}/jobs/{job}/fail")]
pub async fn fail(
    req: HttpRequest,
    state: web::Data<AppState>,
    daemon: KeyDaemon,
    body: Valid<FailJobRequest>,
) -> Result<HttpResponse, ApiError> {
    let job = uuid_segment(&req, "job")?;
    let FailJobRequest { error, error_code } = body.into_inner();
    let code = match error_code.as_str() {
        "" => None,
        raw => Some(JobErrorCode::parse(raw).map_err(|error| ApiError::validation(&[error]))?.as_str().to_owned()),
    };
    let id = daemon.daemon;
    let failed = state.run(move |store| store.fail_job(id, job, error, code, now())).await?.map_err(refusal)?;
    state.metrics.queue.job_changed(&failed);
    Ok(respond::ok(&ProvisionerJob::new(failed, QueueInfo::default())))
}
