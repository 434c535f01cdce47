use uuid::Uuid;

use super::name::RESERVED_NAME;

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
    /// Every string names something; whether it exists is the store's question.
    pub fn parse(raw: &str) -> Self {
        match Uuid::try_parse(raw) {
            Ok(id) if id.is_nil() => Self::Default,
            Ok(id) => Self::Id(id),
            Err(_) if raw.eq_ignore_ascii_case(RESERVED_NAME) => Self::Default,
            Err(_) => Self::Name(raw.to_ascii_lowercase()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_the_nil_uuid_name_the_default_organization() {
        assert_eq!(OrganizationRef::parse("default"), OrganizationRef::Default);
        assert_eq!(OrganizationRef::parse("Default"), OrganizationRef::Default);
        assert_eq!(OrganizationRef::parse("00000000-0000-0000-0000-000000000000"), OrganizationRef::Default);
    }

    #[test]
    fn a_uuid_is_an_id_and_anything_else_a_name() {
        let id = Uuid::from_u128(7);
        assert_eq!(OrganizationRef::parse(&id.to_string()), OrganizationRef::Id(id));
        assert_eq!(OrganizationRef::parse("Acme"), OrganizationRef::Name("acme".into()));
    }
}
