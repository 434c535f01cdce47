//! One error type for every route, written as Coder's `{message, detail, validations}`.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use domain::auth::AuthFailure;
use domain::repo::RepoError;
use domain::validation::FieldError;

use crate::wire::{Response, ValidationError};

/// A failed request: the status and the body the client gets. Server faults are logged
/// with their cause when they are made, and the client sees only the fixed text.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Response,
    /// Seconds after which trying again may succeed (`Retry-After`).
    retry_after: Option<u64>,
    /// What went wrong on our side, for the request's log line; never sent to the client.
    cause: Option<String>,
}

pub const NOT_FOUND: &str = "Resource not found or you do not have access to this resource";
pub const FORBIDDEN: &str = "Forbidden.";
const FORBIDDEN_DETAIL: &str = "You don't have permission to view this content. If you believe this is a mistake, please contact your administrator or try signing in with different credentials.";
pub const INTERNAL: &str = "An internal server error occurred.";
pub const UNAVAILABLE: &str = "The database is unavailable. Please try again later.";
/// A write whose commit the database went away during: the server cannot know whether it
/// took effect, and says so rather than claim it did not.
pub const IN_DOUBT: &str = "The database went away while this change was being saved: it may or may not have been saved. Check before trying again.";

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, body: Response::message(message), retry_after: None, cause: None }
    }

    /// Tells the client when trying again may succeed.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.body.detail = Some(detail.into());
        self
    }

    pub fn validations(mut self, validations: Vec<ValidationError>) -> Self {
        self.body.validations = validations;
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// Also what a caller gets for something it may not read: existence must not leak.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, NOT_FOUND)
    }

    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, FORBIDDEN).detail(FORBIDDEN_DETAIL)
    }

    pub fn unauthorized(failure: &AuthFailure) -> Self {
        let error = Self::new(StatusCode::UNAUTHORIZED, failure.message());
        match failure.detail() {
            Some(detail) => error.detail(detail),
            None => error,
        }
    }

    /// `Validation failed.` with one entry per field.
    pub fn validation(errors: &[FieldError]) -> Self {
        Self::bad_request("Validation failed.").validations(errors.iter().map(ValidationError::from).collect())
    }

    pub fn invalid_query(validations: Vec<ValidationError>) -> Self {
        Self::bad_request("Invalid query parameters.").validations(validations)
    }

    pub fn route_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Route not found.")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.")
    }

    /// A fault of ours: answered with the fixed text; the request's log line carries the
    /// whole cause.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        Self { cause: Some(chain(cause)), ..Self::new(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL) }
    }

    pub fn unavailable(cause: &dyn std::error::Error) -> Self {
        Self { cause: Some(chain(cause)), ..Self::new(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE) }
    }

    /// A write the database went away while committing.
    pub fn in_doubt(cause: &dyn std::error::Error) -> Self {
        Self { cause: Some(chain(cause)), ..Self::new(StatusCode::SERVICE_UNAVAILABLE, IN_DOUBT) }
    }

    /// The cause of a fault of ours, if this is one.
    pub fn cause(&self) -> Option<&str> {
        self.cause.as_deref()
    }
}

/// `outer: inner: innermost`, so a log line carries the whole cause.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.body.message)?;
        match &self.cause {
            Some(cause) => write!(f, " ({cause})"),
            None => Ok(()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = crate::respond::json(self.status, &self.body);
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<RepoError> for ApiError {
    /// The generic meaning of a store failure; routes map conflicts to their own words first.
    fn from(error: RepoError) -> Self {
        match &error {
            RepoError::NotFound => Self::not_found(),
            RepoError::Conflict(field) => Self::conflict(format!("The {field} is already in use."))
                .validations(vec![ValidationError::new(*field, "This value is already in use and should be unique.")]),
            RepoError::Unavailable(_) => Self::unavailable(&error),
            RepoError::InDoubt(_) => Self::in_doubt(&error),
            RepoError::Other(_) => Self::internal(&error),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        Self::internal(&error)
    }
}

/// The `Allow` header of a 405.
pub fn allow_header(methods: &[&str]) -> (header::HeaderName, HeaderValue) {
    let value = HeaderValue::from_str(&methods.join(", ")).unwrap_or_else(|_| HeaderValue::from_static(""));
    (header::ALLOW, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client must be able to tell a write that was not made from one that may have been.
    #[test]
    fn a_write_in_doubt_is_answered_apart_from_an_unavailable_database() {
        let cause = || "server closed the connection unexpectedly".into();
        let in_doubt = ApiError::from(RepoError::InDoubt(cause()));
        let unavailable = ApiError::from(RepoError::Unavailable(cause()));
        assert_eq!(
            (in_doubt.status, unavailable.status),
            (StatusCode::SERVICE_UNAVAILABLE, StatusCode::SERVICE_UNAVAILABLE)
        );
        assert_eq!((in_doubt.body.message.as_str(), unavailable.body.message.as_str()), (IN_DOUBT, UNAVAILABLE));
        assert!(in_doubt.cause().is_some_and(|cause| cause.contains("server closed the connection")));
    }
}
