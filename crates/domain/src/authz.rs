//! Who may do what. Each decision is one function of the subject and the target; the API
//! applies them through one mechanism, so "not found rather than forbidden" exists once.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::membership::{OrgRole, SiteRole};

/// The outcome of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The subject may do it.
    Allow,
    /// The subject may not even know the target exists: answer as if it did not.
    NotFound,
    /// The subject may see the target but not do this to it.
    Forbidden,
}

/// An authenticated user as authorization sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The user's id.
    pub user_id: Uuid,
    site_roles: Vec<SiteRole>,
    /// Live organizations the user belongs to, with its explicit roles there.
    memberships: BTreeMap<Uuid, Vec<OrgRole>>,
}

/// How much of an organization's job list a subject may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobScope {
    /// Every job of the organization.
    All,
    /// Only the jobs the user holding this id created.
    InitiatedBy(Uuid),
}

/// Everything a caller can ask to do. Targets carry just what a decision needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create an organization.
    CreateOrganization,
    /// Read an organization.
    ReadOrganization {
        /// The organization it happens in.
        organization: Uuid,
    },
    /// Change an organization's name, display name, description or icon.
    UpdateOrganization {
        /// The organization it happens in.
        organization: Uuid,
    },
    /// Delete an organization.
    DeleteOrganization {
        /// The organization it happens in.
        organization: Uuid,
    },
    /// List an organization's members.
    ReadMembers {
        /// The organization it happens in.
        organization: Uuid,
    },
    /// Add or remove members, or change their roles.
    ManageMembers {
        /// The organization it happens in.
        organization: Uuid,
    },
    /// Create, list or delete provisioner keys.
    ManageProvisionerKeys {
        /// The organization it happens in.
        organization: Uuid,
    },
    /// List an organization's daemons.
    ReadProvisionerDaemons {
        /// The organization it happens in.
        organization: Uuid,
    },
    /// Create a provisioner job.
    CreateJob {
        /// The organization it happens in.
        organization: Uuid,
    },
    /// Read a job and its logs.
    ReadJob {
        /// The organization it happens in.
        organization: Uuid,
        /// The user who created the job.
        initiator: Uuid,
    },
    /// Cancel a job.
    CancelJob {
        /// The organization it happens in.
        organization: Uuid,
        /// The user who created the job.
        initiator: Uuid,
    },
    /// List every user of the site.
    ListUsers,
    /// Create a user.
    CreateUser,
    /// Read a user.
    ReadUser {
        /// The user it is done to.
        user: Uuid,
    },
    /// Create, list or delete a user's API tokens.
    ManageUserTokens {
        /// The user it is done to.
        user: Uuid,
    },
    /// Give or take a user's site roles.
    AssignSiteRoles {
        /// The user it is done to.
        user: Uuid,
    },
    /// Suspend or reactivate a user.
    ChangeUserStatus {
        /// The user it is done to.
        user: Uuid,
    },
    /// Delete a user.
    DeleteUser {
        /// The user it is done to.
        user: Uuid,
    },
}

/// The level of access a subject has to one organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum OrgAccess {
    None,
    Member,
    Admin,
}

impl Subject {
    /// A user with its site roles and its roles in each organization it belongs to.
    pub fn new(
        user_id: Uuid,
        site_roles: Vec<SiteRole>,
        memberships: impl IntoIterator<Item = (Uuid, Vec<OrgRole>)>,
    ) -> Self {
        Self { user_id, site_roles, memberships: memberships.into_iter().collect() }
    }

    /// Whether the user is an owner of the whole site.
    pub fn is_owner(&self) -> bool {
        self.site_roles.contains(&SiteRole::Owner)
    }

    /// Owners act as admins of every organization.
    fn access(&self, organization: Uuid) -> OrgAccess {
        if self.is_owner() {
            return OrgAccess::Admin;
        }
        match self.memberships.get(&organization) {
            Some(roles) if roles.contains(&OrgRole::OrganizationAdmin) => OrgAccess::Admin,
            Some(_) => OrgAccess::Member,
            None => OrgAccess::None,
        }
    }

    /// The organizations a subject may read, or `None` for all of them.
    pub fn readable_organizations(&self) -> Option<Vec<Uuid>> {
        (!self.is_owner()).then(|| self.memberships.keys().copied().collect())
    }

    /// Which of `organization`'s jobs the user may list: all for its admins and owners, else its own.
    pub fn job_scope(&self, organization: Uuid) -> JobScope {
        match self.access(organization) {
            OrgAccess::Admin => JobScope::All,
            _ => JobScope::InitiatedBy(self.user_id),
        }
    }
}

/// The one entry point: what a subject may do.
pub fn decide(subject: &Subject, action: Action) -> Decision {
    match action {
        Action::CreateOrganization | Action::ListUsers | Action::CreateUser => site_owner_only(subject),
        Action::ReadOrganization { organization }
        | Action::ReadMembers { organization }
        | Action::ReadProvisionerDaemons { organization }
        | Action::CreateJob { organization } => organization_member(subject, organization),
        Action::UpdateOrganization { organization }
        | Action::DeleteOrganization { organization }
        | Action::ManageMembers { organization }
        | Action::ManageProvisionerKeys { organization } => organization_admin(subject, organization),
        Action::ReadJob { organization, initiator } | Action::CancelJob { organization, initiator } => {
            job_of_initiator_or_admin(subject, organization, initiator)
        }
        Action::ReadUser { user } | Action::ManageUserTokens { user } => self_or_owner(subject, user),
        Action::AssignSiteRoles { user } | Action::ChangeUserStatus { user } | Action::DeleteUser { user } => {
            site_owner_on_user(subject, user)
        }
    }
}

