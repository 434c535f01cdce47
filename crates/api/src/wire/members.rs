use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::users::SlimRole;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::OrganizationMember)]
pub struct OrganizationMember {
    pub user_id: Uuid,
    pub organization_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub roles: Vec<SlimRole>,
}

impl From<&domain::membership::Membership> for OrganizationMember {
    fn from(membership: &domain::membership::Membership) -> Self {
        Self {
            user_id: membership.user_id,
            organization_id: membership.organization_id,
            created_at: membership.created_at,
            updated_at: membership.updated_at,
            roles: membership
                .roles
                .iter()
                .map(|role| SlimRole::in_organization(*role, membership.organization_id))
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = codersdk::OrganizationMemberWithUserData)]
pub struct OrganizationMemberWithUserData {
    pub username: String,
    pub name: String,
    pub avatar_url: String,
    pub email: String,
    pub global_roles: Vec<SlimRole>,
    #[serde(flatten)]
    pub member: OrganizationMember,
}

impl From<domain::repo::Member> for OrganizationMemberWithUserData {
    fn from(member: domain::repo::Member) -> Self {
        Self {
            member: OrganizationMember::from(&member.membership),
            global_roles: member.user.site_roles.iter().copied().map(SlimRole::from).collect(),
            username: member.user.username,
            name: member.user.name,
            avatar_url: String::new(),
            email: member.user.email,
        }
    }
}
