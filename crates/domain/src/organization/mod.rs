//! Organizations: the tenants everything else belongs to.

mod deletion;
mod display_name;
mod members;
mod name;
mod reference;

pub use deletion::{DeletionBlockers, DeletionRefusal, check_deletable};
pub use display_name::DisplayName;
pub use members::member_may_leave;
pub use name::{OrganizationName, OrganizationNameError};
pub use reference::OrganizationRef;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The organization that exists from the first start and can never be deleted.
pub mod default_organization {
    /// Its name.
    pub const NAME: &str = "coder";
    /// Its display name.
    pub const DISPLAY_NAME: &str = "Coder";
    /// Its description.
    pub const DESCRIPTION: &str = "Builtin default organization.";
}

/// A live (not deleted) organization as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// Its id.
    pub id: Uuid,
    /// Its name, as written when created or last renamed.
    pub name: String,
    /// Its name for people.
    pub display_name: String,
    /// Free text; may be empty.
    pub description: String,
    /// An icon URL or path; may be empty.
    pub icon: String,
    /// Whether it is the default organization, which can never be deleted.
    pub is_default: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A request to create an organization, already checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrganization {
    /// Its name.
    pub name: OrganizationName,
    /// Its name for people.
    pub display_name: DisplayName,
    /// Free text; may be empty.
    pub description: String,
    /// An icon URL or path; may be empty.
    pub icon: String,
}

impl NewOrganization {
    /// The display name defaults to the name when none is given.
    pub fn new(name: OrganizationName, display_name: Option<DisplayName>, description: String, icon: String) -> Self {
        let display_name = display_name.unwrap_or_else(|| DisplayName::from_name(&name));
        Self { name, display_name, description, icon }
    }
}

/// A change to an organization: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrganizationPatch {
    /// A new name.
    pub name: Option<OrganizationName>,
    /// A new display name.
    pub display_name: Option<DisplayName>,
    /// A new description; empty clears it.
    pub description: Option<String>,
    /// A new icon; empty clears it.
    pub icon: Option<String>,
}

impl OrganizationPatch {
    /// The organization as it will be after the change.
    pub fn apply_to(&self, organization: &Organization, now: DateTime<Utc>) -> Organization {
        let mut changed = organization.clone();
        if let Some(name) = &self.name {
            changed.name = name.as_str().to_owned();
        }
        if let Some(display_name) = &self.display_name {
            changed.display_name = display_name.as_str().to_owned();
        }
        if let Some(description) = &self.description {
            changed.description.clone_from(description);
        }
        if let Some(icon) = &self.icon {
            changed.icon.clone_from(icon);
        }
        changed.updated_at = now;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme() -> Organization {
        let t = DateTime::<Utc>::UNIX_EPOCH;
        Organization {
            id: Uuid::nil(),
            name: "acme".into(),
            display_name: "Acme".into(),
            description: "rockets".into(),
            icon: "/emojis/1f680.png".into(),
            is_default: false,
            created_at: t,
            updated_at: t,
        }
    }

    #[test]
    fn a_new_organization_without_display_name_shows_its_name() {
        let name = OrganizationName::parse("acme-corp").ok();
        let new = name.map(|n| NewOrganization::new(n, None, String::new(), String::new()));
        assert_eq!(new.map(|n| n.display_name.as_str().to_owned()), Some("acme-corp".to_owned()));
    }

    #[test]
    fn an_empty_patch_changes_nothing_but_the_update_time() {
        let now = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(5);
        let changed = OrganizationPatch::default().apply_to(&acme(), now);
        assert_eq!(changed, Organization { updated_at: now, ..acme() });
    }

    #[test]
    fn a_patch_can_clear_the_description_and_icon() {
        let patch =
            OrganizationPatch { description: Some(String::new()), icon: Some(String::new()), ..Default::default() };
        let changed = patch.apply_to(&acme(), acme().updated_at);
        assert_eq!((changed.description.as_str(), changed.icon.as_str(), changed.name.as_str()), ("", "", "acme"));
    }
}
