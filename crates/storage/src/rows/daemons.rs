use diesel::prelude::*;
use domain::provisioner::ProvisionerType;

use crate::schema::provisioner_daemons;
use crate::sql_types::{Id, Instant};

#[derive(Queryable, Selectable)]
#[diesel(table_name = provisioner_daemons)]
pub(crate) struct DaemonRow {
    pub(crate) id: Id,
    pub(crate) organization_id: Id,
    pub(crate) key_id: Id,
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) api_version: String,
    pub(crate) tag_set_id: Id,
    pub(crate) created_at: Instant,
    pub(crate) last_seen_at: Instant,
}

/// A daemon's provisioner rows read back, in name order.
pub(crate) fn provisioners_of(mut names: Vec<String>) -> Vec<ProvisionerType> {
    names.sort();
    names.into_iter().map(ProvisionerType::from_stored).collect()
}
