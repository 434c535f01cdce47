use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::tags::Tags;
use crate::validation::{Pattern, RuleBreak, TEXT, TextRule};

/// A provisioner key's name, as Coder accepts it: 1-64 characters, not one of the names of
/// Coder's built-in keys, stored lower-cased (names are unique per organization in any case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionerKeyName(String);

/// Why a key name was refused; the texts are Coder's, each about the `name` field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvisionerKeyNameError {
    /// The name is empty.
    #[error("Name is required")]
    Required,
    /// The name is longer than 64 characters.
    #[error("Name must be at most 64 characters")]
    TooLong,
    /// The name is one of Coder's built-in keys' names, given as written.
    #[error("Name cannot be reserved name '{0}'")]
    Reserved(String),
    /// The name holds NUL, which no store keeps.
    #[error("Name must not contain the NUL character")]
    Nul,
}

/// [`ProvisionerKeyName::RESERVED`], in any case.
static RESERVED_ANY_CASE: Pattern =
    Pattern::new("^(?:[bB][uU][iI][lL][tT]-[iI][nN]|[uU][sS][eE][rR]-[aA][uU][tT][hH]|[pP][sS][kK])$");

static RULE: TextRule =
    TextRule { min_chars: 1, max_chars: Some(64), pattern: Some(&TEXT), excluded: Some(&RESERVED_ANY_CASE) };

impl ProvisionerKeyName {
    /// Names of Coder's built-in keys, refused in any case.
    pub const RESERVED: [&'static str; 3] = ["built-in", "user-auth", "psk"];

    /// 1-64 characters without NUL, not a built-in key's name in any case.
    pub fn rule() -> &'static TextRule {
        &RULE
    }

    /// Checks a key name and lower-cases it.
    pub fn parse(raw: &str) -> Result<Self, ProvisionerKeyNameError> {
        RULE.check(raw).map_err(|broken| match broken {
            RuleBreak::TooShort => ProvisionerKeyNameError::Required,
            RuleBreak::TooLong => ProvisionerKeyNameError::TooLong,
            RuleBreak::Excluded => ProvisionerKeyNameError::Reserved(raw.to_owned()),
            RuleBreak::Pattern => ProvisionerKeyNameError::Nul,
        })?;
        Ok(Self(raw.to_lowercase()))
    }

    /// The name, lower-cased.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A key daemons of one organization sign in with; it gives them their tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionerKey {
    /// Its id.
    pub id: Uuid,
    /// The organization whose daemons sign in with it.
    pub organization_id: Uuid,
    /// Its name, lower-cased, unique in the organization.
    pub name: String,
    /// The tags its daemons carry.
    pub tags: Tags,
    /// SHA-256 of the secret, which is shown once when the key is made.
    pub hashed_secret: Vec<u8>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// A key to store, already checked; its secret is already hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProvisionerKey {
    /// The organization whose daemons sign in with it.
    pub organization_id: Uuid,
    /// Its name.
    pub name: ProvisionerKeyName,
    /// The tags its daemons carry, normalised.
    pub tags: Tags,
    /// SHA-256 of the secret.
    pub hashed_secret: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_are_lower_cased() {
        assert_eq!(ProvisionerKeyName::parse("GPU-Runners").map(|n| n.as_str().to_owned()), Ok("gpu-runners".into()));
    }

    #[test]
    fn empty_long_and_built_in_names_are_refused() {
        assert_eq!(ProvisionerKeyName::parse(""), Err(ProvisionerKeyNameError::Required));
        assert_eq!(ProvisionerKeyName::parse(&"k".repeat(65)), Err(ProvisionerKeyNameError::TooLong));
        assert!(ProvisionerKeyName::parse(&"k".repeat(64)).is_ok());
        let reserved = ProvisionerKeyName::parse("Built-In");
        assert_eq!(reserved, Err(ProvisionerKeyNameError::Reserved("Built-In".into())));
        assert_eq!(ProvisionerKeyNameError::Reserved("psk".into()).to_string(), "Name cannot be reserved name 'psk'");
        assert_eq!(ProvisionerKeyName::parse("a\0b"), Err(ProvisionerKeyNameError::Nul));
    }

    #[test]
    fn every_reserved_name_is_refused_in_any_case() {
        for name in ProvisionerKeyName::RESERVED {
            for raw in [name.to_owned(), name.to_uppercase()] {
                assert_eq!(ProvisionerKeyName::parse(&raw), Err(ProvisionerKeyNameError::Reserved(raw.clone())));
            }
        }
        assert!(ProvisionerKeyName::parse("psk2").is_ok());
    }
}
