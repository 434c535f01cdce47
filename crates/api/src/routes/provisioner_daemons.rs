//! Provisioner daemons: the organization's list, and the plain-HTTP protocol daemons speak
//! (register, heartbeat, acquire, update, complete, fail) with a provisioner key.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use domain::authz::Action;
use domain::provisioner::{JobErrorCode, NewDaemon, ProvisionerType, QueueInfo, TagFilter};
use domain::repo::{DaemonFilter, DaemonJobRefusal, DaemonRepo, JobRepo, OpError};
use domain::validation::FieldError;

use crate::dispatch;
use crate::error::ApiError;
use crate::extract::{DaemonKey, InOrganization, Json, KeyDaemon, QueryParams, uuid_segment};
use crate::respond;
use crate::state::{AppState, now};
use crate::wire::Response;
use crate::wire::checks::{Checks, checked};
use crate::wire::provisioner::daemon::{FailJobRequest, RegisterRequest, UpdateJobRequest, UpdateJobResponse};
use crate::wire::provisioner::{ProvisionerDaemon, ProvisionerJob};

/// Get provisioner daemons
#[utoipa::path(
    tag = "Provisioning",
    operation_id = "get-provisioner-daemons",
    params(
        ("organization" = String, Path, description = "Organization ID, name, `default`, or the nil UUID"),
        ("limit" = Option<i32>, Query, description = "Page limit (default 50; 0 = no limit)"),
        ("ids" = Option<Vec<Uuid>>, Query, description = "Filter results by daemon IDs"),
        ("tags" = Option<String>, Query, description = "Provisioner tags to filter by (JSON of the form {'tag1':'value1','tag2':'value2'})"),
    ),
    responses((status = 200, description = "Newest first", body = Vec<ProvisionerDaemon>), (status = 400, body = Response), (status = 404, body = Response)),
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
    let tags = query.json_string_map("tags");
    query.finish()?;
    let filter = DaemonFilter { ids, tags: TagFilter(tags), limit: u32::try_from(limit).ok().filter(|l| *l > 0) };
    let organization = scope.organization.id;
    let daemons = state.db(move |store| store.daemons(organization, &filter)).await?;
    let (liveness, now) = (state.settings.liveness, now());
    Ok(respond::ok(&daemons.into_iter().map(|d| ProvisionerDaemon::new(d, liveness, now)).collect::<Vec<_>>()))
}

/// A daemon's name: what an operator reads in lists, so 1-64 characters and no white space.
fn daemon_name(raw: &str) -> Result<String, FieldError> {
    if raw.is_empty() {
        return Err(FieldError::required("name"));
    }
    if raw.chars().count() > 64 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldError::new("name", "daemon_name", raw, "must be 1-64 characters without white space"));
    }
    Ok(raw.to_owned())
}

/// Register provisioner daemon
#[utoipa::path(
    tag = "Provisioner daemons",
    operation_id = "register-provisioner-daemon",
    request_body = RegisterRequest,
    responses(
        (status = 200, description = "Registered (or refreshed) in the key's organization, with the key's tags", body = ProvisionerDaemon),
        (status = 400, body = Response),
        (status = 401, body = Response),
    ),
    security(("CoderProvisionerDaemonKey" = []))
)]
#[post("/provisionerdaemons")]
pub async fn register(
    state: web::Data<AppState>,
    key: DaemonKey,
    body: Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut checks = Checks::default();
    let name = checks.check(daemon_name(&body.name));
    let offered =
        if body.provisioners.is_empty() { vec![ProvisionerType::DEFAULT.to_owned()] } else { body.provisioners };
    let provisioners: Vec<Option<ProvisionerType>> =
        offered.iter().map(|raw| checks.check(ProvisionerType::parse("provisioners", raw))).collect();
    checks.finish()?;
    let new = NewDaemon {
        organization_id: key.key.organization_id,
        key_id: key.key.id,
        name: checked(name)?,
        version: body.version,
        provisioners: provisioners.into_iter().map(checked).collect::<Result<_, _>>()?,
        tags: key.key.tags.clone(),
    };
    let daemon = state.db(move |store| store.register_daemon(&new, now())).await?;
    Ok(respond::ok(&ProvisionerDaemon::new(daemon, state.settings.liveness, now())))
}

