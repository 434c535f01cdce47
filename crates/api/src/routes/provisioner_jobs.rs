//! Provisioner jobs of an organization: the seed's two routes, creation, cancellation, logs.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use domain::authz::Action;
use domain::provisioner::{JobStatus, TagFilter};
use domain::repo::{JobFilter, JobRepo, OpError, QueuedJobView};
use uuid::Uuid;

use super::job_logs;
use crate::error::ApiError;
use crate::extract::{InOrganization, Json, QueryParams, uuid_segment};
use crate::respond;
use crate::state::{AppState, now};
use crate::wire::Response;
use crate::wire::provisioner::{CreateProvisionerJobRequest, ProvisionerJob, ProvisionerJobLog};

/// The job the path names, if the caller may read it (404 otherwise, so that existence does
/// not leak).
pub(super) async fn readable_job(
    req: &HttpRequest,
    state: &AppState,
    scope: &InOrganization,
    action: impl FnOnce(Uuid, Uuid) -> Action,
) -> Result<QueuedJobView, ApiError> {
    let job = uuid_segment(req, "job")?;
    let organization = scope.organization.id;
    let liveness = state.settings.liveness;
    let view =
        state.db(move |store| store.job(organization, job, liveness, now())).await?.ok_or_else(ApiError::not_found)?;
    scope.actor.authorize(action(organization, view.job.initiator_id))?;
    Ok(view)
}

/// Get provisioner jobs
#[utoipa::path(
    tag = "Provisioning",
    operation_id = "get-provisioner-jobs",
    params(
        ("organization" = String, Path, description = "Organization ID, name, `default`, or the nil UUID"),
        ("limit" = Option<i32>, Query, description = "Page limit (default 50; 0 = no limit)"),
        ("ids" = Option<Vec<Uuid>>, Query, description = "Filter results by job IDs (comma-separated and/or repeated)"),
        ("status" = Option<Vec<String>>, Query, description = "Filter results by status (one or more of pending, running, succeeded, canceling, canceled, failed, unknown)"),
        ("tags" = Option<String>, Query, description = "Provisioner tags to filter by (JSON of the form {'tag1':'value1','tag2':'value2'})"),
        ("initiator" = Option<Uuid>, Query, description = "Filter results by initiator"),
    ),
    responses(
        (status = 200, description = "Newest first, with queue numbers; members see the jobs they started", body = Vec<ProvisionerJob>),
        (status = 400, body = Response),
        (status = 404, body = Response),
    ),
    security(("CoderSessionToken" = []))
)]
#[get("/organizations/{organization}/provisionerjobs")]
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: InOrganization,
) -> Result<HttpResponse, ApiError> {
    let mut query = QueryParams::new(&req)?;
    let limit = query.positive_i32("limit", 50);
    let ids = query.uuids("ids");
    let statuses =
        query.list("status", |raw| JobStatus::parse(raw).ok_or_else(|| format!("{raw:?} is not a valid value")));
    let tags = query.json_string_map("tags");
    let initiator = query.uuid("initiator");
    query.finish()?;
    let organization = scope.organization.id;
    let filter = JobFilter {
        ids,
        statuses,
        tags: TagFilter(tags),
        initiator,
        limit: u32::try_from(limit).ok().filter(|limit| *limit > 0),
        scope: scope.actor.subject().job_scope(organization),
    };
    let liveness = state.settings.liveness;
    let views = state.db(move |store| store.jobs(organization, &filter, liveness, now())).await?;
    Ok(respond::ok(&views.into_iter().map(ProvisionerJob::from).collect::<Vec<_>>()))
}

/// Get provisioner job
#[utoipa::path(
    tag = "Provisioning",
    operation_id = "get-provisioner-job",
    params(
        ("organization" = String, Path, description = "Organization ID, name, `default`, or the nil UUID"),
        ("job" = Uuid, Path, description = "Job ID"),
    ),
    responses((status = 200, body = ProvisionerJob), (status = 400, description = "Not a UUID", body = Response), (status = 404, body = Response)),
    security(("CoderSessionToken" = []))
)]
#[get("/organizations/{organization}/provisionerjobs/{job}")]
pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: InOrganization,
) -> Result<HttpResponse, ApiError> {
    let view =
        readable_job(&req, &state, &scope, |organization, initiator| Action::ReadJob { organization, initiator })
            .await?;
    Ok(respond::ok(&ProvisionerJob::from(view)))
}

