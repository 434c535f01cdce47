//! Field rules of the request types, for `validator`: each function asks the domain's parse
//! function, so a rule is written once, in `domain`, and its schema (see [`super::schema`])
//! states the same constants. Broken rules become Coder's `Validation failed.` here, in one
//! conversion.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::marker::PhantomData;

use domain::auth::TokenName;
use domain::organization::{DisplayName, OrganizationName, OrganizationNameError};
use domain::provisioner::{
    DaemonName, JobErrorCode, JobType, LogLevel, LogSource, ProvisionerKeyName, ProvisionerKeyNameError,
    ProvisionerType, Tags,
};
use domain::user::{Email, UserRealName, Username};
use domain::validation::{FieldError, check_text};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::{RefOr, Schema};
use validator::{ValidationError, ValidationErrors, ValidationErrorsKind};

use super::response::ValidationError as Validation;
use crate::error::ApiError;

type Checked = Result<(), ValidationError>;

/// A domain rule's refusal in validator's terms: its tag is the code (the value is added by
/// the derive).
fn broken(error: FieldError) -> ValidationError {
    ValidationError::new(error.tag).with_message(Cow::Owned(error.reason))
}

fn checked<T>(result: Result<T, FieldError>) -> Checked {
    result.map(drop).map_err(broken)
}

/// A value the field must carry.
pub fn required(raw: &str) -> Checked {
    if raw.is_empty() { Err(broken(FieldError::required("value"))) } else { Ok(()) }
}

/// Free text: anything but NUL.
pub fn text(raw: &str) -> Checked {
    checked(check_text("value", raw))
}

/// The name rule only: `default` is answered on its own after every field rule, as in Coder.
pub fn organization_name(raw: &str) -> Checked {
    match OrganizationName::parse(raw) {
        Ok(_) | Err(OrganizationNameError::Reserved) => Ok(()),
        Err(OrganizationNameError::Invalid(error)) => Err(broken(error)),
    }
}

/// A new name for an organization; empty leaves the name as it is.
pub fn organization_rename(raw: &str) -> Checked {
    if raw.is_empty() { Ok(()) } else { organization_name(raw) }
}

pub fn display_name(raw: &str) -> Checked {
    checked(DisplayName::parse(raw))
}

pub fn email(raw: &str) -> Checked {
    checked(Email::parse(raw))
}

pub fn username(raw: &str) -> Checked {
    checked(Username::parse(raw))
}

pub fn real_name(raw: &str) -> Checked {
    checked(UserRealName::parse(raw))
}

/// A token's name; empty asks for a generated one.
pub fn token_name(raw: &str) -> Checked {
    if raw.is_empty() { Ok(()) } else { checked(TokenName::parse(raw)) }
}

/// Only the text rule: a key name's other refusals are Coder's own messages, answered after.
pub fn provisioner_key_name(raw: &str) -> Checked {
    match ProvisionerKeyName::parse(raw) {
        Err(ProvisionerKeyNameError::Nul) => text(raw),
        _ => Ok(()),
    }
}

pub fn daemon_name(raw: &str) -> Checked {
    checked(DaemonName::parse(raw))
}

pub fn tags(raw: &BTreeMap<String, String>) -> Checked {
    checked(Tags::check(raw))
}

pub fn job_type(raw: &str) -> Checked {
    if raw.is_empty() { Err(broken(FieldError::required("type"))) } else { checked(JobType::parse(raw)) }
}

pub fn provisioner(raw: &str) -> Checked {
    checked(ProvisionerType::parse("provisioner", raw))
}

pub fn provisioners(raw: &[String]) -> Checked {
    raw.iter().try_for_each(|one| checked(ProvisionerType::parse("provisioners", one)))
}

pub fn log_source(raw: &str) -> Checked {
    checked(LogSource::parse(raw))
}

pub fn log_level(raw: &str) -> Checked {
    checked(LogLevel::parse(raw))
}

/// Empty (no code) or one of the codes a job may fail with.
pub fn error_code(raw: &str) -> Checked {
    if raw.is_empty() { Ok(()) } else { checked(JobErrorCode::parse(raw)) }
}

