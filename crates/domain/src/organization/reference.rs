use uuid::Uuid;

use super::name::{OrganizationName, RESERVED_NAME};

/// How a path names an organization: by id, by name (case-insensitive), or as the default
/// one (`default`, or the nil UUID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrganizationRef {
    /// The default organization.
    Default,
    /// The organization with this id.
    Id(Uuid),
    /// Lower-cased: names are matched regardless of case.
    Name(String),
}

impl OrganizationRef {
    /// What a path segment names, or `None` when no organization could be called that (a
    /// string breaking the name rule): the caller answers "not found" without asking the store.
    pub fn parse(raw: &str) -> Option<Self> {
        match Uuid::try_parse(raw) {
            Ok(id) if id.is_nil() => Some(Self::Default),
            Ok(id) => Some(Self::Id(id)),
            Err(_) if raw.eq_ignore_ascii_case(RESERVED_NAME) => Some(Self::Default),
            Err(_) => Self::name(raw),
        }
    }

    /// A segment that can only be a name; `None` when no organization could be called that.
    pub fn name(raw: &str) -> Option<Self> {
        OrganizationName::could_name(raw).then(|| Self::Name(raw.to_ascii_lowercase()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_the_nil_uuid_name_the_default_organization() {
        assert_eq!(OrganizationRef::parse("default"), Some(OrganizationRef::Default));
        assert_eq!(OrganizationRef::parse("Default"), Some(OrganizationRef::Default));
        assert_eq!(OrganizationRef::parse("00000000-0000-0000-0000-000000000000"), Some(OrganizationRef::Default));
    }

    #[test]
    fn a_uuid_is_an_id_and_a_valid_name_a_name() {
        let id = Uuid::from_u128(7);
        assert_eq!(OrganizationRef::parse(&id.to_string()), Some(OrganizationRef::Id(id)));
        assert_eq!(OrganizationRef::parse("Acme"), Some(OrganizationRef::Name("acme".into())));
    }

    #[test]
    fn a_segment_no_organization_could_be_called_names_nothing() {
        for raw in ["\0", "a\0b", "acme corp", "new", &"a".repeat(33)] {
            assert_eq!(OrganizationRef::parse(raw), None, "{raw:?}");
        }
        assert_eq!(OrganizationRef::name("default"), None);
    }
}
