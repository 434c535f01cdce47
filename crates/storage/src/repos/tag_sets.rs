//! Tag sets are stored once each, keyed by a fingerprint of their canonical form.

use std::collections::HashMap;

use diesel::prelude::*;
use domain::provisioner::{TagFilter, Tags};

use crate::conn::{AnyConnection, per_backend};
use crate::error::Fail;
use crate::rows::tag_sets::{canonical, fingerprint, parse};
use crate::schema::provisioner_tag_sets;

/// The id of this tag set, storing it first if it is new.
pub(crate) fn ensure(conn: &mut AnyConnection, tags: &Tags) -> QueryResult<String> {
    let id = fingerprint(tags);
    let known =
        provisioner_tag_sets::table.find(&id).select(provisioner_tag_sets::id).first::<String>(conn).optional()?;
    if known.is_none() {
        let row = (provisioner_tag_sets::id.eq(&id), provisioner_tag_sets::tags.eq(canonical(tags)));
        // Another writer may store the same set at the same moment: both get the same id.
        let insert = diesel::insert_into(provisioner_tag_sets::table).values(row).on_conflict_do_nothing();
        per_backend!(conn, |c| insert.execute(c))?;
    }
    Ok(id)
}

/// The tag sets with these ids.
pub(crate) fn load<'a, R>(
    conn: &mut AnyConnection,
    ids: impl IntoIterator<Item = &'a String>,
) -> Result<HashMap<String, Tags>, Fail<R>> {
    let mut wanted: Vec<&String> = ids.into_iter().collect();
    wanted.sort();
    wanted.dedup();
    let rows: Vec<(String, String)> = provisioner_tag_sets::table
        .filter(provisioner_tag_sets::id.eq_any(wanted))
        .select((provisioner_tag_sets::id, provisioner_tag_sets::tags))
        .load(conn)?;
    rows.into_iter().map(|(id, tags)| Ok((id, parse(&tags)?))).collect()
}

/// The ids of every stored tag set whose jobs a daemon with `daemon` tags may run.
pub(crate) fn runnable_by<R>(conn: &mut AnyConnection, daemon: &Tags) -> Result<Vec<String>, Fail<R>> {
    select_where(conn, |tags| daemon.can_run(tags))
}

fn select_where<R>(conn: &mut AnyConnection, keep: impl Fn(&Tags) -> bool) -> Result<Vec<String>, Fail<R>> {
    let rows: Vec<(String, String)> =
        provisioner_tag_sets::table.select((provisioner_tag_sets::id, provisioner_tag_sets::tags)).load(conn)?;
    let mut ids = Vec::new();
    for (id, tags) in rows {
        if keep(&parse(&tags)?) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// The ids of every stored tag set that contains the filter. There is one row per distinct
/// tag set, not per job, so this stays small while the job history grows.
pub(crate) fn matching<R>(conn: &mut AnyConnection, filter: &TagFilter) -> Result<Vec<String>, Fail<R>> {
    let rows: Vec<(String, String)> =
        provisioner_tag_sets::table.select((provisioner_tag_sets::id, provisioner_tag_sets::tags)).load(conn)?;
    let mut ids = Vec::new();
    for (id, tags) in rows {
        if filter.matches(&parse(&tags)?) {
            ids.push(id);
        }
    }
    Ok(ids)
}
