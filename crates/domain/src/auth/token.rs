//! What a request for a token may ask: its scopes, and its name (made up when none is given).

use super::api_key::TokenName;
use crate::validation::FieldError;

/// The names of the one scope this server grants, everything the user may do: Coder's
/// deprecated `all` and its current `coder:all`.
pub const FULL_ACCESS_SCOPES: [&str; 2] = ["all", "coder:all"];

/// The scope every key reports.
pub const FULL_SCOPE: &str = FULL_ACCESS_SCOPES[0];

/// A scope this server does not grant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid or unsupported API key scope: {0:?}")]
pub struct UnsupportedScope(pub String);

/// Scopes narrower than everything are refused rather than ignored: a client asking for a
/// restricted token must not silently get an unrestricted one. An empty name asks for nothing.
pub fn check_scopes<'a>(asked: impl IntoIterator<Item = &'a str>) -> Result<(), UnsupportedScope> {
    match asked.into_iter().find(|scope| !scope.is_empty() && !FULL_ACCESS_SCOPES.contains(scope)) {
        Some(scope) => Err(UnsupportedScope(scope.to_owned())),
        None => Ok(()),
    }
}

impl TokenName {
    /// The name asked for, or, when it is empty, `token-` and a lower-cased random suffix.
    pub fn requested(raw: &str, random_suffix: impl FnOnce() -> String) -> Result<Self, FieldError> {
        if raw.is_empty() {
            return Self::parse(&format!("token-{}", random_suffix().to_lowercase()));
        }
        Self::parse(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_access_is_granted_under_either_name_and_empty_asks_nothing() {
        assert_eq!(check_scopes(["all", "coder:all", ""]), Ok(()));
        assert_eq!(check_scopes([]), Ok(()));
    }

    #[test]
    fn a_narrower_scope_is_refused_by_name() {
        let refused = check_scopes(["all", "workspace:read"]);
        assert_eq!(refused, Err(UnsupportedScope("workspace:read".into())));
        assert_eq!(
            refused.map_err(|e| e.to_string()),
            Err("invalid or unsupported API key scope: \"workspace:read\"".to_owned())
        );
    }

    #[test]
    fn a_token_without_a_name_gets_a_generated_one() {
        let named = TokenName::requested("ci", || unreachable!("a given name needs no suffix"));
        assert_eq!(named.map(|n| n.as_str().to_owned()), Ok("ci".to_owned()));
        let generated = TokenName::requested("", || "AbC12345".to_owned());
        assert_eq!(generated.map(|n| n.as_str().to_owned()), Ok("token-abc12345".to_owned()));
    }

    #[test]
    fn a_given_name_still_follows_the_rule() {
        assert!(TokenName::requested(" padded", String::new).is_err());
        assert!(TokenName::requested(&"n".repeat(65), String::new).is_err());
    }
}
