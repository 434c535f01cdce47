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
use crate::closed_set::closed_set;
use crate::membership::{OrgRole, SiteRole};

closed_set! {
    /// Whether a user may use the site.
    pub enum UserStatus {
        /// In use.
        Active => "active",
        /// Unused for a while; signing in makes it active again.
        Dormant => "dormant",
        /// Locked out until an owner reactivates it.
        Suspended => "suspended",
    }
}

impl UserStatus {
    /// Only suspended users are refused; a dormant user becomes active again by signing in.
    pub fn may_sign_in(self) -> bool {
        self != Self::Suspended
    }
}

/// A user as stored, with its roles in the live organizations it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Its id.
    pub id: Uuid,
    /// Its e-mail address, unique in any case.
    pub email: String,
    /// Its username, unique in any case.
    pub username: String,
    /// Its full name; may be empty.
    pub name: String,
    /// Whether it may sign in.
    pub status: UserStatus,
    /// Explicit site roles (every user is implicitly `member`).
    pub site_roles: Vec<SiteRole>,
    /// Sorted by organization id.
    pub memberships: Vec<(Uuid, Vec<OrgRole>)>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it last used the API.
    pub last_seen_at: DateTime<Utc>,
}

impl User {
    /// Whether the user is an owner of the whole site.
    pub fn is_owner(&self) -> bool {
        self.site_roles.contains(&SiteRole::Owner)
    }

    /// The organizations it belongs to, by id.
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
    /// Its e-mail address.
    pub email: Email,
    /// Its username.
    pub username: Username,
    /// Its full name.
    pub name: UserRealName,
    /// The password's hash (the caller hashes; the domain never sees a hasher).
    pub hashed_password: String,
    /// Explicit site roles.
    pub site_roles: Vec<SiteRole>,
    /// Organizations it joins; the default organization when empty.
    pub organization_ids: Vec<Uuid>,
}
