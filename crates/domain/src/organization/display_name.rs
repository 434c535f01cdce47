use crate::validation::{FieldError, trimmed_text_rule};

use super::OrganizationName;

/// An organization's display name: at most 64 bytes, no white space at either end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// The longest display name, in bytes.
    pub const MAX_BYTES: usize = 64;

    /// Checks a display name; an empty one is allowed here (the caller decides what it means).
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        trimmed_text_rule(raw, Self::MAX_BYTES)
            .map_err(|reason| FieldError::new("display_name", "organization_display_name", raw, reason))?;
        Ok(Self(raw.to_owned()))
    }

    /// A valid name is always a valid display name (32 ASCII bytes, no spaces).
    pub fn from_name(name: &OrganizationName) -> Self {
        Self(name.as_str().to_owned())
    }

    /// The display name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_inside_are_fine_but_not_around() {
        assert!(DisplayName::parse("Acme Corp").is_ok());
        assert!(DisplayName::parse(" Acme").is_err());
        assert!(DisplayName::parse("Acme\t").is_err());
    }

    #[test]
    fn sixty_four_bytes_is_the_limit() {
        assert!(DisplayName::parse(&"a".repeat(64)).is_ok());
        let err = DisplayName::parse(&"a".repeat(65));
        assert!(matches!(err, Err(FieldError { field: "display_name", tag: "organization_display_name", .. })));
    }
}
