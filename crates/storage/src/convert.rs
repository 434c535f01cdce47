//! Column encodings shared by every table: UUIDs as text, UTC instants as naive timestamps,
//! lists as comma-separated names.

use chrono::{DateTime, NaiveDateTime, Utc};
use uuid::Uuid;

use crate::error::Fail;

pub(crate) fn id<R>(raw: &str) -> Result<Uuid, Fail<R>> {
    Uuid::try_parse(raw).map_err(|_| Fail::corrupt(format_args!("{raw:?} is not a UUID")))
}

pub(crate) fn text(id: Uuid) -> String {
    id.hyphenated().to_string()
}

pub(crate) fn utc(stored: NaiveDateTime) -> DateTime<Utc> {
    stored.and_utc()
}

pub(crate) fn naive(instant: DateTime<Utc>) -> NaiveDateTime {
    domain::time::truncate(instant).naive_utc()
}

pub(crate) fn split_list(stored: &str) -> impl Iterator<Item = &str> {
    stored.split(',').filter(|item| !item.is_empty())
}

pub(crate) fn join_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items.into_iter().collect::<Vec<_>>().join(",")
}
