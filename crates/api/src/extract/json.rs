use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::JsonPayloadError;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;
use utoipa::ToSchema;
use validator::Validate;

use crate::error::ApiError;
use crate::wire::rules::Rejected;

/// Request bodies are JSON of at most this size.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// A JSON object whose field rules hold: read as [`json_config`] says, then validated; broken
/// rules are answered `Validation failed.`, every one of them at once. Any other JSON value
/// (an array would otherwise fill a struct field by field) is not a request body.
#[derive(Debug)]
pub struct Valid<T>(T);

impl<T> Valid<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Valid<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + Validate + ToSchema + 'static> FromRequest for Valid<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let value = body.await?.into_inner();
            if !value.is_object() {
                return Err(unreadable("expected a JSON object").into());
            }
            let body = T::deserialize(value).map_err(|error| unreadable(error.to_string()))?;
            body.validate().map_err(|errors| ApiError::from(Rejected::<T>::new(errors)))?;
            Ok(Self(body))
        })
    }
}

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
        JsonPayloadError::Deserialize(error) => unreadable(error.to_string()),
        other => unreadable(other.to_string()),
    }
}

fn unreadable(detail: impl Into<String>) -> ApiError {
    ApiError::bad_request("Request body must be valid JSON.").detail(detail)
}
