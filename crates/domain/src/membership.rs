//! Roles: what a user is on the whole site, and in each organization it belongs to.

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A role given explicitly on the whole site. Every user is implicitly a `member`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SiteRole {
    /// Administers the whole site and every organization.
    Owner,
}

/// A role given explicitly inside one organization. Every member is implicitly an
/// `organization-member`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrgRole {
    /// Administers one organization: its settings, members, keys and jobs.
    OrganizationAdmin,
}

/// A role name that is not one this service knows or may assign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role {0:?} does not exist")]
pub struct UnknownRole(pub String);

impl SiteRole {
    /// The implicit role every user has; accepted in a role list and ignored.
    pub const IMPLICIT: &'static str = "member";
    /// Every explicit site role.
    pub const ALL: [Self; 1] = [Self::Owner];

    /// The role's name on the wire (`owner`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Owner => "owner",
        }
    }

    /// The role's name for people (`Owner`).
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Owner => "Owner",
        }
    }

    /// Parses a list of role names into the explicit roles it holds, sorted and deduplicated.
    pub fn parse_list<S: AsRef<str>>(names: &[S]) -> Result<Vec<Self>, UnknownRole> {
        parse_role_list(names, Self::IMPLICIT, |name| Self::ALL.into_iter().find(|role| role.name() == name))
    }

    /// Every name a site role list may hold: the implicit role and each explicit one.
    pub fn names() -> impl Iterator<Item = &'static str> {
        std::iter::once(Self::IMPLICIT).chain(Self::ALL.into_iter().map(Self::name))
    }
}

impl OrgRole {
    /// The implicit role every member has; accepted in a role list and ignored.
    pub const IMPLICIT: &'static str = "organization-member";
    /// Every explicit organization role.
    pub const ALL: [Self; 1] = [Self::OrganizationAdmin];

    /// The role's name on the wire (`organization-admin`).
    pub fn name(self) -> &'static str {
        match self {
            Self::OrganizationAdmin => "organization-admin",
        }
    }

    /// The role's name for people (`Organization Admin`).
    pub fn display_name(self) -> &'static str {
        match self {
            Self::OrganizationAdmin => "Organization Admin",
        }
    }

    /// Parses a list of role names into the explicit roles it holds, sorted and deduplicated.
    pub fn parse_list<S: AsRef<str>>(names: &[S]) -> Result<Vec<Self>, UnknownRole> {
        parse_role_list(names, Self::IMPLICIT, |name| Self::ALL.into_iter().find(|role| role.name() == name))
    }

    /// Every name an organization role list may hold: the implicit role and each explicit one.
    pub fn names() -> impl Iterator<Item = &'static str> {
        std::iter::once(Self::IMPLICIT).chain(Self::ALL.into_iter().map(Self::name))
    }
}

fn parse_role_list<S: AsRef<str>, R: Ord>(
    names: &[S],
    implicit: &str,
    known: impl Fn(&str) -> Option<R>,
) -> Result<Vec<R>, UnknownRole> {
    let mut roles = Vec::new();
    for name in names.iter().map(AsRef::as_ref).filter(|name| *name != implicit) {
        roles.push(known(name).ok_or_else(|| UnknownRole(name.to_owned()))?);
    }
    roles.sort();
    roles.dedup();
    Ok(roles)
}

impl fmt::Display for SiteRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for OrgRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A user's membership of an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The organization.
    pub organization_id: Uuid,
    /// The member.
    pub user_id: Uuid,
    /// Explicit roles there (every member is implicitly `organization-member`).
    pub roles: Vec<OrgRole>,
    /// When the user joined.
    pub created_at: DateTime<Utc>,
    /// When the roles last changed.
    pub updated_at: DateTime<Utc>,
}

impl Membership {
    /// Whether the member administers the organization.
    pub fn is_admin(&self) -> bool {
        self.roles.contains(&OrgRole::OrganizationAdmin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implicit_roles_are_accepted_and_dropped() {
        assert_eq!(SiteRole::parse_list(&["member", "owner", "owner"]), Ok(vec![SiteRole::Owner]));
        assert_eq!(OrgRole::parse_list(&["organization-member"]), Ok(vec![]));
    }

    #[test]
    fn unknown_roles_are_refused() {
        assert_eq!(OrgRole::parse_list(&["owner"]), Err(UnknownRole("owner".into())));
        assert_eq!(SiteRole::parse_list(&["template-admin"]), Err(UnknownRole("template-admin".into())));
    }

    #[test]
    fn every_listed_name_parses() {
        assert_eq!(SiteRole::names().collect::<Vec<_>>(), ["member", "owner"]);
        assert_eq!(OrgRole::names().collect::<Vec<_>>(), ["organization-member", "organization-admin"]);
        assert!(SiteRole::parse_list(&SiteRole::names().collect::<Vec<_>>()).is_ok());
        assert!(OrgRole::parse_list(&OrgRole::names().collect::<Vec<_>>()).is_ok());
    }
}
