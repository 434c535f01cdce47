use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every error and informational body (`codersdk.Response`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::Response)]
pub struct Response {
    /// An actionable, fully formed sentence.
    pub message: String,
    /// Further insight into why the action failed; may be technical.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Form-field specific messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub validations: Vec<ValidationError>,
}

impl Response {
    pub fn message(message: impl Into<String>) -> Self {
        Self { message: message.into(), detail: None, validations: Vec::new() }
    }
}

/// One field's problem (`codersdk.ValidationError`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::ValidationError)]
pub struct ValidationError {
    pub field: String,
    pub detail: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { field: field.into(), detail: detail.into() }
    }
}

impl From<&domain::validation::FieldError> for ValidationError {
    /// Coder's validator wording, so clients that match on it keep working.
    fn from(error: &domain::validation::FieldError) -> Self {
        Self::new(error.field, format!("Validation failed for tag {:?} with value: \"{}\"", error.tag, error.value))
    }
}
