//! What a new user starts with: the site's first user owns it, and everyone belongs to at
//! least one organization from the start.

use uuid::Uuid;

use super::NewUser;
use crate::membership::SiteRole;
use crate::organization::OrganizationRef;

/// The first user of a site becomes its owner and joins the default organization, whatever
/// the request asked for.
pub fn first_user(new: NewUser) -> NewUser {
    NewUser { site_roles: vec![SiteRole::Owner], organization_ids: Vec::new(), ..new }
}

/// The organizations a new user joins, each once: those it names, or the default one when it
/// names none. The nil UUID names the default organization too, as in Coder.
pub fn organizations_to_join(requested: &[Uuid]) -> Vec<OrganizationRef> {
    let mut joins = Vec::new();
    for id in requested {
        let reference = if id.is_nil() { OrganizationRef::Default } else { OrganizationRef::Id(*id) };
        if !joins.contains(&reference) {
            joins.push(reference);
        }
    }
    if joins.is_empty() {
        joins.push(OrganizationRef::Default);
    }
    joins
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::{Email, UserRealName, Username};

    fn new_user(site_roles: Vec<SiteRole>, organization_ids: Vec<Uuid>) -> NewUser {
        NewUser {
            email: Email::parse("first@example.com").unwrap_or_else(|e| panic!("{e}")),
            username: Username::parse("first").unwrap_or_else(|e| panic!("{e}")),
            name: UserRealName::default(),
            hashed_password: "hash".into(),
            site_roles,
            organization_ids,
        }
    }

    #[test]
    fn the_first_user_is_an_owner_of_the_default_organization_only() {
        let first = first_user(new_user(vec![], vec![Uuid::from_u128(7)]));
        assert_eq!(first.site_roles, vec![SiteRole::Owner]);
        assert_eq!(organizations_to_join(&first.organization_ids), vec![OrganizationRef::Default]);
        assert_eq!(first.username.as_str(), "first");
    }

    #[test]
    fn a_user_naming_no_organization_joins_the_default_one() {
        assert_eq!(organizations_to_join(&[]), vec![OrganizationRef::Default]);
    }

    #[test]
    fn the_nil_uuid_names_the_default_organization() {
        assert_eq!(organizations_to_join(&[Uuid::nil()]), vec![OrganizationRef::Default]);
    }

    #[test]
    fn named_organizations_are_joined_once_each_in_order() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert_eq!(
            organizations_to_join(&[b, a, b, Uuid::nil(), Uuid::nil()]),
            vec![OrganizationRef::Id(b), OrganizationRef::Id(a), OrganizationRef::Default]
        );
    }
}
