//! The column types that differ between the backends, and the Rust values bound to them.
//!
//! PostgreSQL keeps ids as `uuid`, instants as `timestamptz` and documents as `jsonb`;
//! SQLite, which has none of these, keeps hyphenated UUID text, UTC timestamp text (in
//! diesel's own format, which sorts in time order) and JSON text. `schema.rs` names these
//! types once, and every query is still written once: each value knows how to go to and come
//! from either backend, and the multi-backend connection picks the right one.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::query_builder::QueryId;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{HasSqlType, SqlType};
use diesel::sqlite::{Sqlite, SqliteValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::Write;

use crate::conn::MultiBackend;

/// `uuid` on PostgreSQL; hyphenated lower-case text on SQLite.
#[derive(Debug, Clone, Copy, Default, SqlType, QueryId)]
#[diesel(postgres_type(oid = 2950, array_oid = 2951))]
#[diesel(sqlite_type(name = "Text"))]
pub struct Uuid;

/// A UTC instant: `timestamptz` on PostgreSQL; `YYYY-MM-DD HH:MM:SS[.ffffff]` text on SQLite.
/// (Not named `Timestamptz`: diesel's `table!` gives columns of that name date arithmetic.)
#[derive(Debug, Clone, Copy, Default, SqlType, QueryId)]
#[diesel(postgres_type(oid = 1184, array_oid = 1185))]
#[diesel(sqlite_type(name = "Text"))]
pub struct UtcTimestamp;

/// `jsonb` on PostgreSQL; JSON text on SQLite.
#[derive(Debug, Clone, Copy, Default, SqlType, QueryId)]
#[diesel(postgres_type(oid = 3802, array_oid = 3807))]
#[diesel(sqlite_type(name = "Text"))]
pub struct Jsonb;

macro_rules! known_to_every_backend {
    ($($sql_type:ty),*) => {$(
        impl HasSqlType<$sql_type> for MultiBackend {
            fn metadata(lookup: &mut Self::MetadataLookup) -> Self::TypeMetadata {
                MultiBackend::lookup_sql_type::<$sql_type>(lookup)
            }
        }
    )*};
}
known_to_every_backend!(Uuid, UtcTimestamp, Jsonb);

type Text = diesel::sql_types::Text;

fn sqlite_text(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<String> {
    <String as FromSql<Text, Sqlite>>::from_sql(value)
}

/// An id as a column value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, AsExpression, FromSqlRow)]
#[diesel(sql_type = Uuid)]
pub(crate) struct Id(pub(crate) uuid::Uuid);

impl From<uuid::Uuid> for Id {
    fn from(id: uuid::Uuid) -> Self {
        Self(id)
    }
}

impl ToSql<Uuid, Pg> for Id {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(self.0.as_bytes())?;
        Ok(IsNull::No)
    }
}

impl FromSql<Uuid, Pg> for Id {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        Ok(Self(uuid::Uuid::from_slice(value.as_bytes())?))
    }
}

impl ToSql<Uuid, Sqlite> for Id {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.hyphenated().to_string());
        Ok(IsNull::No)
    }
}

impl FromSql<Uuid, Sqlite> for Id {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        Ok(Self(uuid::Uuid::try_parse(&sqlite_text(value)?)?))
    }
}

/// A UTC instant as a column value, truncated to the microseconds both backends keep, so
/// that what is read back equals what was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, AsExpression, FromSqlRow)]
#[diesel(sql_type = UtcTimestamp)]
pub(crate) struct Instant(pub(crate) DateTime<Utc>);

impl From<DateTime<Utc>> for Instant {
    fn from(instant: DateTime<Utc>) -> Self {
        Self(domain::time::truncate(instant))
    }
}

/// How SQLite keeps an instant: diesel's timestamp text, as every stored row has it.
const SQLITE_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.f";

impl ToSql<UtcTimestamp, Pg> for Instant {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <DateTime<Utc> as ToSql<diesel::sql_types::Timestamptz, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<UtcTimestamp, Pg> for Instant {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        <DateTime<Utc> as FromSql<diesel::sql_types::Timestamptz, Pg>>::from_sql(value).map(Self)
    }
}

impl ToSql<UtcTimestamp, Sqlite> for Instant {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.naive_utc().format(SQLITE_FORMAT).to_string());
        Ok(IsNull::No)
    }
}

impl FromSql<UtcTimestamp, Sqlite> for Instant {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        let text = sqlite_text(value)?;
        let instant = match read_sqlite_instant(&text) {
            Some(instant) => instant,
            None => NaiveDateTime::parse_from_str(&text, SQLITE_FORMAT)?,
        };
        Ok(Self(instant.and_utc()))
    }
}

