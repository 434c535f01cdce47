use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every error and informational body (`codersdk.Response`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::Response)]
pub struct Response {
    /// What happened, in a sentence a person can act on; clients match on it.
    pub message: String,
    /// More about the cause, possibly technical; left out when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// One entry per request field at fault; left out when none is.
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

    /// A broken field rule, in Coder's validator wording, so clients that match on it keep
    /// working.
    pub fn broken_rule(field: &str, tag: &str, value: &str) -> Self {
        Self::new(field, format!("Validation failed for tag {tag:?} with value: \"{value}\""))
    }
}

impl From<&domain::validation::FieldError> for ValidationError {
    fn from(error: &domain::validation::FieldError) -> Self {
        Self::broken_rule(error.field, error.tag, &error.value)
    }
}
