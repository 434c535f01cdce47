//! Field rules shared by several value types, and the error a broken rule produces.

use std::fmt;

/// A request field that broke a rule. `tag` is the name Coder's validator gives the rule
/// (`organization_name`, `required`, ...), so an API can answer exactly as Coder does;
/// `reason` says the same thing in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's JSON name.
    pub field: &'static str,
    /// The name of the rule it broke.
    pub tag: &'static str,
    /// The value it had (empty for secrets).
    pub value: String,
    /// What is wrong, in words.
    pub reason: String,
}

impl FieldError {
    /// A field error from its parts.
    pub fn new(field: &'static str, tag: &'static str, value: &str, reason: impl Into<String>) -> Self {
        Self { field, tag, value: value.to_owned(), reason: reason.into() }
    }

    /// A field that must be present and non-empty was not.
    pub fn required(field: &'static str) -> Self {
        Self::new(field, "required", "", "is required")
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.reason)
    }
}

impl std::error::Error for FieldError {}

/// Coder's `NameValid`: 1-32 characters, ASCII letters and digits in groups joined by single
/// hyphens, and not one of the words that collide with routes (`new`, `create`).
/// Returns the reason the name is invalid.
pub fn name_rule(raw: &str) -> Result<(), &'static str> {
    if raw.is_empty() {
        return Err("must be >= 1 character");
    }
    if raw.chars().count() > 32 {
        return Err("must be <= 32 characters");
    }
    if raw == "new" || raw == "create" {
        return Err("cannot use a route keyword as a name");
    }
    let groups_ok = raw.split('-').all(|group| !group.is_empty() && group.bytes().all(|b| b.is_ascii_alphanumeric()));
    if !groups_ok {
        return Err("must be alphanumeric with hyphens");
    }
    Ok(())
}

/// Coder's `DisplayNameValid` (and `UserRealNameValid` with another limit): at most
/// `max_bytes` bytes, no white space at either end.
pub fn trimmed_text_rule(raw: &str, max_bytes: usize) -> Result<(), String> {
    if raw.len() > max_bytes {
        return Err(format!("must be <= {max_bytes} characters"));
    }
    if raw.trim() != raw {
        return Err("must not have leading or trailing white space".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_letters_digits_and_single_hyphens_are_valid() {
        for ok in ["a", "acme", "Acme-Corp", "a-b-c", "x1-2y", &"a".repeat(32)] {
            assert_eq!(name_rule(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn names_breaking_the_pattern_or_length_are_invalid() {
        let long = "a".repeat(33);
        for bad in ["", "-a", "a-", "a--b", "a b", "a_b", "é", "new", "create", long.as_str()] {
            assert!(name_rule(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn text_with_surrounding_space_or_too_many_bytes_is_invalid() {
        assert!(trimmed_text_rule(" x", 64).is_err());
        assert!(trimmed_text_rule("x\n", 64).is_err());
        assert!(trimmed_text_rule(&"é".repeat(33), 64).is_err());
        assert!(trimmed_text_rule("Acme Corp", 64).is_ok());
        assert!(trimmed_text_rule("", 64).is_ok());
    }
}
