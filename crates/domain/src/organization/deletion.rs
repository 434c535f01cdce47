use std::fmt;

use super::Organization;

/// What still belongs to an organization and must go before it can be deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeletionBlockers {
    /// Members other than the one deleting.
    pub other_members: u64,
    /// Provisioner keys, whose daemons would be left serving nothing.
    pub provisioner_keys: u64,
    /// Jobs pending, running or canceling.
    pub active_jobs: u64,
}

/// Why an organization cannot be deleted; the texts are Coder's messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeletionRefusal {
    /// It is the default organization.
    #[error("Default organization cannot be deleted.")]
    DefaultOrganization,
    /// Something still belongs to it: what, and how many.
    #[error("Error deleting organization.")]
    StillInUse(DeletionBlockers),
}

/// The default organization is never deleted; another one only once nothing depends on it.
pub fn check_deletable(organization: &Organization, blockers: &DeletionBlockers) -> Result<(), DeletionRefusal> {
    if organization.is_default {
        return Err(DeletionRefusal::DefaultOrganization);
    }
    if *blockers != DeletionBlockers::default() {
        return Err(DeletionRefusal::StillInUse(*blockers));
    }
    Ok(())
}

impl fmt::Display for DeletionBlockers {
    /// `This organization has 2 members, 1 provisioner key that must be deleted first.`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counted = [
            (self.other_members, "member"),
            (self.provisioner_keys, "provisioner key"),
            (self.active_jobs, "active job"),
        ];
        let parts: Vec<String> = counted
            .iter()
            .filter(|(count, _)| *count > 0)
            .map(|(count, noun)| format!("{count} {noun}{}", if *count == 1 { "" } else { "s" }))
            .collect();
        write!(f, "This organization has {} that must be deleted first.", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use uuid::Uuid;

    use super::*;

    fn organization(is_default: bool) -> Organization {
        Organization {
            id: Uuid::nil(),
            name: "acme".into(),
            display_name: "acme".into(),
            description: String::new(),
            icon: String::new(),
            is_default,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    #[test]
    fn the_default_organization_is_never_deletable() {
        let refusal = check_deletable(&organization(true), &DeletionBlockers::default());
        assert_eq!(refusal, Err(DeletionRefusal::DefaultOrganization));
    }

    #[test]
    fn an_organization_with_nothing_left_is_deletable() {
        assert_eq!(check_deletable(&organization(false), &DeletionBlockers::default()), Ok(()));
    }

    #[test]
    fn what_blocks_deletion_is_listed_with_plurals() {
        let blockers = DeletionBlockers { other_members: 2, provisioner_keys: 1, active_jobs: 3 };
        assert_eq!(check_deletable(&organization(false), &blockers), Err(DeletionRefusal::StillInUse(blockers)));
        assert_eq!(
            blockers.to_string(),
            "This organization has 2 members, 1 provisioner key, 3 active jobs that must be deleted first."
        );
        let one_job = DeletionBlockers { active_jobs: 1, ..Default::default() };
        assert_eq!(one_job.to_string(), "This organization has 1 active job that must be deleted first.");
    }
}
