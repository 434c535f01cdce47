//! Statements kept prepared, and SQL text built once, although diesel would do both anew at
//! every use.
//!
//! diesel keeps no `UPDATE` in a connection's statement cache (a changeset may leave out
//! columns, so one Rust type can make many texts), and no `IN (...)` list. The database then
//! parses and plans such a statement at every use; on the hot paths (a daemon taking or ending
//! a job) that was most of a write's own time. [`Prepared`] keeps a statement in the cache
//! under its SQL text, which is always correct, and is bounded only if the text is: use it for
//! statements whose text does not vary with the values bound, or pass lists through
//! [`padded`].
//!
//! Separately, a statement run through [`AnyConnection`](crate::conn::AnyConnection) has its
//! whole SQL text rendered at every pass diesel makes over it (deciding whether to cache it,
//! binding its values, and keying the cache), even when the database has it prepared: for the
//! sign-in's six-table join that was a fifth of a request's time. [`Rendered`] renders a
//! statement's text once per thread and type, and [`Prepared`] once per use.

use std::any::TypeId;
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use diesel::RunQueryDsl;
use diesel::backend::Backend;
use diesel::expression::{AppearsOnTable, Expression, ValidGrouping, is_aggregate};
use diesel::internal::derives::multiconnection::AstPassHelper;
use diesel::pg::{Pg, PgQueryBuilder};
use diesel::query_builder::{AstPass, Query, QueryBuilder, QueryFragment, QueryId};
use diesel::result::QueryResult;
use diesel::serialize::ToSql;
use diesel::sql_types::{Bool, HasSqlType};
use diesel::sqlite::{Sqlite, SqliteQueryBuilder};

use crate::conn::MultiBackend;
use crate::sql_types::{Id, Uuid};

/// A backend that can render a statement's text apart from the pass diesel is making.
pub(crate) trait Renders: Backend + 'static {
    /// An empty builder of this backend's SQL.
    fn builder(&self) -> Self::QueryBuilder;
    /// Which SQL the builder writes: the same for every value of `Self` but `MultiBackend`.
    fn dialect(&self) -> u8;
}

impl Renders for MultiBackend {
    fn builder(&self) -> Self::QueryBuilder {
        type Builder = <MultiBackend as Backend>::QueryBuilder;
        match self {
            Self::Postgresql(_) => Builder::Postgresql(PgQueryBuilder::default()),
            Self::Sqlite(_) => Builder::Sqlite(SqliteQueryBuilder::default()),
        }
    }

    fn dialect(&self) -> u8 {
        u8::from(matches!(self, Self::Sqlite(_)))
    }
}

impl Renders for Pg {
    fn builder(&self) -> Self::QueryBuilder {
        PgQueryBuilder::default()
    }

    fn dialect(&self) -> u8 {
        0
    }
}

impl Renders for Sqlite {
    fn builder(&self) -> Self::QueryBuilder {
        SqliteQueryBuilder::default()
    }

    fn dialect(&self) -> u8 {
        1
    }
}

/// The text `query` renders to on `backend`, from a builder of its own.
fn render<DB: Renders>(query: &impl QueryFragment<DB>, backend: &DB) -> QueryResult<String> {
    let mut builder = backend.builder();
    query.to_sql(&mut builder, backend)?;
    Ok(builder.finish())
}

/// Whether `pass` only collects the values bound, which the statement itself must give.
fn binds_only<DB: Backend>(pass: &mut AstPass<'_, '_, DB>) -> bool {
    pass.bind_collector().is_some() || pass.debug_binds().is_some()
}

/// `Q`, cached by its SQL text, rendered once. See the module's documentation. Run it with
/// `get_result` or `load`, which hand over the statement itself: `execute` passes it by
/// reference, and the reference asks `Q`, not this, whether it may be cached. A statement
/// that answers nothing can return its key instead.
pub(crate) struct Prepared<Q> {
    query: Q,
    /// The dialect and text, from the first pass that needed it.
    text: OnceCell<(u8, String)>,
}

impl<Q> Prepared<Q> {
    pub(crate) fn new(query: Q) -> Self {
        Self { query, text: OnceCell::new() }
    }
}

