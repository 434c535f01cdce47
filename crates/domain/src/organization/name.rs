use std::fmt;

use crate::validation::{FieldError, NAME, NAME_MAX_CHARS, Pattern, TextRule};

/// The reserved word that means "the default organization" wherever an organization is named.
pub const RESERVED_NAME: &str = "default";

/// Words no organization may be called: the route keywords of Coder's name rule, and
/// [`RESERVED_NAME`] in any case.
static EXCLUDED: Pattern = Pattern::new("^(?:new|create|[dD][eE][fF][aA][uU][lL][tT])$");

static RULE: TextRule =
    TextRule { min_chars: 1, max_chars: Some(NAME_MAX_CHARS), pattern: Some(&NAME), excluded: Some(&EXCLUDED) };

/// An organization name that follows Coder's name rule and is not the reserved `default`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrganizationName(String);

/// Why a string is not an organization name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrganizationNameError {
    /// `default`, in any case: it would shadow the default organization in paths.
    #[error("Organization name \"default\" is reserved.")]
    Reserved,
    /// It breaks the name rule (or is empty).
    #[error(transparent)]
    Invalid(FieldError),
}

impl OrganizationName {
    /// Coder's name rule (1-32 letters and digits in groups joined by single hyphens, not
    /// `new` or `create`), and not `default`.
    pub fn rule() -> &'static TextRule {
        &RULE
    }

    /// Checks a name: not `default` in any case, then Coder's name rule.
    pub fn parse(raw: &str) -> Result<Self, OrganizationNameError> {
        if raw.eq_ignore_ascii_case(RESERVED_NAME) {
            return Err(OrganizationNameError::Reserved);
        }
        RULE.check_field("name", "organization_name", raw).map_err(OrganizationNameError::Invalid)?;
        Ok(Self(raw.to_owned()))
    }

    /// Whether some organization could be called this (in any case): a path segment that
    /// could not is answered without asking the store.
    pub fn could_name(raw: &str) -> bool {
        RULE.check(raw).is_ok()
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness is decided on: names are unique regardless of case.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl AsRef<str> for OrganizationName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrganizationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_reserved_in_any_case() {
        for raw in ["default", "Default", "DEFAULT"] {
            assert_eq!(OrganizationName::parse(raw), Err(OrganizationNameError::Reserved));
        }
    }

    #[test]
    fn an_empty_name_is_required() {
        let err = OrganizationName::parse("");
        assert!(matches!(err, Err(OrganizationNameError::Invalid(FieldError { tag: "required", .. }))));
    }

    #[test]
    fn a_name_with_spaces_breaks_the_organization_name_rule() {
        let err = OrganizationName::parse("acme corp");
        assert!(matches!(
            err,
            Err(OrganizationNameError::Invalid(FieldError { tag: "organization_name", field: "name", .. }))
        ));
    }

    #[test]
    fn route_keywords_and_long_names_break_the_rule() {
        for raw in ["new", "create", &"a".repeat(33), "a\0b"] {
            let err = OrganizationName::parse(raw);
            assert!(matches!(err, Err(OrganizationNameError::Invalid(FieldError { tag: "organization_name", .. }))));
        }
        assert!(OrganizationName::parse(&"a".repeat(32)).is_ok());
    }

    #[test]
    fn the_documented_rule_refuses_the_reserved_name_in_any_case() {
        for raw in ["default", "DEFAULT", "dEfAuLt"] {
            assert!(!OrganizationName::could_name(raw), "{raw}");
        }
        assert!(OrganizationName::could_name("defaults"));
    }

    #[test]
    fn the_key_ignores_case_but_the_name_keeps_it() {
        let name = OrganizationName::parse("Acme-Corp").ok();
        assert_eq!(name.as_ref().map(|n| n.as_str()), Some("Acme-Corp"));
        assert_eq!(name.map(|n| n.key()), Some("acme-corp".to_owned()));
    }
}
