//! Collects every field's problem before answering, so a form learns all of them at once.

use domain::validation::FieldError;

use crate::error::ApiError;

#[derive(Debug, Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    /// The value, or `None` after recording why not.
    pub fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.0.push(error);
                None
            }
        }
    }

    /// `Validation failed.` if anything was recorded.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() { Ok(()) } else { Err(ApiError::validation(&self.0)) }
    }
}

/// Unwraps a value [`Checks::finish`] has vouched for.
pub fn checked<T>(value: Option<T>) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::internal(&std::io::Error::other("a checked value is missing")))
}