/// Site-wide administration: owners only; others know the route exists, so 403.
fn site_owner_only(subject: &Subject) -> Decision {
    if subject.is_owner() { Decision::Allow } else { Decision::Forbidden }
}

/// Reading inside an organization: any member.
fn organization_member(subject: &Subject, organization: Uuid) -> Decision {
    match subject.access(organization) {
        OrgAccess::None => Decision::NotFound,
        OrgAccess::Member | OrgAccess::Admin => Decision::Allow,
    }
}

/// Changing an organization or what it holds: its admins and owners; members may see it, so 403.
fn organization_admin(subject: &Subject, organization: Uuid) -> Decision {
    match subject.access(organization) {
        OrgAccess::None => Decision::NotFound,
        OrgAccess::Member => Decision::Forbidden,
        OrgAccess::Admin => Decision::Allow,
    }
}

/// A job: admins and owners see all of an organization's jobs; a member sees only its own.
fn job_of_initiator_or_admin(subject: &Subject, organization: Uuid, initiator: Uuid) -> Decision {
    match subject.access(organization) {
        OrgAccess::Admin => Decision::Allow,
        OrgAccess::Member if initiator == subject.user_id => Decision::Allow,
        OrgAccess::Member | OrgAccess::None => Decision::NotFound,
    }
}

/// A user's own account: the user itself and owners; to others it does not exist.
fn self_or_owner(subject: &Subject, user: Uuid) -> Decision {
    if subject.is_owner() || subject.user_id == user { Decision::Allow } else { Decision::NotFound }
}

/// Site roles and status: owners only. Others may see themselves (403) but nobody else (404).
/// That an owner may not change itself is a rule of its own (`user::SelfChange`).
fn site_owner_on_user(subject: &Subject, user: Uuid) -> Decision {
    match (subject.is_owner(), subject.user_id == user) {
        (true, _) => Decision::Allow,
        (false, true) => Decision::Forbidden,
        (false, false) => Decision::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: Uuid = Uuid::from_u128(100);
    const OTHER_ORG: Uuid = Uuid::from_u128(200);

    fn owner() -> Subject {
        Subject::new(Uuid::from_u128(1), vec![SiteRole::Owner], [])
    }
    fn admin() -> Subject {
        Subject::new(Uuid::from_u128(2), vec![], [(ORG, vec![OrgRole::OrganizationAdmin])])
    }
    fn member() -> Subject {
        Subject::new(Uuid::from_u128(3), vec![], [(ORG, vec![])])
    }
    fn outsider() -> Subject {
        Subject::new(Uuid::from_u128(4), vec![], [(OTHER_ORG, vec![])])
    }

    /// (action, owner, admin, member, outsider)
    fn table() -> Vec<(Action, [Decision; 4])> {
        use Decision::{Allow as A, Forbidden as F, NotFound as N};
        let member_id = member().user_id;
        let someone = Uuid::from_u128(9);
        vec![
            (Action::CreateOrganization, [A, F, F, F]),
            (Action::ReadOrganization { organization: ORG }, [A, A, A, N]),
            (Action::UpdateOrganization { organization: ORG }, [A, A, F, N]),
            (Action::DeleteOrganization { organization: ORG }, [A, A, F, N]),
            (Action::ReadMembers { organization: ORG }, [A, A, A, N]),
            (Action::ManageMembers { organization: ORG }, [A, A, F, N]),
            (Action::ManageProvisionerKeys { organization: ORG }, [A, A, F, N]),
            (Action::ReadProvisionerDaemons { organization: ORG }, [A, A, A, N]),
            (Action::CreateJob { organization: ORG }, [A, A, A, N]),
            (Action::ReadJob { organization: ORG, initiator: member_id }, [A, A, A, N]),
            (Action::ReadJob { organization: ORG, initiator: someone }, [A, A, N, N]),
            (Action::CancelJob { organization: ORG, initiator: someone }, [A, A, N, N]),
            (Action::ListUsers, [A, F, F, F]),
            (Action::CreateUser, [A, F, F, F]),
            (Action::ReadUser { user: member_id }, [A, N, A, N]),
            (Action::ManageUserTokens { user: member_id }, [A, N, A, N]),
            (Action::AssignSiteRoles { user: member_id }, [A, N, F, N]),
        ]
    }

    #[test]
    fn every_action_is_decided_as_the_contract_says() {
        let subjects = [owner(), admin(), member(), outsider()];
        for (action, expected) in table() {
            let actual: Vec<Decision> = subjects.iter().map(|s| decide(s, action)).collect();
            assert_eq!(actual, expected, "{action:?}");
        }
    }

    #[test]
    fn a_member_may_see_but_not_change_its_own_site_roles() {
        let me = member();
        assert_eq!(decide(&me, Action::AssignSiteRoles { user: me.user_id }), Decision::Forbidden);
        assert_eq!(decide(&me, Action::ChangeUserStatus { user: me.user_id }), Decision::Forbidden);
    }

    #[test]
    fn owners_read_every_organization_and_others_only_their_own() {
        assert_eq!(owner().readable_organizations(), None);
        assert_eq!(member().readable_organizations(), Some(vec![ORG]));
    }

    #[test]
    fn members_see_only_the_jobs_they_started() {
        assert_eq!(admin().job_scope(ORG), JobScope::All);
        assert_eq!(owner().job_scope(OTHER_ORG), JobScope::All);
        assert_eq!(member().job_scope(ORG), JobScope::InitiatedBy(member().user_id));
    }
}
