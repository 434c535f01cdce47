//! Following a job's log: lines as they are written, until the job is over. The follower
//! wakes on the store's change notices (and polls slowly as a safety net); the transport is
//! a WebSocket, one JSON line per text message as Coder sends them, or server-sent events.

use std::time::Duration;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message};
use domain::repo::JobRepo;
use futures_util::StreamExt;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::state::{AppState, JobSignal, now};
use crate::wire::ValidationError;
use crate::wire::provisioner::ProvisionerJobLog;

/// A missed notice costs at most this much delay.
const SAFETY_POLL: Duration = Duration::from_secs(2);

/// `follow` present (and not `false` or `0`).
pub fn wants_follow(query: &QueryParams) -> bool {
    query.has("follow") && !matches!(query.value("follow").as_deref(), Some("false" | "0"))
}

/// `after`: a log line id; Coder's message when it is not an integer.
pub fn after(query: &QueryParams) -> Result<i64, ApiError> {
    match query.value("after").filter(|raw| !raw.is_empty()) {
        None => Ok(0),
        Some(raw) => raw.parse().map_err(|_| {
            ApiError::bad_request("Query param \"after\" must be an integer.")
                .validations(vec![ValidationError::new("after", "Must be an integer")])
        }),
    }
}

/// Feeds the lines of `job` after `after` into a channel until the job is over or the
/// reader goes away.
pub fn follow(
    state: web::Data<AppState>,
    organization: Uuid,
    job: Uuid,
    mut after: i64,
) -> mpsc::Receiver<ProvisionerJobLog> {
    let (lines, receiver) = mpsc::channel(256);
    actix_web::rt::spawn(async move {
        let mut signals = state.signals.jobs();
        let liveness = state.settings.liveness;
        // Before the first read: from then on every server tells every other of the job's changes.
        if state.db(move |store| store.follow_job(job)).await.is_err() {
            return;
        }
        loop {
            // Status first, then lines: a job seen as over has written all of its lines.
            let over = match state.db(move |store| store.job(organization, job, liveness, now())).await {
                Ok(Some(view)) => !view.job.status().is_active(),
                Ok(None) => true,
                Err(_) => return,
            };
            let Ok(batch) = state.db(move |store| store.job_logs(job, after)).await else {
                return;
            };
            for line in batch {
                after = line.id;
                if lines.send(ProvisionerJobLog::from(line)).await.is_err() {
                    return;
                }
            }
            if over {
                return;
            }
            tokio::select! {
                _ = wait_for(&mut signals, job) => {}
                _ = tokio::time::sleep(SAFETY_POLL) => {}
                _ = lines.closed() => return,
                // A stopping server ends its streams; the client follows again elsewhere.
                () = state.lifecycle.stopping() => return,
            }
        }
    });
    receiver
}

async fn wait_for(signals: &mut tokio::sync::broadcast::Receiver<JobSignal>, job: Uuid) {
    loop {
        match signals.recv().await {
            Ok(JobSignal::Job(changed)) if changed != job => continue,
            Ok(_) | Err(RecvError::Lagged(_)) => return,
            Err(RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

/// Carries the lines over a WebSocket when the request asks for one, else as server-sent events.
pub fn stream(
    req: &HttpRequest,
    payload: web::Payload,
    lines: mpsc::Receiver<ProvisionerJobLog>,
) -> Result<HttpResponse, ApiError> {
    let upgrade = req.headers().get(header::UPGRADE).and_then(|v| v.to_str().ok());
    if upgrade.is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
        websocket(req, payload, lines)
    } else {
        Ok(server_sent_events(lines))
    }
}

fn websocket(
    req: &HttpRequest,
    payload: web::Payload,
    mut lines: mpsc::Receiver<ProvisionerJobLog>,
) -> Result<HttpResponse, ApiError> {
    let (response, mut session, mut incoming) = actix_ws::handle(req, payload)
        .map_err(|e| ApiError::bad_request("Failed to accept websocket.").detail(e.to_string()))?;
    let state = req.app_data::<web::Data<AppState>>().cloned();
    actix_web::rt::spawn(async move {
        loop {
            tokio::select! {
                line = lines.recv() => match line {
                    Some(line) => {
                        let Ok(text) = serde_json::to_string(&line) else { return };
                        if session.text(text).await.is_err() {
                            return;
                        }
                    }
                    None => break,
                },
                message = incoming.recv() => match message {
                    Some(Ok(Message::Ping(bytes))) => {
                        if session.pong(&bytes).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                },
            }
        }
        let reason = if state.is_some_and(|state| state.lifecycle.is_stopping()) {
            CloseReason { code: CloseCode::Away, description: Some("The server is shutting down.".into()) }
        } else {
            CloseReason { code: CloseCode::Normal, description: Some("done".into()) }
        };
        let _ = session.close(Some(reason)).await;
    });
    Ok(response)
}

fn server_sent_events(lines: mpsc::Receiver<ProvisionerJobLog>) -> HttpResponse {
    let events = tokio_stream_from(lines).map(|line| {
        let json = serde_json::to_string(&line).unwrap_or_default();
        Ok::<_, actix_web::Error>(Bytes::from(format!("data: {json}\n\n")))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .streaming(events)
}

/// An mpsc receiver as a stream.
fn tokio_stream_from<T: 'static>(mut receiver: mpsc::Receiver<T>) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}