impl<Q: QueryFragment<DB>, DB: Renders> QueryFragment<DB> for Prepared<Q> {
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        if binds_only(&mut pass) {
            return self.query.walk_ast(pass);
        }
        let dialect = pass.backend().dialect();
        if self.text.get().is_none() {
            let _ = self.text.set((dialect, render(&self.query, pass.backend())?));
        }
        match self.text.get() {
            Some((rendered_for, text)) if *rendered_for == dialect => {
                pass.push_sql(text);
                Ok(())
            }
            _ => self.query.walk_ast(pass),
        }
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

/// Texts by statement, backend and dialect; `None` for a statement diesel would not cache,
/// whose text may vary with its values.
type Texts = HashMap<(TypeId, TypeId, u8), Option<Rc<str>>>;

thread_local! {
    static TEXTS: RefCell<Texts> = RefCell::new(HashMap::new());
}

/// `Q`, whose SQL text is rendered once per thread and dialect: for a statement diesel keeps
/// prepared by type, whose text the type alone decides. Anything else is walked as it is.
pub(crate) struct Rendered<Q>(pub(crate) Q);

impl<Q: QueryId> Rendered<Q> {
    fn text<DB: Renders>(&self, backend: &DB) -> QueryResult<Option<Rc<str>>>
    where
        Q: QueryFragment<DB>,
    {
        let key = (TypeId::of::<Q::QueryId>(), TypeId::of::<DB>(), backend.dialect());
        if let Some(known) = TEXTS.with_borrow(|texts| texts.get(&key).cloned()) {
            return Ok(known);
        }
        let text =
            if self.0.is_safe_to_cache_prepared(backend)? { Some(Rc::from(render(&self.0, backend)?)) } else { None };
        TEXTS.with_borrow_mut(|texts| texts.insert(key, text.clone()));
        Ok(text)
    }
}

impl<Q: QueryFragment<DB> + QueryId, DB: Renders> QueryFragment<DB> for Rendered<Q> {
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        if !Q::HAS_STATIC_QUERY_ID || binds_only(&mut pass) {
            return self.0.walk_ast(pass);
        }
        match self.text(pass.backend())? {
            Some(text) => {
                pass.push_sql(&text);
                Ok(())
            }
            None => self.0.walk_ast(pass),
        }
    }
}

/// The statement's own id: the same text, so the same cached statement.
impl<Q: QueryId> QueryId for Rendered<Q> {
    type QueryId = Q::QueryId;
    const HAS_STATIC_QUERY_ID: bool = Q::HAS_STATIC_QUERY_ID;
}

impl<Q: Query> Query for Rendered<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, Conn> RunQueryDsl<Conn> for Rendered<Q> {}

/// `list` made as long as the next power of two by repeating its last item, for an
/// `IN (...)` list: the same test, and a few lengths instead of one text per length.
pub(crate) fn padded<T: Clone>(mut list: Vec<T>) -> Vec<T> {
    if let Some(last) = list.last().cloned() {
        list.resize(list.len().next_power_of_two(), last);
    }
    list
}

/// `column IN ($1, ..., $n)`, one bind per id, the list [`padded`]. diesel's `eq_any` binds
/// one array on PostgreSQL (`= ANY($1)`), and a prepared statement with an array parameter is
/// planned afresh at every use: its plan for the values at hand always looks cheaper than the
/// generic one. With a bind per value PostgreSQL keeps the generic plan after five uses. For
/// lists of keys, whose plan the values cannot change.
pub(crate) fn one_of<C>(column: C, ids: Vec<Id>) -> OneOf<C> {
    OneOf { column, ids: padded(ids) }
}

#[derive(Debug, Clone)]
pub(crate) struct OneOf<C> {
    column: C,
    ids: Vec<Id>,
}

impl<C> Expression for OneOf<C> {
    type SqlType = Bool;
}

impl<C: AppearsOnTable<QS>, QS> AppearsOnTable<QS> for OneOf<C> {}

impl<C> ValidGrouping<()> for OneOf<C> {
    type IsAggregate = is_aggregate::Never;
}

