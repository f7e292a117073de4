//! `EXPLAIN (FORMAT JSON)` around any PostgreSQL query of diesel, keeping its bound parameters.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::Json;
use diesel::QueryResult;

/// The plan of the wrapped query instead of its rows: one row, one JSON value.
#[derive(Debug, Clone, Copy)]
pub struct Explain<Q>(pub Q);

impl<Q> QueryId for Explain<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> Query for Explain<Q> {
    type SqlType = Json;
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Explain<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("EXPLAIN (FORMAT JSON) ");
        self.0.walk_ast(out.reborrow())
    }
}
