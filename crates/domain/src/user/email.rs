use crate::validation::FieldError;

/// An e-mail address of the form `local@domain`: enough to tell a typo from an address
/// without pretending to know what a mail server accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    const MAX_BYTES: usize = 254;

    /// Checks an address: present, at most 254 bytes, `local@domain` without white space.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.is_empty() {
            return Err(FieldError::required("email"));
        }
        let invalid = || FieldError::new("email", "email", raw, "must be a valid email address");
        if raw.len() > Self::MAX_BYTES || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = raw.rsplit_once('@').ok_or_else(invalid)?;
        let domain_ok = !domain.is_empty() && !domain.contains('@') && domain.split('.').all(|label| !label.is_empty());
        if local.is_empty() || local.contains('@') || !domain_ok {
            return Err(invalid());
        }
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
        for bad in ["", "alice", "@example.com", "alice@", "a@b@c", "al ice@example.com", "a@example..com"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