/// Reads what [`SQLITE_FORMAT`] writes (`2026-11-29 19:37:58.555358`, the fraction optional)
/// by position. A list reads thousands of instants, and chrono's parser interprets the format
/// string again for each: it led the profile of a queue read. `None` for any other shape, which
/// the caller hands to chrono.
fn read_sqlite_instant(text: &str) -> Option<NaiveDateTime> {
    let bytes = text.as_bytes();
    let number = |digits: &[u8]| -> Option<u32> {
        digits.iter().try_fold(0u32, |n, &d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))
    };
    let (Some(date), Some(time), rest) = (bytes.get(..10), bytes.get(11..19), bytes.get(19..)?) else {
        return None;
    };
    if date[4] != b'-' || date[7] != b'-' || bytes[10] != b' ' || time[2] != b':' || time[5] != b':' {
        return None;
    }
    let nanos = match rest {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            number(fraction)? * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    let day = chrono::NaiveDate::from_ymd_opt(number(&date[..4])? as i32, number(&date[5..7])?, number(&date[8..])?)?;
    day.and_hms_nano_opt(number(&time[..2])?, number(&time[3..5])?, number(&time[6..])?, nanos)
}

/// A document as a column value: anything serde can write and read back.
#[derive(Debug, Clone, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = Jsonb)]
pub(crate) struct Json<T>(pub(crate) T);

/// The binary `jsonb` format: a version byte, then the text.
const JSONB_VERSION: u8 = 1;

impl<T: Serialize + std::fmt::Debug> ToSql<Jsonb, Pg> for Json<T> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(&[JSONB_VERSION])?;
        serde_json::to_writer(out, &self.0)?;
        Ok(IsNull::No)
    }
}

impl<T: DeserializeOwned> FromSql<Jsonb, Pg> for Json<T> {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        match value.as_bytes().split_first() {
            Some((&JSONB_VERSION, text)) => Ok(Self(serde_json::from_slice(text)?)),
            _ => Err("unsupported jsonb format version".into()),
        }
    }
}

impl<T: Serialize + std::fmt::Debug> ToSql<Jsonb, Sqlite> for Json<T> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(serde_json::to_string(&self.0)?);
        Ok(IsNull::No)
    }
}

impl<T: DeserializeOwned> FromSql<Jsonb, Sqlite> for Json<T> {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        Ok(Self(serde_json::from_str(&sqlite_text(value)?)?))
    }
}

/// Each value goes to, and comes from, whichever backend the connection is.
macro_rules! on_every_backend {
    ($sql_type:ident => $value:ty $(, $generic:ident: $($bound:path)+)?) => {
        impl$(<$generic: $($bound +)+ 'static>)? ToSql<$sql_type, MultiBackend> for $value {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
                out.set_value(($sql_type, self));
                Ok(IsNull::No)
            }
        }

        impl$(<$generic: $($bound +)+ 'static>)? FromSql<$sql_type, MultiBackend> for $value {
            fn from_sql(value: <MultiBackend as diesel::backend::Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                value.from_sql::<Self, $sql_type>()
            }
        }
    };
}
on_every_backend!(Uuid => Id);
on_every_backend!(UtcTimestamp => Instant);
on_every_backend!(Jsonb => Json<T>, T: Serialize DeserializeOwned std::fmt::Debug Send Sync);

#[cfg(test)]
mod tests {
    use chrono::{DateTime, NaiveDateTime, Utc};

    use super::{SQLITE_FORMAT, read_sqlite_instant};

    #[test]
    fn sqlite_instants_read_by_position_as_chrono_reads_them() {
        let written: Vec<String> = [0, 1_000_000, 123_000_000, 555_358_000, 999_999_999]
            .into_iter()
            .map(|nanos| {
                let instant = DateTime::<Utc>::from_timestamp(1_796_000_000, nanos).unwrap_or_default();
                instant.naive_utc().format(SQLITE_FORMAT).to_string()
            })
            .chain(["1970-01-01 00:00:00".into(), "2026-02-28 23:59:59.5".into()])
            .collect();
        for text in &written {
            let by_chrono = NaiveDateTime::parse_from_str(text, SQLITE_FORMAT).ok();
            assert!(by_chrono.is_some(), "{text}");
            assert_eq!(read_sqlite_instant(text), by_chrono, "{text}");
        }
    }

    #[test]
    fn other_shapes_are_left_to_chrono() {
        for text in [
            "",
            "2026-11-29",
            "2026-11-29T19:37:58",
            "2026-11-29 19:37:58Z",
            "2026-11-29 19:37:58.",
            "2026-11-29 19:37:58.1234567890",
            "2026-13-29 19:37:58",
            "2026-11-29 24:00:00",
            "2026-11-29 19:3x:58",
            "+026-11-29 19:37:58",
        ] {
            assert_eq!(read_sqlite_instant(text), None, "{text:?}");
        }
    }
}
