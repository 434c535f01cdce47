use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::provisioner_keys;

#[derive(Queryable, Selectable)]
#[diesel(table_name = provisioner_keys)]
pub(crate) struct KeyRow {
    pub(crate) id: String,
    pub(crate) organization_id: String,
    pub(crate) name: String,
    pub(crate) hashed_secret: Vec<u8>,
    pub(crate) created_at: NaiveDateTime,
}
