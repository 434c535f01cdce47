//! Users: who signs in, and what they are on the site.

mod email;
pub mod onboarding;
mod password;
mod real_name;
mod self_change;
mod username;

pub use email::Email;
pub use password::Password;
pub use real_name::UserRealName;
pub use self_change::{OwnerNotSuspendable, SelfChange, check_suspendable};
pub use username::{UserRef, Username};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::authz::Subject;
use crate::membership::{OrgRole, SiteRole};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserStatus {
    Active,
    Dormant,
    Suspended,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Dormant => "dormant",
            Self::Suspended => "suspended",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Active, Self::Dormant, Self::Suspended].into_iter().find(|s| s.as_str() == raw)
    }

    /// Only suspended users are refused; a dormant user becomes active again by signing in.
    pub fn may_sign_in(self) -> bool {
        self != Self::Suspended
    }
}

/// A user as stored, with its roles in the live organizations it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub username: String,
    pub name: String,
    pub status: UserStatus,
    pub site_roles: Vec<SiteRole>,
    /// Sorted by organization id.
    pub memberships: Vec<(Uuid, Vec<OrgRole>)>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

impl User {
    pub fn is_owner(&self) -> bool {
        self.site_roles.contains(&SiteRole::Owner)
    }

    pub fn organization_ids(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.memberships.iter().map(|(organization, _)| *organization)
    }

    /// The user as authorization sees it.
    pub fn subject(&self) -> Subject {
        Subject::new(self.id, self.site_roles.clone(), self.memberships.iter().cloned())
    }
}

/// A user to create, already checked; the password is already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Email,
    pub username: Username,
    pub name: UserRealName,
    pub hashed_password: String,
    pub site_roles: Vec<SiteRole>,
    /// Organizations it joins; the default organization when empty.
    pub organization_ids: Vec<Uuid>,
}
