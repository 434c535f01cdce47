//! Provisioner jobs of an organization: the seed's two routes, creation, cancellation, logs.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use domain::authz::Action;
use domain::provisioner::JobStatus;
use domain::repo::{JobCursor, JobFilter, JobRepo, OpError, QueuedJobView};
use uuid::Uuid;

use super::job_logs;
use crate::error::ApiError;
use crate::extract::{InOrganization, QueryParams, Valid, uuid_segment};
use crate::state::{AppState, now};
use crate::wire::Response;
use crate::wire::provisioner::{
    CreateProvisionerJobRequest, ProvisionerJob, ProvisionerJobLog, ProvisionerJobLogEvent,
};
use crate::wire::schema::{StatusesQuery, TagsQuery};
use crate::{paged, respond};

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
        ("organization" = String, Path, description = super::param::ORGANIZATION),
        ("limit" = Option<i32>, Query, minimum = 0, description = super::param::LIMIT),
        ("ids" = Option<Vec<Uuid>>, Query, description = "Only these jobs: IDs, comma-separated or repeated."),
        ("status" = inline(Option<StatusesQuery>), Query, description = "Only jobs in these states, comma-separated or repeated."),
        ("tags" = inline(Option<TagsQuery>), Query, description = super::param::TAGS),
        ("initiator" = Option<Uuid>, Query, description = "Only jobs this user (an ID) started."),
    ),
    responses(
        (status = 200, description = "Newest first, with queue numbers; a plain member sees the jobs it started", body = Vec<ProvisionerJob>),
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
    let tags = query.tag_filter("tags");
    let initiator = query.uuid("initiator");
    query.finish()?;
    let organization = scope.organization.id;
    // `None`: every job. A long list is read and sent a page at a time, whatever the limit.
    let wanted = u32::try_from(limit).ok().filter(|limit| *limit > 0);
    let filter = JobFilter {
        ids,
        statuses,
        tags,
        initiator,
        limit: Some(wanted.map_or(paged::PAGE, |wanted| wanted.min(paged::PAGE))),
        after: None,
        scope: scope.actor.subject().job_scope(organization),
    };
    let liveness = state.settings.liveness;
    let read = move |state: web::Data<AppState>, filter: JobFilter| async move {
        state.db(move |store| store.jobs(organization, &filter, liveness, now())).await
    };
    let first = read(state.clone(), filter.clone()).await?;
    if wanted.is_some_and(|wanted| wanted <= paged::PAGE) {
        return Ok(respond::ok(&first.into_iter().map(ProvisionerJob::from).collect::<Vec<_>>()));
    }
    let mut left = wanted.map(|wanted| wanted.saturating_sub(paged::PAGE));
    Ok(paged::json_array(first, ProvisionerJob::from, move |last: &QueuedJobView| {
        let take = left.map_or(paged::PAGE, |left| left.min(paged::PAGE));
        if let Some(left) = &mut left {
            *left -= take;
        }
        let after = Some(JobCursor::at(&last.job));
        let page = read(state.clone(), JobFilter { limit: Some(take), after, ..filter.clone() });
        async move { if take == 0 { Ok(Vec::new()) } else { page.await } }
    }))
}

/// Get provisioner job
#[utoipa::path(
    tag = "Provisioning",
    operation_id = "get-provisioner-job",
    params(("organization" = String, Path, description = super::param::ORGANIZATION), ("job" = Uuid, Path, description = super::param::JOB)),
    responses(
        (status = 200, body = ProvisionerJob),
        (status = 400, description = "The job's ID is not a UUID (`Invalid UUID ...`)."),
    ),
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
    params(("organization" = String, Path, description = super::param::ORGANIZATION)),
    request_body = CreateProvisionerJobRequest,
    responses(
        (status = 201, description = "Pending, with its place in the queue", body = ProvisionerJob, links(
            ("GetJob" = (operation_id = "get-provisioner-job", parameters(("organization" = "$response.body#/organization_id"), ("job" = "$response.body#/id")))),
            ("CancelJob" = (operation_id = "cancel-provisioner-job", parameters(("organization" = "$response.body#/organization_id"), ("job" = "$response.body#/id")))),
            ("GetJobLogs" = (operation_id = "get-provisioner-job-logs", parameters(("organization" = "$response.body#/organization_id"), ("job" = "$response.body#/id")))),
        )),
    ),
    security(("CoderSessionToken" = []))
)]
#[post("/organizations/{organization}/provisionerjobs")]
pub async fn create(
    state: web::Data<AppState>,
    scope: InOrganization,
    body: Valid<CreateProvisionerJobRequest>,
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
    params(("organization" = String, Path, description = super::param::ORGANIZATION), ("job" = Uuid, Path, description = super::param::JOB)),
    responses(
        (status = 200, description = "Pending: canceled at once; running: canceling until its daemon stops", body = Response),
        (status = 400, description = "The job's ID is not a UUID, or the job is already canceled or completed."),
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
        ("organization" = String, Path, description = super::param::ORGANIZATION),
        ("job" = Uuid, Path, description = super::param::JOB),
        ("after" = Option<i64>, Query, description = "Only lines with a greater ID."),
        ("follow" = Option<String>, Query, description = "Present (with any value but `false` or `0`): keep the answer open and send new lines until the job ends, over a WebSocket with one JSON line per text message (as Coder sends them) when the request asks to upgrade, else as server-sent events."),
    ),
    responses(
        (status = 200, description = "The lines, oldest first; with `follow`, a stream of them", content(
            (Vec<ProvisionerJobLog> = "application/json"),
            (ProvisionerJobLogEvent = "text/event-stream"),
        )),
        (status = 400, description = "The job's ID is not a UUID."),
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
