use uuid::Uuid;

use crate::validation::{FieldError, NAME, NAME_MAX_CHARS, Pattern, TextRule};

/// A username: Coder's name rule, and not `me`, which paths use for "the caller".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

/// The route keywords of Coder's name rule, and [`UserRef::ME`] in any case.
static EXCLUDED: Pattern = Pattern::new("^(?:new|create|[mM][eE])$");

static RULE: TextRule =
    TextRule { min_chars: 1, max_chars: Some(NAME_MAX_CHARS), pattern: Some(&NAME), excluded: Some(&EXCLUDED) };

impl Username {
    /// Coder's name rule (as organization names), and not `me`, `new` or `create`.
    pub fn rule() -> &'static TextRule {
        &RULE
    }

    /// Checks a username: present, Coder's name rule, and not `me`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        RULE.check_field("username", "username", raw)?;
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

    /// What a path segment names, or `None` when no user could be called that (a string
    /// breaking the username rule): the caller answers as for an unknown user without asking
    /// the store.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw == Self::ME {
            return Some(Self::Me);
        }
        match Uuid::try_parse(raw) {
            Ok(id) => Some(Self::Id(id)),
            Err(_) => RULE.check(raw).is_ok().then(|| Self::Username(raw.to_ascii_lowercase())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_name_rule_and_may_not_be_me() {
        assert!(Username::parse("alice-1").is_ok());
        for bad in ["me", "ME", "new", "al ice", "a\0"] {
            assert!(matches!(Username::parse(bad), Err(FieldError { tag: "username", .. })), "{bad:?}");
        }
        assert!(matches!(Username::parse(""), Err(FieldError { tag: "required", .. })));
    }

    #[test]
    fn a_user_path_is_me_an_id_or_a_username() {
        assert_eq!(UserRef::parse("me"), Some(UserRef::Me));
        assert_eq!(UserRef::parse(&Uuid::from_u128(1).to_string()), Some(UserRef::Id(Uuid::from_u128(1))));
        assert_eq!(UserRef::parse("Alice"), Some(UserRef::Username("alice".into())));
    }

    #[test]
    fn a_segment_no_user_could_be_called_names_nobody() {
        for raw in ["a\0b", "\0", "al ice", "Me"] {
            assert_eq!(UserRef::parse(raw), None, "{raw:?}");
        }
    }
}
