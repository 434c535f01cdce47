use crate::validation::{EMAIL, FieldError, TextRule};

/// An e-mail address of the form `local@domain` (at most 254 characters): enough to tell a
/// typo from an address without pretending to know what a mail server accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

static RULE: TextRule = TextRule { min_chars: 1, max_chars: Some(254), pattern: Some(&EMAIL), excluded: None };

impl Email {
    /// `local@domain`, at most 254 characters.
    pub fn rule() -> &'static TextRule {
        &RULE
    }

    /// Checks an address: present, at most 254 bytes, `local@domain` without white space.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        RULE.check_field("email", "email", raw)?;
        Ok(Self(raw.to_owned()))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_addresses_are_valid() {
        for ok in ["a@b", "alice@example.com", "first.last+tag@sub.example.org"] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn malformed_addresses_are_invalid() {
        for bad in ["", "alice", "@example.com", "alice@", "a@b@c", "al ice@example.com", "a@example..com", "a\0@b"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(Email::parse(""), Err(FieldError { tag: "required", .. })));
        assert!(Email::parse(&format!("{}@b", "a".repeat(253))).is_err());
    }
}
