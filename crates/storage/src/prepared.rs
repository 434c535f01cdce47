//! Statements kept prepared although diesel would prepare them anew at every use.
//!
//! diesel keeps no `UPDATE` in a connection's statement cache (a changeset may leave out
//! columns, so one Rust type can make many texts), and no `IN (...)` list. The database then
//! parses and plans such a statement at every use; on the hot paths (a daemon taking or ending
//! a job) that was most of a write's own time. [`Prepared`] keeps a statement in the cache
//! under its SQL text, which is always correct, and is bounded only if the text is: use it for
//! statements whose text does not vary with the values bound, or pass lists through
//! [`padded`].

use diesel::RunQueryDsl;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::QueryResult;

/// `Q`, cached by its SQL text. See the module's documentation. Run it with `get_result` or
/// `load`, which hand over the statement itself: `execute` passes it by reference, and the
/// reference asks `Q`, not this, whether it may be cached. A statement that answers nothing
/// can return its key instead.
pub(crate) struct Prepared<Q>(pub(crate) Q);

impl<Q, DB> QueryFragment<DB> for Prepared<Q>
where
    Q: QueryFragment<DB>,
    DB: Backend,
{
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

/// No type-level id: the cache keys it by its SQL text.
impl<Q> QueryId for Prepared<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, Conn> RunQueryDsl<Conn> for Prepared<Q> {}

/// `list` made as long as the next power of two by repeating its last item, for an
/// `IN (...)` list: the same test, and a few lengths instead of one text per length.
pub(crate) fn padded<T: Clone>(mut list: Vec<T>) -> Vec<T> {
    if let Some(last) = list.last().cloned() {
        list.resize(list.len().next_power_of_two(), last);
    }
    list
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
    use diesel::prelude::*;

    use super::{Prepared, padded};
    use crate::conn::AnyConnection;

    diesel::table! {
        counters (id) {
            id -> Integer,
            hits -> Integer,
        }
    }

    /// A connection with one counter, and how many statements it has kept prepared so far.
    fn counting_connection() -> (AnyConnection, Arc<AtomicUsize>) {
        let mut conn =
            AnyConnection::Sqlite(diesel::SqliteConnection::establish(":memory:").unwrap_or_else(|e| panic!("{e}")));
        if let AnyConnection::Sqlite(sqlite) = &mut conn {
            sqlite
                .batch_execute("CREATE TABLE counters (id INTEGER PRIMARY KEY, hits INTEGER NOT NULL); INSERT INTO counters VALUES (1, 0);")
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let kept = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&kept);
        let instrumentation: Box<dyn Instrumentation> = Box::new(move |event: InstrumentationEvent<'_>| {
            if matches!(event, InstrumentationEvent::CacheQuery { .. }) {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        conn.set_instrumentation(instrumentation);
        (conn, kept)
    }

    #[test]
    fn an_update_is_prepared_once_only_when_wrapped() {
        let (mut conn, kept) = counting_connection();
        let bump = || diesel::update(counters::table.find(1)).set(counters::hits.eq(counters::hits + 1));
        for _ in 0..3 {
            let _: i32 = bump().returning(counters::hits).get_result(&mut conn).unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(kept.load(Ordering::SeqCst), 0, "diesel keeps no UPDATE prepared");
        for _ in 0..3 {
            let _: i32 =
                Prepared(bump().returning(counters::hits)).get_result(&mut conn).unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(kept.load(Ordering::SeqCst), 1, "prepared once, then reused");
        let hits: i32 =
            counters::table.find(1).select(counters::hits).first(&mut conn).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(hits, 6);
    }

    #[derive(diesel::QueryableByName)]
    struct Used {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        used: i32,
    }

    /// Without the guarantee, SQLite re-prepares a kept statement whenever a value its plan
    /// looked at (a bound `LIMIT`) is bound anew, and keeping it prepared saves nothing.
    #[test]
    fn sqlite_is_built_with_query_planner_stability() {
        let (mut conn, _) = counting_connection();
        let AnyConnection::Sqlite(sqlite) = &mut conn else {
            panic!("not SQLite");
        };
        let option: Used = diesel::sql_query("SELECT sqlite_compileoption_used('ENABLE_QPSG') AS used")
            .get_result(sqlite)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(option.used, 1, "build with LIBSQLITE3_FLAGS=-DSQLITE_ENABLE_QPSG (see .cargo/config.toml)");
    }

    #[test]
    fn padded_lists_of_nearby_lengths_share_one_statement() {
        let (mut conn, kept) = counting_connection();
        for ids in [vec![1, 2, 3], vec![1, 5, 7, 9], vec![2, 1, 1]] {
            let found: Vec<i32> =
                Prepared(counters::table.filter(counters::id.eq_any(padded(ids))).select(counters::id))
                    .load(&mut conn)
                    .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(found, vec![1]);
        }
        assert_eq!(kept.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn lists_are_padded_to_a_power_of_two_with_their_last_item() {
        assert_eq!(padded(Vec::<u8>::new()), Vec::<u8>::new());
        assert_eq!(padded(vec![1]), vec![1]);
        assert_eq!(padded(vec![1, 2, 3]), vec![1, 2, 3, 3]);
        assert_eq!(padded(vec![1, 2, 3, 4, 5]), vec![1, 2, 3, 4, 5, 5, 5, 5]);
        assert_eq!(padded(vec![1, 2, 3, 4]), vec![1, 2, 3, 4]);
    }
}
