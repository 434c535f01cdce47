use crate::validation::{FieldError, TRIMMED_TEXT, TextRule};

use super::OrganizationName;

/// An organization's display name: at most 64 characters, no white space at either end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

static RULE: TextRule =
    TextRule { min_chars: 0, max_chars: Some(DisplayName::MAX_CHARS), pattern: Some(&TRIMMED_TEXT), excluded: None };

impl DisplayName {
    /// Characters, as JSON Schema's `maxLength` counts them, so the document states it exactly.
    pub const MAX_CHARS: usize = 64;

    /// At most [`Self::MAX_CHARS`] characters, no white space at either end, no NUL.
    pub fn rule() -> &'static TextRule {
        &RULE
    }

    /// Checks a display name; an empty one is allowed here (the caller decides what it means).
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        RULE.check_field("display_name", "organization_display_name", raw)?;
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
    fn sixty_four_characters_is_the_limit() {
        assert!(DisplayName::parse(&"a".repeat(64)).is_ok());
        assert!(DisplayName::parse(&"é".repeat(64)).is_ok());
        let err = DisplayName::parse(&"a".repeat(65));
        assert!(matches!(err, Err(FieldError { field: "display_name", tag: "organization_display_name", .. })));
    }

    #[test]
    fn nul_is_refused() {
        assert!(DisplayName::parse("Acme\0Corp").is_err());
    }
}