/// Create provisioner job
#[utoipa::path(
    tag = "Provisioning",
    operation_id = "create-provisioner-job",
    params(("organization" = String, Path, description = "Organization ID, name, `default`, or the nil UUID")),
    request_body = CreateProvisionerJobRequest,
    responses(
        (status = 201, description = "Pending, with its place in the queue", body = ProvisionerJob),
        (status = 400, body = Response),
        (status = 404, body = Response),
    ),
    security(("CoderSessionToken" = []))
)]
#[post("/organizations/{organization}/provisionerjobs")]
pub async fn create(
    state: web::Data<AppState>,
    scope: InOrganization,
    body: Json<CreateProvisionerJobRequest>,
) -> Result<HttpResponse, ApiError> {
    scope.authorize(|organization| Action::CreateJob { organization })?;
    let new = body.into_inner().into_domain(scope.organization.id, scope.actor.id())?;
    let liveness = state.settings.liveness;
    let view = state.db(move |store| store.create_job(&new, liveness, now())).await?;
    Ok(respond::created(&ProvisionerJob::from(view)))
}

/// Cancel provisioner job
#[utoipa::path(
    tag = "Provisioning",
    operation_id = "cancel-provisioner-job",
    params(
        ("organization" = String, Path, description = "Organization ID, name, `default`, or the nil UUID"),
        ("job" = Uuid, Path, description = "Job ID"),
    ),
    responses(
        (status = 200, description = "Pending: canceled at once; running: canceling until its daemon stops", body = Response),
        (status = 400, description = "Already canceled or completed", body = Response),
        (status = 404, body = Response),
    ),
    security(("CoderSessionToken" = []))
)]
#[post("/organizations/{organization}/provisionerjobs/{job}/cancel")]
pub async fn cancel(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: InOrganization,
) -> Result<HttpResponse, ApiError> {
    let view =
        readable_job(&req, &state, &scope, |organization, initiator| Action::CancelJob { organization, initiator })
            .await?;
    let (organization, job) = (scope.organization.id, view.job.id);
    match state.run(move |store| store.cancel_job(organization, job, now())).await? {
        Ok(canceled) => {
            state.metrics.queue.job_changed(&canceled);
            Ok(respond::message(StatusCode::OK, "Job has been marked as canceled..."))
        }
        Err(OpError::Refused(refusal)) => Err(ApiError::bad_request(refusal.to_string())),
        Err(OpError::Repo(error)) => Err(error.into()),
    }
}

/// Get provisioner job logs
#[utoipa::path(
    tag = "Provisioning",
    operation_id = "get-provisioner-job-logs",
    params(
        ("organization" = String, Path, description = "Organization ID, name, `default`, or the nil UUID"),
        ("job" = Uuid, Path, description = "Job ID"),
        ("after" = Option<i64>, Query, description = "Only lines with a greater id"),
        ("follow" = Option<bool>, Query, description = "Stream new lines until the job ends: a WebSocket with one JSON line per message (as Coder), or server-sent events when the request is not a WebSocket upgrade"),
    ),
    responses(
        (status = 200, description = "Oldest first", body = Vec<ProvisionerJobLog>),
        (status = 400, body = Response),
        (status = 404, body = Response),
    ),
    security(("CoderSessionToken" = []))
)]
#[get("/organizations/{organization}/provisionerjobs/{job}/logs")]
pub async fn logs(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    scope: InOrganization,
) -> Result<HttpResponse, ApiError> {
    let query = QueryParams::new(&req)?;
    let follow = job_logs::wants_follow(&query);
    let after = job_logs::after(&query)?;
    let view =
        readable_job(&req, &state, &scope, |organization, initiator| Action::ReadJob { organization, initiator })
            .await?;
    let job = view.job.id;
    if !follow {
        let lines = state.db(move |store| store.job_logs(job, after)).await?;
        return Ok(respond::ok(&lines.into_iter().map(ProvisionerJobLog::from).collect::<Vec<_>>()));
    }
    let lines = job_logs::follow(state.clone(), scope.organization.id, job, after);
    job_logs::stream(&req, payload, lines)
}
