use crate::validation::{FieldError, TRIMMED_TEXT, TextRule};

/// A user's full name (optional): at most 128 characters, no white space at either end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserRealName(String);

static RULE: TextRule = TextRule { min_chars: 0, max_chars: Some(128), pattern: Some(&TRIMMED_TEXT), excluded: None };

impl UserRealName {
    /// At most 128 characters, no white space at either end, no NUL.
    pub fn rule() -> &'static TextRule {
        &RULE
    }

    /// Checks a full name; an empty one is allowed.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        RULE.check_field("name", "user_real_name", raw)?;
        Ok(Self(raw.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_name_may_be_empty_but_not_padded() {
        assert!(UserRealName::parse("").is_ok());
        assert!(UserRealName::parse("Ada Lovelace").is_ok());
        assert!(UserRealName::parse("Ada ").is_err());
        assert!(UserRealName::parse("Ada\0").is_err());
        assert!(UserRealName::parse(&"é".repeat(128)).is_ok());
    }
}