/// Provisioner daemon heartbeat
#[utoipa::path(
    tag = "Provisioner daemons",
    operation_id = "provisioner-daemon-heartbeat",
    params(("daemon" = Uuid, Path, description = "Daemon ID")),
    responses((status = 204, description = "Seen now"), (status = 401, body = Response), (status = 404, body = Response)),
    security(("CoderProvisionerDaemonKey" = []))
)]
#[post("/provisionerdaemons/{daemon}/heartbeat")]
pub async fn heartbeat(state: web::Data<AppState>, daemon: KeyDaemon) -> Result<HttpResponse, ApiError> {
    let (id, key) = (daemon.daemon.id, daemon.key.id);
    state.db(move |store| store.heartbeat(id, key, now())).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Acquire provisioner job
#[utoipa::path(
    tag = "Provisioner daemons",
    operation_id = "acquire-provisioner-job",
    params(
        ("daemon" = Uuid, Path, description = "Daemon ID"),
        ("timeout" = Option<i32>, Query, description = "Seconds to wait for a job (default 30, at most 60)"),
    ),
    responses(
        (status = 200, description = "The oldest pending job this daemon can run, now running on it", body = ProvisionerJob),
        (status = 204, description = "No job arrived in time"),
        (status = 400, body = Response),
        (status = 401, body = Response),
        (status = 404, body = Response),
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
    match dispatch::acquire(&state, &req, daemon.daemon.id, wait).await? {
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
    params(("daemon" = Uuid, Path, description = "Daemon ID"), ("job" = Uuid, Path, description = "Job ID")),
    request_body = UpdateJobRequest,
    responses(
        (status = 200, description = "Logs stored (up to the job's 1 MiB); `canceled` says whether to stop", body = UpdateJobResponse),
        (status = 400, description = "The job is over", body = Response),
        (status = 403, description = "Another daemon holds the job", body = Response),
        (status = 404, body = Response),
    ),
    security(("CoderProvisionerDaemonKey" = []))
)]
#[post("/provisionerdaemons/{daemon}/jobs/{job}/update")]
pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    daemon: KeyDaemon,
    body: Json<UpdateJobRequest>,
) -> Result<HttpResponse, ApiError> {
    let job = uuid_segment(&req, "job")?;
    let mut checks = Checks::default();
    let lines: Vec<_> = body.into_inner().logs.into_iter().map(|log| log.into_domain(&mut checks)).collect();
    checks.finish()?;
    let lines: Vec<_> = lines.into_iter().map(checked).collect::<Result<_, _>>()?;
    let (id, budget) = (daemon.daemon.id, state.settings.log_budget);
    let outcome = state.run(move |store| store.update_job(id, job, &lines, budget, now())).await?.map_err(refusal)?;
    Ok(respond::ok(&UpdateJobResponse { canceled: outcome.canceled }))
}

/// Complete provisioner job
#[utoipa::path(
    tag = "Provisioner daemons",
    operation_id = "complete-provisioner-job",
    params(("daemon" = Uuid, Path, description = "Daemon ID"), ("job" = Uuid, Path, description = "Job ID")),
    responses(
        (status = 200, description = "Succeeded, or canceled if cancellation was asked for", body = ProvisionerJob),
        (status = 400, body = Response),
        (status = 403, body = Response),
        (status = 404, body = Response),
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
    let id = daemon.daemon.id;
    let done = state.run(move |store| store.complete_job(id, job, now())).await?.map_err(refusal)?;
    state.metrics.queue.job_changed(&done);
    Ok(respond::ok(&ProvisionerJob::new(done, QueueInfo::default())))
}

/// Fail provisioner job
#[utoipa::path(
    tag = "Provisioner daemons",
    operation_id = "fail-provisioner-job",
    params(("daemon" = Uuid, Path, description = "Daemon ID"), ("job" = Uuid, Path, description = "Job ID")),
    request_body = FailJobRequest,
    responses(
        (status = 200, description = "Failed with the error given", body = ProvisionerJob),
        (status = 400, body = Response),
        (status = 403, body = Response),
        (status = 404, body = Response),
    ),
    security(("CoderProvisionerDaemonKey" = []))
)]
#[post("/provisionerdaemons/{daemon}/jobs/{job}/fail")]
pub async fn fail(
    req: HttpRequest,
    state: web::Data<AppState>,
    daemon: KeyDaemon,
    body: Json<FailJobRequest>,
) -> Result<HttpResponse, ApiError> {
    let job = uuid_segment(&req, "job")?;
    let FailJobRequest { error, error_code } = body.into_inner();
    let mut checks = Checks::default();
    let code =
        if error_code.is_empty() { None } else { checks.check(JobErrorCode::parse(&error_code)).map(|c| c.as_str()) };
    checks.finish()?;
    let (id, code) = (daemon.daemon.id, code.map(str::to_owned));
    let failed = state.run(move |store| store.fail_job(id, job, error, code, now())).await?.map_err(refusal)?;
    state.metrics.queue.job_changed(&failed);
    Ok(respond::ok(&ProvisionerJob::new(failed, QueueInfo::default())))
}
