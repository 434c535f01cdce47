//! Probes: `/healthz` says the process serves (and touches nothing); `/readyz` says it can do
//! useful work, which needs the database.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};

use crate::error::chain;
use crate::respond;
use crate::state::AppState;
use crate::wire::Response;

/// The database must answer a trivial query within this.
const READY_WITHIN: Duration = Duration::from_secs(2);
/// The backstop for a query that hangs once it has a connection: a little longer than the
/// connection wait, so that when no connection comes the pool's reason is the one given.
const ANSWER_WITHIN: Duration = Duration::from_millis(2_500);

/// Check the server is up
#[utoipa::path(tag = "General", operation_id = "health-check", responses((status = 200, description = "The server is up", body = String, content_type = "text/plain")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body("OK")
}

/// Check the server is ready to serve
#[utoipa::path(
    tag = "General",
    operation_id = "readiness-check",
    responses(
        (status = 200, description = "The database answered a trivial query within 2 s", body = Response),
        (status = 503, description = "Not ready; `detail` says why", body = Response),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.lifecycle.is_stopping() {
        return not_ready("The server is shutting down.".into());
    }
    let ping = state.run(|store| store.ping(READY_WITHIN));
    let reason = match tokio::time::timeout(ANSWER_WITHIN, ping).await {
        Ok(Ok(Ok(()))) => return respond::message(StatusCode::OK, "Ready."),
        Ok(Ok(Err(error))) => one_line(&chain(&error)),
        Ok(Err(error)) => one_line(&error.to_string()),
        Err(_) => format!("database: no answer within {}s", ANSWER_WITHIN.as_secs_f32()),
    };
    not_ready(reason)
}

fn not_ready(reason: String) -> HttpResponse {
    let body = Response { detail: Some(reason), ..Response::message("Not ready.") };
    respond::json(StatusCode::SERVICE_UNAVAILABLE, &body)
}

/// Database errors (libpq's above all) span several lines; a probe's answer is one.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
