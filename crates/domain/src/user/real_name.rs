use crate::validation::{FieldError, trimmed_text_rule};

/// A user's full name (optional): at most 128 bytes, no white space at either end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserRealName(String);

impl UserRealName {
    /// Checks a full name; an empty one is allowed.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        trimmed_text_rule(raw, 128).map_err(|reason| FieldError::new("name", "user_real_name", raw, reason))?;
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
    }
}
