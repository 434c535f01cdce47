use chrono::NaiveDateTime;
use diesel::prelude::*;
use domain::provisioner::ProvisionerType;

use crate::convert::split_list;
use crate::schema::provisioner_daemons;

#[derive(Queryable, Selectable)]
#[diesel(table_name = provisioner_daemons)]
pub(crate) struct DaemonRow {
    pub(crate) id: String,
    pub(crate) organization_id: String,
    pub(crate) key_id: String,
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) api_version: String,
    pub(crate) provisioners: String,
    pub(crate) tag_set_id: String,
    pub(crate) created_at: NaiveDateTime,
    pub(crate) last_seen_at: NaiveDateTime,
}

pub(crate) fn provisioners_of(stored: &str) -> Vec<ProvisionerType> {
    split_list(stored).map(|name| ProvisionerType::from_stored(name.to_owned())).collect()
}
