//! Statements kept prepared by their SQL text.
//!
//! diesel caches a connection's prepared statements, but never those whose text can vary from
//! run to run: every `UPDATE` (its `SET` list depends on the changeset), a multi-row `INSERT`,
//! raw SQL. Those are prepared anew each time, and diesel-async prepares in a round trip of its
//! own before it executes: two round trips to PostgreSQL per statement instead of one.
//! [`Prepared`] marks a statement as safe to keep, keyed by its text and bind types (never by
//! its Rust type, which the varying texts share), so each distinct text is prepared once per
//! connection. Use it where the distinct texts are few: an `UPDATE` of the columns an autosave
//! changed (a handful of combinations in practice), change-log inserts (one text per row
//! count), fixed raw SQL. Connections are recycled after `DB_CONN_MAX_AGE`, which also bounds
//! what a connection keeps.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::QueryResult;

/// A statement prepared once per connection and kept, by its SQL text (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct Prepared<Q>(pub Q);

impl<Q> QueryId for Prepared<Q> {
    type QueryId = ();
    // Not static: the cache must key these by their text, which varies for one Rust type.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, DB> QueryFragment<DB> for Prepared<Q>
where
    DB: Backend,
    Q: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}
