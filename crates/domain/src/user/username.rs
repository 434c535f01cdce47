use uuid::Uuid;

use crate::validation::{FieldError, name_rule};

/// A username: Coder's name rule, and not `me`, which paths use for "the caller".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Checks a username: present, Coder's name rule, and not `me`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.is_empty() {
            return Err(FieldError::required("username"));
        }
        name_rule(raw).map_err(|reason| FieldError::new("username", "username", raw, reason))?;
        if raw.eq_ignore_ascii_case(UserRef::ME) {
            return Err(FieldError::new("username", "username", raw, "cannot use a route keyword as a name"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The username.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How a path names a user: `me`, a UUID, or a username (case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    /// The caller.
    Me,
    /// The user with this id.
    Id(Uuid),
    /// Lower-cased: usernames are matched regardless of case.
    Username(String),
}

impl UserRef {
    /// The word a path uses for the caller.
    pub const ME: &'static str = "me";

    /// Every string names someone; whether they exist is the store's question.
    pub fn parse(raw: &str) -> Self {
        if raw == Self::ME {
            return Self::Me;
        }
        match Uuid::try_parse(raw) {
            Ok(id) => Self::Id(id),
            Err(_) => Self::Username(raw.to_ascii_lowercase()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_name_rule_and_may_not_be_me() {
        assert!(Username::parse("alice-1").is_ok());
        assert!(Username::parse("me").is_err());
        assert!(Username::parse("al ice").is_err());
        assert!(matches!(Username::parse(""), Err(FieldError { tag: "required", .. })));
    }

    #[test]
    fn a_user_path_is_me_an_id_or_a_username() {
        assert_eq!(UserRef::parse("me"), UserRef::Me);
        assert_eq!(UserRef::parse(&Uuid::from_u128(1).to_string()), UserRef::Id(Uuid::from_u128(1)));
        assert_eq!(UserRef::parse("Alice"), UserRef::Username("alice".into()));
    }
}