/// No type-level id: [`Prepared`] keys it by its text, which its length decides.
impl<C> QueryId for OneOf<C> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<C, DB> QueryFragment<DB> for OneOf<C>
where
    DB: Backend + HasSqlType<Uuid>,
    C: QueryFragment<DB>,
    Id: ToSql<Uuid, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        if self.ids.is_empty() {
            out.push_sql("1 = 0");
            return Ok(());
        }
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" IN (");
        for (at, id) in self.ids.iter().enumerate() {
            if at > 0 {
                out.push_sql(", ");
            }
            out.push_bind_param::<Uuid, _>(id)?;
        }
        out.push_sql(")");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
    use diesel::prelude::*;

    use super::{Prepared, Rendered, one_of, padded};
    use crate::conn::AnyConnection;
    use crate::sql_types::Id;

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
                Prepared::new(bump().returning(counters::hits)).get_result(&mut conn).unwrap_or_else(|e| panic!("{e}"));
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

    /// A connection with three counters, 1 to 3, at 10, 20 and 30 hits.
    fn three_counters() -> (AnyConnection, Arc<AtomicUsize>) {
        let (mut conn, kept) = counting_connection();
        if let AnyConnection::Sqlite(sqlite) = &mut conn {
            sqlite
                .batch_execute("UPDATE counters SET hits = 10; INSERT INTO counters VALUES (2, 20), (3, 30);")
                .unwrap_or_else(|e| panic!("{e}"));
        }
        (conn, kept)
    }

    #[test]
    fn a_rendered_statement_binds_new_values_into_one_prepared_statement() {
        let (mut conn, kept) = three_counters();
        let hits_of = |conn: &mut AnyConnection, id: i32| -> Option<i32> {
            Rendered(counters::table.filter(counters::id.eq(id)).select(counters::hits).limit(1))
                .get_result(conn)
                .optional()
                .unwrap_or_else(|e| panic!("{e}"))
        };
        assert_eq!([1, 3, 2, 4].map(|id| hits_of(&mut conn, id)), [Some(10), Some(30), Some(20), None]);
        assert_eq!(kept.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_statement_whose_text_varies_is_rendered_at_each_use() {
        let (mut conn, _) = three_counters();
        for ids in [vec![2], vec![1, 3], vec![3, 2, 1]] {
            let mut found: Vec<i32> =
                Rendered(counters::table.filter(counters::id.eq_any(ids.clone())).select(counters::id))
                    .load(&mut conn)
                    .unwrap_or_else(|e| panic!("{e}"));
            found.sort_unstable();
            let mut expected = ids;
            expected.sort_unstable();
            assert_eq!(found, expected);
        }
    }

    #[test]
    fn padded_lists_of_nearby_lengths_share_one_statement() {
        let (mut conn, kept) = counting_connection();
        for ids in [vec![1, 2, 3], vec![1, 5, 7, 9], vec![2, 1, 1]] {
            let found: Vec<i32> =
                Prepared::new(counters::table.filter(counters::id.eq_any(padded(ids))).select(counters::id))
                    .load(&mut conn)
                    .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(found, vec![1]);
        }
        assert_eq!(kept.load(Ordering::SeqCst), 1);
    }

    diesel::table! {
        keyed (id) {
            id -> crate::sql_types::Uuid,
        }
    }

    /// Whether the statements this connection keeps prepared, whose text names `keyed`, were
    /// planned generically (once) or for the values at hand (every time).
    #[derive(diesel::QueryableByName)]
    struct Plans {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        generic_plans: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        custom_plans: i64,
    }

    #[test]
    fn a_list_of_keys_finds_each_key_whatever_its_length() {
        let mut conn = AnyConnection::establish(":memory:").unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<Id> = (0..5).map(|_| Id(uuid::Uuid::now_v7())).collect();
        conn.batch_execute("CREATE TABLE keyed (id TEXT PRIMARY KEY)").unwrap_or_else(|e| panic!("{e}"));
        for id in &ids {
            diesel::insert_into(keyed::table)
                .values(keyed::id.eq(*id))
                .execute(&mut conn)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        for length in 0..=ids.len() {
            let mut found: Vec<Id> =
                Prepared::new(keyed::table.filter(one_of(keyed::id, ids[..length].to_vec())).select(keyed::id))
                    .load(&mut conn)
                    .unwrap_or_else(|e| panic!("{e}"));
            found.sort_unstable();
            assert_eq!(found, ids[..length]);
        }
    }

    /// The reason for [`one_of`]: PostgreSQL plans a list bound as one array at every use.
    #[test]
    fn postgres_keeps_one_plan_for_a_list_of_keys_bound_one_by_one() {
        let Some(url) = crate::testing::postgres_server() else {
            return;
        };
        let mut conn = AnyConnection::establish(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
        conn.batch_execute("CREATE TEMP TABLE keyed (id uuid PRIMARY KEY); INSERT INTO keyed SELECT gen_random_uuid() FROM generate_series(1, 1000)")
            .unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<Id> = keyed::table.select(keyed::id).limit(4).load(&mut conn).unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..8 {
            let one_by_one: Vec<Id> =
                Prepared::new(keyed::table.filter(one_of(keyed::id, ids.clone())).select(keyed::id))
                    .load(&mut conn)
                    .unwrap_or_else(|e| panic!("{e}"));
            let as_array: Vec<Id> = Prepared::new(keyed::table.filter(keyed::id.eq_any(ids.clone())).select(keyed::id))
                .load(&mut conn)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((one_by_one.len(), as_array.len()), (4, 4));
        }
        let mut plans = |text: &str| -> Plans {
            diesel::sql_query(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE '%keyed%' AND statement LIKE $1",
            )
            .bind::<diesel::sql_types::Text, _>(format!("%{text}%"))
            .get_result(&mut conn)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
        };
        let one_by_one = plans("IN ($1, $2, $3, $4)");
        assert_eq!((one_by_one.generic_plans, one_by_one.custom_plans), (3, 5), "generic after five");
        let as_array = plans("ANY($1)");
        assert_eq!((as_array.generic_plans, as_array.custom_plans), (0, 8), "planned at every use");
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
