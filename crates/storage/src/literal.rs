//! PostgreSQL statements written out whole, each value as a literal, for the one message that
//! carries no parameters: the one that commits a write (see `conn::commit_with`). A statement
//! that answers nothing can ride in it, one round trip fewer.
//!
//! Only the types listed in [`value`] are written; any other, or a text holding NUL (which a
//! query's text cannot carry), leaves the statement to be sent the ordinary way.

use chrono::{DateTime, TimeDelta, Utc};
use diesel::pg::{Pg, PgMetadataLookup, PgQueryBuilder};
use diesel::query_builder::bind_collector::RawBytesBindCollector;
use diesel::query_builder::{QueryBuilder, QueryFragment};
use diesel::result::QueryResult;

/// `text` as a string literal, whatever the server's `standard_conforming_strings`; `None` if
/// it holds NUL.
pub(crate) fn text(text: &str) -> Option<String> {
    (!text.contains('\0')).then(|| format!("E'{}'", text.replace('\\', "\\\\").replace('\'', "''")))
}

/// `query`'s text with each value it binds written in its place; `None` if one cannot be.
pub(crate) fn inlined(
    query: &impl QueryFragment<Pg>,
    lookup: &mut (dyn PgMetadataLookup + 'static),
) -> QueryResult<Option<String>> {
    let mut builder = PgQueryBuilder::default();
    query.to_sql(&mut builder, &Pg)?;
    let mut bound = RawBytesBindCollector::<Pg>::new();
    query.collect_binds(&mut bound, lookup, &Pg)?;
    let values: Option<Vec<String>> = bound
        .metadata
        .iter()
        .zip(&bound.binds)
        .map(|(metadata, bytes)| value(metadata.oid().ok()?, bytes.as_deref()))
        .collect();
    Ok(values.and_then(|values| substituted(&builder.finish(), &values)))
}

/// One bound value of the type `oid`, from its binary form (`None`: SQL `NULL`), cast to its
/// type so that a `CASE` of `NULL`s still has one.
fn value(oid: u32, bytes: Option<&[u8]>) -> Option<String> {
    let name = type_name(oid)?;
    let Some(bytes) = bytes else {
        return Some(format!("NULL::{name}"));
    };
    let written = match oid {
        16 => (bytes.first()? != &0).to_string(),
        20 => i64::from_be_bytes(bytes.try_into().ok()?).to_string(),
        23 => i32::from_be_bytes(bytes.try_into().ok()?).to_string(),
        25 => text(std::str::from_utf8(bytes).ok()?)?,
        1184 => {
            format!("'{}'", instant(i64::from_be_bytes(bytes.try_into().ok()?))?.format("%Y-%m-%d %H:%M:%S%.6f+00"))
        }
        2950 => format!("'{}'", uuid::Uuid::from_slice(bytes).ok()?.hyphenated()),
        _ => array(bytes)?,
    };
    Some(format!("{written}::{name}"))
}

/// The types written here, by oid: scalars, and one-dimensional arrays of them.
fn type_name(oid: u32) -> Option<&'static str> {
    Some(match oid {
        16 => "boolean",
        20 => "int8",
        23 => "int4",
        25 => "text",
        1184 => "timestamptz",
        2950 => "uuid",
        1000 => "boolean[]",
        1016 => "int8[]",
        1007 => "int4[]",
        1009 => "text[]",
        1185 => "timestamptz[]",
        2951 => "uuid[]",
        _ => return None,
    })
}

/// A one-dimensional array from its binary form: dimensions, a flag, the elements' type, each
/// dimension's length and lower bound, then each element's length (-1: `NULL`) and bytes.
fn array(bytes: &[u8]) -> Option<String> {
    let mut rest = Unread(bytes);
    let (dimensions, _, element) = (rest.word()?, rest.word()?, u32::try_from(rest.word()?).ok()?);
    type_name(element).filter(|name| !name.ends_with("[]"))?;
    let length = match dimensions {
        0 => 0,
        1 => {
            let length = usize::try_from(rest.word()?).ok()?;
            rest.word()?;
            length
        }
        _ => return None,
    };
    let mut elements = Vec::with_capacity(length);
    for _ in 0..length {
        let bytes = match usize::try_from(rest.word()?) {
            Ok(size) => Some(rest.take(size)?),
            Err(_) => None,
        };
        elements.push(value(element, bytes)?);
    }
    rest.0.is_empty().then(|| format!("ARRAY[{}]", elements.join(", ")))
}

/// Bytes not read yet.
struct Unread<'a>(&'a [u8]);

