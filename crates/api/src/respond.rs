//! Success responses in the same JSON form as errors.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use serde::Serialize;

pub const JSON: &str = "application/json; charset=utf-8";

pub fn json(status: StatusCode, body: &impl Serialize) -> HttpResponse {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut response = HttpResponse::build(status).body(bytes);
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
            response
        }
        Err(error) => {
            tracing::error!(%error, "response serialisation failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

pub fn ok(body: &impl Serialize) -> HttpResponse {
    json(StatusCode::OK, body)
}

pub fn created(body: &impl Serialize) -> HttpResponse {
    json(StatusCode::CREATED, body)
}

/// A `codersdk.Response` with only a message.
pub fn message(status: StatusCode, message: &str) -> HttpResponse {
    json(status, &crate::wire::Response::message(message))
}
