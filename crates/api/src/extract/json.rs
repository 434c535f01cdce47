use actix_web::error::JsonPayloadError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};

use crate::error::ApiError;

/// Request bodies are JSON of at most this size.
pub const MAX_BODY_BYTES: usize = 1 << 20;

pub type Json<T> = web::Json<T>;

/// JSON bodies as Coder reads them: any content type, unknown fields ignored, and its
/// messages for what cannot be read.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_BODY_BYTES)
        .content_type_required(false)
        .error_handler(|error, _: &HttpRequest| body_error(error).into())
}

fn body_error(error: JsonPayloadError) -> ApiError {
    match error {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large.")
                .detail(format!("Maximum request body size is {MAX_BODY_BYTES} bytes."))
        }
        JsonPayloadError::Deserialize(error) => {
            ApiError::bad_request("Request body must be valid JSON.").detail(error.to_string())
        }
        other => ApiError::bad_request("Request body must be valid JSON.").detail(other.to_string()),
    }
}
