//! Tag sets are stored once each, keyed by a fingerprint of their canonical form.

use std::collections::{BTreeMap, HashMap};

use diesel::prelude::*;
use domain::provisioner::{TagFilter, Tags};

use crate::conn::{AnyConnection, per_backend};
use crate::rows::tag_sets::{document, fingerprint, from_document};
use crate::schema::provisioner_tag_sets;
use crate::sql_types::{Id, Json};

type Stored = (Id, Json<BTreeMap<String, String>>);

/// The id of this tag set, storing it first if it is new.
pub(crate) fn ensure(conn: &mut AnyConnection, tags: &Tags) -> QueryResult<Id> {
    let id = fingerprint(tags);
    let known = provisioner_tag_sets::table.find(id).select(provisioner_tag_sets::id).first::<Id>(conn).optional()?;
    if known.is_none() {
        let row = (provisioner_tag_sets::id.eq(id), provisioner_tag_sets::tags.eq(document(tags)));
        // Another writer may store the same set at the same moment: both get the same id.
        let insert = diesel::insert_into(provisioner_tag_sets::table).values(row).on_conflict_do_nothing();
        per_backend!(conn, |c| insert.execute(c))?;
    }
    Ok(id)
}

/// The tag sets with these ids.
pub(crate) fn load(conn: &mut AnyConnection, ids: impl IntoIterator<Item = Id>) -> QueryResult<HashMap<Id, Tags>> {
    let mut wanted: Vec<Id> = ids.into_iter().collect();
    wanted.sort();
    wanted.dedup();
    let rows: Vec<Stored> = provisioner_tag_sets::table
        .filter(provisioner_tag_sets::id.eq_any(wanted))
        .select((provisioner_tag_sets::id, provisioner_tag_sets::tags))
        .load(conn)?;
    Ok(rows.into_iter().map(|(id, tags)| (id, from_document(tags))).collect())
}

/// Every stored tag set. There is one row per distinct set, not per job, so this stays small
/// while the job history grows.
pub(crate) fn all(conn: &mut AnyConnection) -> QueryResult<HashMap<Id, Tags>> {
    let rows: Vec<Stored> =
        provisioner_tag_sets::table.select((provisioner_tag_sets::id, provisioner_tag_sets::tags)).load(conn)?;
    Ok(rows.into_iter().map(|(id, tags)| (id, from_document(tags))).collect())
}

/// The ids of every stored tag set that contains the filter.
pub(crate) fn matching(conn: &mut AnyConnection, filter: &TagFilter) -> QueryResult<Vec<Id>> {
    Ok(all(conn)?.into_iter().filter(|(_, tags)| filter.matches(tags)).map(|(id, _)| id).collect())
}