impl<'a> Unread<'a> {
    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        let (taken, rest) = self.0.split_at_checked(count)?;
        self.0 = rest;
        Some(taken)
    }

    fn word(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
}

/// A `timestamptz` as PostgreSQL sends it: microseconds since 2000-01-01 UTC.
fn instant(micros: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(946_684_800, 0)?.checked_add_signed(TimeDelta::microseconds(micros))
}

/// `sql` with each placeholder `$n` outside quotes replaced by `values[n - 1]`; `None` if one
/// names no value.
fn substituted(sql: &str, values: &[String]) -> Option<String> {
    let mut out = String::with_capacity(sql.len() + values.iter().map(String::len).sum::<usize>());
    let mut quote: Option<char> = None;
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        match (quote, c) {
            (Some(open), c) if c == open => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, '$') if chars.peek().is_some_and(|(_, next)| next.is_ascii_digit()) => {
                let mut index = 0usize;
                while let Some((_, digit)) = chars.next_if(|(_, next)| next.is_ascii_digit()) {
                    index = index.checked_mul(10)?.checked_add(digit.to_digit(10)? as usize)?;
                }
                out.push_str(values.get(index.checked_sub(1)?)?);
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text};

    use super::{inlined, instant, substituted, text, value};
    use crate::sql_types::{Id, Instant, UtcTimestamp, Uuid};

    #[derive(Debug, PartialEq, QueryableByName)]
    struct Row {
        #[diesel(sql_type = Uuid)]
        id: Id,
        #[diesel(sql_type = Array<Uuid>)]
        ids: Vec<Id>,
        #[diesel(sql_type = UtcTimestamp)]
        at: Instant,
        #[diesel(sql_type = Nullable<UtcTimestamp>)]
        never: Option<Instant>,
        #[diesel(sql_type = Text)]
        said: String,
        #[diesel(sql_type = Nullable<Text>)]
        unsaid: Option<String>,
        #[diesel(sql_type = Bool)]
        yes: bool,
        #[diesel(sql_type = BigInt)]
        big: i64,
        #[diesel(sql_type = Integer)]
        small: i32,
    }

    /// A statement run with its values bound, and run again written out, answers the same.
    #[test]
    fn a_statement_written_out_answers_as_it_does_bound() {
        let required = std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
        let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
            assert!(!required, "REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set");
            return;
        };
        let mut conn = PgConnection::establish(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
        // Not the server's zone, nor its string syntax, may change what a literal means.
        conn.batch_execute("SET TIME ZONE 'Pacific/Chatham'; SET standard_conforming_strings = off")
            .unwrap_or_else(|e| panic!("{e}"));
        let ids = vec![Id(uuid::Uuid::now_v7()), Id(uuid::Uuid::now_v7())];
        let at =
            Instant(DateTime::from_timestamp_micros(1_764_547_200_123_456).unwrap_or_else(|| panic!("an instant")));
        let said = r#"it's a \ "quoted" 'path' $1 \' ✓"#;
        let bound = diesel::sql_query(
            "SELECT $1 AS id, $2 AS ids, $3 AS at, $4 AS never, $5 AS said, $6 AS unsaid, $7 AS yes, $8 AS big, $9 AS small",
        )
        .bind::<Uuid, _>(ids[0])
        .bind::<Array<Uuid>, _>(&ids)
        .bind::<UtcTimestamp, _>(at)
        .bind::<Nullable<UtcTimestamp>, _>(None::<Instant>)
        .bind::<Text, _>(said)
        .bind::<Nullable<Text>, _>(None::<String>)
        .bind::<Bool, _>(true)
        .bind::<BigInt, _>(-(1i64 << 40))
        .bind::<Integer, _>(7);
        let written =
            inlined(&bound, &mut conn).unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|| panic!("not written"));
        assert!(!written.contains("$1 AS"), "{written}");
        let expected = Row {
            id: ids[0],
            ids: ids.clone(),
            at,
            never: None,
            said: said.to_owned(),
            unsaid: None,
            yes: true,
            big: -(1i64 << 40),
            small: 7,
        };
        assert_eq!(bound.get_result::<Row>(&mut conn).unwrap_or_else(|e| panic!("{e}")), expected);
        assert_eq!(
            diesel::sql_query(&written).get_result::<Row>(&mut conn).unwrap_or_else(|e| panic!("{written}: {e}")),
            expected
        );
    }

    /// Types named by a static oid are never looked up.
    struct NoLookup;

    impl diesel::pg::PgMetadataLookup for NoLookup {
        fn lookup_type(&mut self, name: &str, _: Option<&str>) -> diesel::pg::PgTypeMetadata {
            panic!("looked up {name}")
        }
    }

    #[test]
    fn a_text_holding_nul_is_left_bound() {
        let query = diesel::sql_query("SELECT $1").bind::<Text, _>("a\0b");
        let mut lookup = NoLookup;
        assert_eq!(inlined(&query, &mut lookup).unwrap_or_else(|e| panic!("{e}")), None);
    }

    #[test]
    fn text_is_quoted_with_its_quotes_and_backslashes_doubled() {
        assert_eq!(text("it's a \\ path").as_deref(), Some("E'it''s a \\\\ path'"));
        assert_eq!(text("").as_deref(), Some("E''"));
        assert_eq!(text("bad\0byte"), None);
    }

    #[test]
    fn placeholders_outside_quotes_are_replaced_by_their_values() {
        let values = ["'a'::text".to_owned(), "2::int4".to_owned()];
        assert_eq!(
            substituted(r#"SELECT "$1" FROM t WHERE a = $1 AND b = $2 AND c = '$2'"#, &values).as_deref(),
            Some(r#"SELECT "$1" FROM t WHERE a = 'a'::text AND b = 2::int4 AND c = '$2'"#)
        );
        assert_eq!(substituted("SELECT $3", &values), None, "a placeholder with no value");
        assert_eq!(substituted("SELECT $0", &values), None);
    }

    #[test]
    fn more_than_nine_placeholders_are_told_apart() {
        let values: Vec<String> = (1..=12).map(|n| n.to_string()).collect();
        assert_eq!(substituted("$1,$10,$12,$2", &values).as_deref(), Some("1,10,12,2"));
    }

    #[test]
    fn values_are_written_from_their_binary_form_and_cast_to_their_type() {
        let id = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert_eq!(value(2950, Some(id.as_bytes())).as_deref(), Some("'01234567-89ab-cdef-0123-456789abcdef'::uuid"));
        assert_eq!(value(2950, None).as_deref(), Some("NULL::uuid"));
        // One day and a microsecond after PostgreSQL's epoch.
        let micros: i64 = 86_400_000_001;
        assert_eq!(
            value(1184, Some(&micros.to_be_bytes())).as_deref(),
            Some("'2000-01-02 00:00:00.000001+00'::timestamptz")
        );
        assert_eq!(instant(-1).map(|at| at.to_rfc3339()).as_deref(), Some("1999-12-31T23:59:59.999999+00:00"));
        assert_eq!(value(25, Some("o'k".as_bytes())).as_deref(), Some("E'o''k'::text"));
        assert_eq!(value(25, Some(b"\0")), None);
        assert_eq!(value(16, Some(&[1])).as_deref(), Some("true::boolean"));
        assert_eq!(value(20, Some(&(-5i64).to_be_bytes())).as_deref(), Some("-5::int8"));
        assert_eq!(value(3802, Some(b"{}")), None, "jsonb is not written here");
    }

    /// An array as PostgreSQL's binary form has it.
    fn array_of(element: u32, elements: &[Option<&[u8]>]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for word in [1, 0, element as i32, elements.len() as i32, 1] {
            bytes.extend(word.to_be_bytes());
        }
        for element in elements {
            match element {
                Some(value) => {
                    bytes.extend((value.len() as i32).to_be_bytes());
                    bytes.extend(*value);
                }
                None => bytes.extend((-1i32).to_be_bytes()),
            }
        }
        bytes
    }

    #[test]
    fn one_dimensional_arrays_are_written_element_by_element() {
        let (a, b) = (uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2));
        let ids = array_of(2950, &[Some(a.as_bytes()), Some(b.as_bytes())]);
        assert_eq!(
            value(2951, Some(&ids)).as_deref(),
            Some(
                "ARRAY['00000000-0000-0000-0000-000000000001'::uuid, '00000000-0000-0000-0000-000000000002'::uuid]::uuid[]"
            )
        );
        let texts = array_of(25, &[Some(b"x"), None]);
        assert_eq!(value(1009, Some(&texts)).as_deref(), Some("ARRAY[E'x'::text, NULL::text]::text[]"));
        let mut empty = Vec::new();
        for word in [0i32, 0, 2950] {
            empty.extend(word.to_be_bytes());
        }
        assert_eq!(value(2951, Some(&empty)).as_deref(), Some("ARRAY[]::uuid[]"));
        let mut cut = ids.clone();
        cut.pop();
        assert_eq!(value(2951, Some(&cut)), None, "an element cut short");
        let mut longer = ids;
        longer.push(0);
        assert_eq!(value(2951, Some(&longer)), None, "bytes left over");
        assert_eq!(value(2951, Some(&array_of(3802, &[Some(b"{}")]))), None, "elements of a type not written");
    }
}
