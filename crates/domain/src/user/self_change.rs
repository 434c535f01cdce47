use uuid::Uuid;

use super::User;

/// Changes an account may not make to itself, so that nobody locks themselves out or
/// strands an organization by accident: another account has to make them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SelfChange {
    /// Changing one's own site roles.
    #[error("You cannot change your own roles.")]
    SiteRoles,
    /// Suspending oneself.
    #[error("You cannot suspend yourself.")]
    Suspend,
    /// Changing one's own roles in an organization.
    #[error("You cannot change your own organization roles.")]
    OrganizationRoles,
    /// Leaving an organization by removing oneself.
    #[error("cannot remove self from an organization")]
    LeaveOrganization,
    /// Deleting oneself.
    #[error("You cannot delete yourself!")]
    Delete,
}

impl SelfChange {
    /// Refuses the change when `actor` would make it to itself.
    pub fn check(self, actor: Uuid, target: Uuid) -> Result<(), Self> {
        if actor == target { Err(self) } else { Ok(()) }
    }

    /// The response detail Coder gives with the refusal, if any.
    pub fn detail(self) -> Option<&'static str> {
        match self {
            Self::OrganizationRoles => Some("Another user with the appropriate permissions must change your roles."),
            _ => None,
        }
    }
}

/// Owners are not suspended while they are owners: the role must go first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("You cannot suspend a user with the \"owner\" role. You must remove the role first.")]
pub struct OwnerNotSuspendable;

/// Refuses to suspend an owner.
pub fn check_suspendable(target: &User) -> Result<(), OwnerNotSuspendable> {
    if target.is_owner() { Err(OwnerNotSuspendable) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_to_oneself_is_refused_and_to_others_allowed() {
        let me = Uuid::from_u128(1);
        assert_eq!(SelfChange::SiteRoles.check(me, me), Err(SelfChange::SiteRoles));
        assert_eq!(SelfChange::SiteRoles.check(me, Uuid::from_u128(2)), Ok(()));
        assert_eq!(SelfChange::Suspend.to_string(), "You cannot suspend yourself.");
    }
}
