//! Rate limits, counted as Coder counts them and answered with its words:
//! - the API: `--api-rate-limit` requests a minute per signed-in user (per client address
//!   when anonymous) and per route; an owner may send `X-Coder-Bypass-Ratelimit: true`.
//! - signing in: `--login-rate-limit` a minute per client address, over `POST /users/login`,
//!   `POST /users/first` and failed daemon-key checks, counted before any password is hashed.
//!
//! Daemons with a valid key are not under the API limit: a busy daemon calls several times
//! per job by design. Counts are kept per server.

pub mod client_ip;
mod window;

use std::net::IpAddr;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, web};
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{daemon_key, signed_in, token_from_request};
use crate::middleware::RoutePattern;
use crate::state::AppState;
use client_ip::{ClientIp, TrustedProxies, limit_key};
use window::{SlidingWindow, Verdict};

pub const BYPASS_HEADER: &str = "X-Coder-Bypass-Ratelimit";
const WINDOW: Duration = Duration::from_secs(60);
const SIGN_IN_ROUTES: [&str; 2] = ["/api/v2/users/login", "/api/v2/users/first"];
const DAEMON_ROUTES: &str = "/api/v2/provisionerdaemons";

/// Whom the API limit counts a request against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Caller {
    User(Uuid),
    Address(IpAddr),
}

/// What the limits are, and what they have counted.
pub struct Limits {
    api: Option<SlidingWindow<(Caller, String)>>,
    sign_in: Option<SlidingWindow<IpAddr>>,
    proxies: TrustedProxies,
}

/// A limit in requests per minute; zero or less turns it off.
fn per_minute(limit: i64) -> Option<u32> {
    u32::try_from(limit).ok().filter(|limit| *limit > 0)
}

impl Limits {
    pub fn new(api_per_minute: i64, sign_in_per_minute: i64, proxies: TrustedProxies) -> Self {
        Self {
            api: per_minute(api_per_minute).map(|limit| SlidingWindow::new(limit, WINDOW)),
            sign_in: per_minute(sign_in_per_minute).map(|limit| SlidingWindow::new(limit, WINDOW)),
            proxies,
        }
    }

    /// No limits, every peer the client.
    pub fn off() -> Self {
        Self::new(0, 0, TrustedProxies::default())
    }
}

/// A duration as Go prints one (`1m0s`, `1h0m0s`, `30s`): Coder's message shows the window so.
pub fn go_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, _) => format!("{minutes}m{seconds}s"),
        _ => format!("{hours}h{minutes}m{seconds}s"),
    }
}

fn refusal(limiter: &SlidingWindow<impl std::hash::Hash + Eq>, retry_after: Duration) -> ApiError {
    let message = format!(
        "You've been rate limited for sending more than {} requests in {}.",
        limiter.limit(),
        go_duration(limiter.window())
    );
    // Whole seconds, rounded up: never invite a retry that would be refused again.
    let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, message).retry_after(seconds.max(1))
}

/// Go's `strconv.ParseBool`, which Coder reads the bypass header with.
fn go_bool(raw: &str) -> Option<bool> {
    match raw {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Middleware, inside `observe`: decides whether a request may go on, before its route runs
/// (and so before any password is hashed).
pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    };
    let limits = &state.limits;
    let peer = req.peer_addr().map_or(IpAddr::from([0, 0, 0, 0]), |address| address.ip());
    let forwarded = req.headers().get_all("x-forwarded-for").filter_map(|v| v.to_str().ok()).collect::<Vec<_>>();
    let client = limits.proxies.client_ip(peer, forwarded.into_iter());
    req.extensions_mut().insert(ClientIp(client));
    let path = req.path();
    if !(path == "/api/v2" || path.starts_with("/api/v2/")) {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    let route = RoutePattern::of(&req);
    let address = limit_key(client);
    if let Some(refused) = decide(&req, limits, &route, address).await {
        return Ok(req.into_response(refused.error_response()).map_into_right_body());
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}

/// `Some(answer)` when the request must not go on.
async fn decide(req: &ServiceRequest, limits: &Limits, route: &str, address: IpAddr) -> Option<ApiError> {
    let http = req.request();
    if let Some(sign_in) = &limits.sign_in
        && req.method() == actix_web::http::Method::POST
        && SIGN_IN_ROUTES.contains(&route)
        && let Verdict::Limited { retry_after } = sign_in.hit(address)
    {
        return Some(refusal(sign_in, retry_after));
    }
    if route.starts_with(DAEMON_ROUTES) {
        // A daemon's key is its sign-in: an address that guessed too often is refused
        // before its next guess is even looked up.
        if let Some(sign_in) = &limits.sign_in
            && let Verdict::Limited { retry_after } = sign_in.check(&address)
        {
            return Some(refusal(sign_in, retry_after));
        }
        match daemon_key(http).await {
            Ok(_) => return None,
            // Not a wrong key: the database is away. The route says so.
            Err(error) if error.status_code().is_server_error() => return None,
            Err(_) => {}
        }
        if let Some(sign_in) = &limits.sign_in
            && let Verdict::Limited { retry_after } = sign_in.hit(address)
        {
            return Some(refusal(sign_in, retry_after));
        }
        // The route answers the failed check itself.
        return None;
    }
    let api = limits.api.as_ref()?;
    let caller = match token_from_request(http) {
        Some(_) => match signed_in(http).await {
            Ok(actor) => {
                let bypass = req.headers().get(BYPASS_HEADER).and_then(|v| v.to_str().ok()).and_then(go_bool);
                if bypass == Some(true) {
                    // Coder lets owners through for load tests and refuses anyone else.
                    if actor.subject().is_owner() {
                        return None;
                    }
                    let message = format!("\"{BYPASS_HEADER}\" provided but user is not owner");
                    return Some(ApiError::new(StatusCode::PRECONDITION_REQUIRED, message));
                }
                Caller::User(actor.id())
            }
            // The route answers the failed sign-in; until then, the address is the caller.
            Err(_) => Caller::Address(address),
        },
        None => Caller::Address(address),
    };
    match api.hit((caller, route.to_owned())) {
        Verdict::Allowed => None,
        Verdict::Limited { retry_after } => Some(refusal(api, retry_after)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_read_as_go_prints_them() {
        assert_eq!(go_duration(Duration::from_secs(60)), "1m0s");
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_secs(5400)), "1h30m0s");
    }

    #[test]
    fn the_refusal_is_coders_message_with_a_whole_retry_after() {
        let limiter = SlidingWindow::<u8>::new(512, WINDOW);
        let error = refusal(&limiter, Duration::from_millis(1_200));
        let response = error.error_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("2"));
        assert_eq!(error.to_string(), "429 You've been rate limited for sending more than 512 requests in 1m0s.");
    }

    #[test]
    fn the_bypass_header_is_read_as_go_reads_booleans() {
        assert_eq!(go_bool("true"), Some(true));
        assert_eq!(go_bool("1"), Some(true));
        assert_eq!(go_bool("False"), Some(false));
        assert_eq!(go_bool("yes"), None);
    }
}
