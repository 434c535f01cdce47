//! Every request, observed once: it gets an `X-Request-Id` (the client's, when well formed),
//! one log line when it ends, and its HTTP metrics, and it counts as in flight until then.
//! "Ends" means its body was sent or its WebSocket closed, so streams count for as long as
//! they run.

use std::net::IpAddr;
use std::time::Instant;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{HttpMessage, web};
use tracing::Instrument;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::Actor;
use crate::limits::client_ip::ClientIp;
use crate::metrics::{RequestLabels, UNMATCHED_PATH, method_label};
use crate::router::RouteTable;
use crate::state::AppState;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, for whatever wants to mention it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// A client's id is kept when it is 1-128 characters of letters, digits and `-_.:`, which
/// covers UUIDs and the trace ids proxies send, and nothing that could forge a log line.
fn well_formed(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

fn is_websocket(headers: &HeaderMap) -> bool {
    headers.get(header::UPGRADE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Routes that orchestrators and scrapers call every few seconds: their successes log at
/// DEBUG so that they do not drown the rest.
fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz")
}

/// A version 4 UUID from the thread's generator: the system's would be a system call per
/// request, and a request id needs to be unique, not secret.
fn new_request_id() -> Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

/// The pattern of the route a request reaches (`UNMATCHED_PATH` for none), found once per
/// request for its labels and its rate limit.
#[derive(Debug, Clone)]
pub struct RoutePattern(pub String);

impl RoutePattern {
    /// The request's, as `observe` found it (or finds it now, for a request it did not see).
    pub fn of(req: &ServiceRequest) -> String {
        let found = req.extensions().get::<Self>().map(|pattern| pattern.0.clone());
        found.unwrap_or_else(|| route_pattern(req))
    }
}

/// The documented routes are looked up in the route table, which rules most out without a
/// regex; anything else (the Swagger UI, the probes) as actix would route it.
fn route_pattern(req: &ServiceRequest) -> String {
    let documented =
        req.app_data::<web::Data<RouteTable>>().and_then(|table| table.pattern(req.path()).map(str::to_owned));
    documented.or_else(|| req.match_pattern()).unwrap_or_else(|| UNMATCHED_PATH.to_owned())
}

/// Middleware, outermost but for the one that hides query tokens.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<Observed>, actix_web::Error> {
    let started = Instant::now();
    let id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| well_formed(v))
        .map_or_else(|| new_request_id().to_string(), str::to_owned);
    let pattern = route_pattern(&req);
    req.extensions_mut().insert(RoutePattern(pattern.clone()));
    let labels =
        RequestLabels { method: method_label(req.method()), path: pattern, websocket: is_websocket(req.headers()) };
    let state = req.app_data::<web::Data<AppState>>().cloned();
    if let Some(state) = &state {
        state.lifecycle.request_started();
        state.metrics.request_started(&labels);
    }
    req.extensions_mut().insert(RequestId(id.clone()));
    let (method, path) = (req.method().to_string(), req.path().to_owned());
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %labels.path);
    let mut ended =
        Ended { id, method, path, labels, status: 500, user: None, client: None, cause: None, started, state };
    // Routes and extractors turn their errors into responses; only a middleware's own
    // failure arrives here as an error, answered by actix after us.
    let mut res = match next.call(req).instrument(span).await {
        Ok(res) => res,
        Err(error) => {
            ended.status = error.as_response_error().status_code().as_u16();
            ended.cause = Some(error.to_string());
            ended.record();
            return Err(error);
        }
    };
    if let Ok(value) = HeaderValue::from_str(&ended.id) {
        res.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    // While stopping, each connection serves the request it has and closes.
    if ended.state.as_ref().is_some_and(|state| state.lifecycle.is_stopping()) {
        res.response_mut().head_mut().set_connection_type(ConnectionType::Close);
    }
    ended.status = res.status().as_u16();
    ended.user = res.request().extensions().get::<Actor>().map(Actor::id);
    ended.client = res.request().extensions().get::<ClientIp>().map(|ip| ip.0);
    let cause = res.response().error().and_then(|e| e.as_error::<ApiError>()).and_then(ApiError::cause);
    ended.cause = cause.map(str::to_owned);
    Ok(res.map_body(|_, body| Observed { body: body.boxed(), ended: Some(ended) }))
}

/// What the log line and the metrics say about a request once it has ended.
struct Ended {
    id: String,
    method: String,
    path: String,
    labels: RequestLabels,
    status: u16,
    user: Option<Uuid>,
    client: Option<IpAddr>,
    cause: Option<String>,
    started: Instant,
    state: Option<web::Data<AppState>>,
}

impl Ended {
    fn record(self) {
        let seconds = self.started.elapsed().as_secs_f64();
        if let Some(state) = &self.state {
            state.metrics.request_finished(&self.labels, self.status, seconds);
            state.lifecycle.request_ended();
        }
        macro_rules! line {
            ($level:expr) => {
                tracing::event!(
                    target: "api::http",
                    $level,
                    request_id = %self.id,
                    method = %self.method,
                    route = %self.labels.path,
                    path = %self.path,
                    status = self.status,
                    latency_ms = (seconds * 1e6).round() / 1e3,
                    user_id = self.user.map(tracing::field::display),
                    remote_ip = self.client.map(tracing::field::display),
                    cause = self.cause.as_deref(),
                    "request",
                )
            };
        }
        // 503 is the database away (told once, at ERROR, when it goes) or the server stopping:
        // a line per refused request at ERROR would bury the one that says why.
        if self.status >= 500 && self.status != 503 {
            line!(tracing::Level::ERROR);
        } else if self.status == 503 {
            line!(tracing::Level::WARN);
        } else if self.status < 400 && is_probe(&self.labels.path) {
            line!(tracing::Level::DEBUG);
        } else {
            line!(tracing::Level::INFO);
        }
    }
}

/// A response body that records its request when it is dropped: after the last byte was
/// written, or when the client went away.
pub struct Observed {
    body: BoxBody,
    ended: Option<Ended>,
}

impl MessageBody for Observed {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Bytes, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_next(cx)
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        if let Some(ended) = self.ended.take() {
            ended.record();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_from_clients_are_kept_only_when_plain() {
        assert!(well_formed("0f8fad5b-d9cb-469f-a165-70867728950e"));
        assert!(well_formed("trace.1:abc_DEF-9"));
        for bad in ["", "has space", "new\nline", "quote\"", &"x".repeat(129), "ünïcode"] {
            assert!(!well_formed(bad), "{bad:?}");
        }
    }
}