/// What validator found wrong with a request body of type `T`.
pub struct Rejected<T> {
    errors: ValidationErrors,
    request: PhantomData<T>,
}

impl<T> Rejected<T> {
    pub fn new(errors: ValidationErrors) -> Self {
        Self { errors, request: PhantomData }
    }
}

/// The fields of `T` in the order it declares them (utoipa keeps that order).
fn declared_fields<T: ToSchema>() -> Vec<String> {
    match T::schema() {
        RefOr::T(Schema::Object(object)) => object.properties.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

impl<T: ToSchema> From<Rejected<T>> for ApiError {
    /// `Validation failed.` with one `{field, detail}` per broken rule, in the order `T`
    /// declares its fields, as Coder's validator lists them. A field of a nested object or list
    /// is named by its own JSON name.
    fn from(rejected: Rejected<T>) -> Self {
        let order = declared_fields::<T>();
        let mut fields: Vec<(Cow<'static, str>, ValidationErrorsKind)> =
            rejected.errors.into_errors().into_iter().collect();
        fields.sort_by_key(|(name, _)| {
            let name = json_name(name);
            (order.iter().position(|declared| declared == name).unwrap_or(order.len()), name.to_owned())
        });
        let mut validations = Vec::new();
        for (name, kind) in fields {
            flatten(json_name(&name), kind, &mut validations);
        }
        ApiError::bad_request("Validation failed.").validations(validations)
    }
}

/// validator names a field by its Rust name; a raw identifier (`r#type`) is the JSON name.
fn json_name(name: &str) -> &str {
    name.strip_prefix("r#").unwrap_or(name)
}

fn flatten(field: &str, kind: ValidationErrorsKind, into: &mut Vec<Validation>) {
    match kind {
        ValidationErrorsKind::Field(errors) => {
            into.extend(errors.iter().map(|error| Validation::broken_rule(field, &error.code, &value_of(error))));
        }
        ValidationErrorsKind::Struct(nested) => {
            let mut fields: Vec<_> = nested.into_errors().into_iter().collect();
            fields.sort_by(|(a, _), (b, _)| a.cmp(b));
            for (name, kind) in fields {
                flatten(json_name(&name), kind, into);
            }
        }
        ValidationErrorsKind::List(items) => {
            for (_, nested) in items {
                flatten(field, ValidationErrorsKind::Struct(nested), into);
            }
        }
    }
}

/// The offending value as Coder's message shows it: a string as it is, anything else as JSON.
fn value_of(error: &ValidationError) -> String {
    match error.params.get("value") {
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use validator::Validate;

    use super::*;
    use crate::wire::Response;

    #[derive(Deserialize, Validate, ToSchema)]
    struct Form {
        #[validate(custom(function = "super::organization_name"))]
        name: String,
        #[validate(custom(function = "super::display_name"))]
        display_name: Option<String>,
        #[validate(custom(function = "super::job_type"))]
        r#type: String,
    }

    fn answer(form: &Form) -> Option<Response> {
        let errors = form.validate().err()?;
        let error = ApiError::from(Rejected::<Form>::new(errors));
        let body = actix_web::body::to_bytes(actix_web::ResponseError::error_response(&error).into_body());
        let bytes = futures_util::FutureExt::now_or_never(body)?.ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    #[test]
    fn broken_fields_are_listed_in_declaration_order_with_coders_detail() {
        let form = Form { name: "a b".into(), display_name: Some(" padded".into()), r#type: String::new() };
        let fields: Vec<(String, String)> =
            answer(&form).map(|r| r.validations).unwrap_or_default().into_iter().map(|v| (v.field, v.detail)).collect();
        assert_eq!(
            fields,
            [
                ("name".to_owned(), "Validation failed for tag \"organization_name\" with value: \"a b\"".to_owned()),
                (
                    "display_name".to_owned(),
                    "Validation failed for tag \"organization_display_name\" with value: \" padded\"".to_owned()
                ),
                ("type".to_owned(), "Validation failed for tag \"required\" with value: \"\"".to_owned()),
            ]
        );
    }

    #[test]
    fn the_reserved_name_is_left_for_afterwards() {
        let form = Form { name: "default".into(), display_name: None, r#type: "workspace_build".into() };
        assert_eq!(answer(&form), None);
    }
}
