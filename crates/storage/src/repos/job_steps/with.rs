//! PostgreSQL: several statements sent as one, each a named part of a `WITH` whose last
//! statement reads them. A part that writes runs whatever reads it, and all of them see
//! the database as it was when the statement began, so a later part works from what an
//! earlier one answers, not from the table.

use std::marker::PhantomData;

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::QueryResult;

/// `WITH <name> AS (<part>), ... <last>`, answering `ST`.
pub(super) struct With<'a, ST> {
    parts: Vec<(&'static str, Box<dyn QueryFragment<Pg> + 'a>)>,
    last: &'static str,
    answers: PhantomData<ST>,
}

impl<'a, ST> With<'a, ST> {
    /// The statement whose last part is `last`, reading the parts by name.
    pub(super) fn new(last: &'static str) -> Self {
        Self { parts: Vec::new(), last, answers: PhantomData }
    }

    /// Adds the part `name`, run before those added after it can read it.
    pub(super) fn part(mut self, name: &'static str, part: impl QueryFragment<Pg> + 'a) -> Self {
        self.parts.push((name, Box::new(part)));
        self
    }
}

impl<ST> QueryFragment<Pg> for With<'_, ST> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        for (at, (name, part)) in self.parts.iter().enumerate() {
            out.push_sql(if at == 0 { "WITH " } else { ", " });
            out.push_identifier(name)?;
            out.push_sql(" AS (");
            part.walk_ast(out.reborrow())?;
            out.push_sql(")");
        }
        out.push_sql(" ");
        out.push_sql(self.last);
        Ok(())
    }
}

/// No type-level id: [`crate::prepared::Prepared`] keeps it by its text.
impl<ST> QueryId for With<'_, ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST> Query for With<'_, ST> {
    type SqlType = ST;
}
