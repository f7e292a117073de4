//! The SQL of full-text search and JSON containment, one module per backend.
//!
//! [`super::schema`] re-exports the module of its backend as `schema::search`, so a query written
//! once inside [`crate::with_backend!`] picks the right SQL. User text only ever travels as a
//! bound parameter.
//!
//! - PostgreSQL: the generated column `pops.search_vector` (Portuguese stemming over unaccented
//!   text, GIN index `pop_search_idx`) matched with `plainto_tsquery`, ranked by `ts_rank`; the
//!   generated column `pops.document` (JSONB, GIN index `pop_document_idx`) and `@>`.
//! - SQLite: the FTS5 table `pops_fts` (accents folded, kept by triggers) ranked by `bm25`; the
//!   virtual column `pops.document` and the function [`sqlite::json_contains`], registered on every
//!   pooled connection by [`sqlite::register`].

use diesel::expression::BoxableExpression;
use diesel::sql_types::{Bool, Double, Text};
use serde_json::Value;

/// A validated full-text search (see [`crate::domain::search::parse`], which makes one): what
/// each backend's search SQL reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// The text as typed (trimmed), for PostgreSQL's `plainto_tsquery`, which never reads
    /// operators.
    pub text: String,
    /// The same words as an FTS5 expression in which every word is a quoted string, so FTS5
    /// reads no operator either (implicit AND between them).
    pub fts5: String,
}

/// A boolean condition on `T` for backend `DB`.
pub type Condition<T, DB> = Box<dyn BoxableExpression<T, DB, SqlType = Bool>>;
/// A relevance score on `T` for backend `DB`: higher is more relevant.
pub type Score<T, DB> = Box<dyn BoxableExpression<T, DB, SqlType = Double>>;

/// Whether `doc` contains `needle`, as PostgreSQL's `jsonb @>` decides it: an object contains an
/// object whose every key it has with a contained value; an array contains an array whose every
/// element some element of it contains (any order, duplicates allowed); scalars must be equal
/// (numbers by value, `1` = `1.0`); and, at the top level only, an array contains a scalar it
/// holds.
pub fn json_contains(doc: &Value, needle: &Value) -> bool {
    match (doc, needle) {
        (Value::Array(items), scalar) if !scalar.is_array() && !scalar.is_object() => {
            items.iter().any(|item| scalar_eq(item, scalar))
        }
        _ => contains(doc, needle),
    }
}

fn contains(doc: &Value, needle: &Value) -> bool {
    match (doc, needle) {
        (Value::Object(d), Value::Object(n)) => n
            .iter()
            .all(|(key, value)| d.get(key).is_some_and(|have| contains(have, value))),
        (Value::Array(d), Value::Array(n)) => n.iter().all(|want| {
            d.iter().any(|have| {
                if want.is_array() || want.is_object() {
                    contains(have, want)
                } else {
                    scalar_eq(have, want)
                }
            })
        }),
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => false,
        (a, b) => scalar_eq(a, b),
    }
}

fn scalar_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(_) | Value::Object(_), _) => false,
        (a, b) => a == b,
    }
}

/// PostgreSQL.
pub mod pg {
    use super::*;
    use crate::db::schema::pg::pops;
    use diesel::dsl::sql;
    use diesel::pg::Pg;

    const TSQUERY: &str = "plainto_tsquery('pg_catalog.portuguese', mapagov_unaccent(";

    /// The POP's text matches every word of the search.
    pub fn matches(search: &SearchQuery) -> Condition<pops::table, Pg> {
        Box::new(
            sql::<Bool>(&format!("pops.search_vector @@ {TSQUERY}"))
                .bind::<Text, _>(search.text.clone())
                .sql("))"),
        )
    }

    /// `ts_rank` of the POP's weighted text against the search.
    pub fn score(search: &SearchQuery) -> Score<pops::table, Pg> {
        Box::new(
            sql::<Double>(&format!("ts_rank(pops.search_vector, {TSQUERY}"))
                .bind::<Text, _>(search.text.clone())
                .sql(")))::float8"),
        )
    }

    /// The POP's document contains `needle` (`@>`).
    ///
    /// Written as a membership test in the ids of the matching POPs, computed once (`OFFSET 0`
    /// keeps the planner from flattening it into a join): JSONB documents are too wide for
    /// `ANALYZE` to sample, so the planner guesses that 1 % of POPs match and, for a page ordered
    /// by id, would walk the primary key testing (and detoasting) every document until the page
    /// is full, which for a rare value is the whole table. This way the ids come from
    /// `pop_document_idx` and the walk costs one hash probe per row.
    pub fn contains(needle: &serde_json::Value) -> Condition<pops::table, Pg> {
        Box::new(
            sql::<Bool>("pops.id IN (SELECT contained.id FROM pops AS contained WHERE contained.document @> ")
                .bind::<diesel::sql_types::Jsonb, _>(needle.clone())
                .sql(" OFFSET 0)"),
        )
    }
}

/// SQLite.
pub mod sqlite {
    use super::*;
    use crate::db::schema::sqlite::pops;
    use diesel::dsl::sql;
    use diesel::prelude::*;
    use diesel::sqlite::Sqlite;
    use diesel::SqliteConnection;

    diesel::define_sql_function! {
        /// `jsonb @>` for SQLite: whether the first JSON value contains the second (see
        /// [`super::json_contains`]).
        #[sql_name = "mapagov_json_contains"]
        fn json_contains(document: Text, needle: Text) -> Bool;
    }

    /// Registers [`json_contains`] on a connection (deterministic, so SQLite may use it anywhere).
    pub fn register(conn: &mut SqliteConnection) -> QueryResult<()> {
        json_contains_utils::register_impl(conn, |document: String, needle: String| {
            // Both sides are JSON the database or this module wrote; anything else contains
            // nothing.
            match (
                serde_json::from_str(&document),
                serde_json::from_str(&needle),
            ) {
                (Ok(document), Ok(needle)) => super::json_contains(&document, &needle),
                _ => false,
            }
        })
    }

    /// Column weights of `bm25`, in `pops_fts` column order: process name, deliverable, legal
    /// basis, points of attention, steps (the same order of importance as PostgreSQL's A–D).
    const BM25: &str = "bm25(pops_fts, 10.0, 4.0, 2.0, 2.0, 1.0)";

    /// The POP's text contains every word of the search.
    pub fn matches(search: &SearchQuery) -> Condition<pops::table, Sqlite> {
        Box::new(
            sql::<Bool>("pops.id IN (SELECT rowid FROM pops_fts WHERE pops_fts MATCH ")
                .bind::<Text, _>(search.fts5.clone())
                .sql(")"),
        )
    }

    /// Minus `bm25` (which is lower for better matches) of the POP against the search.
    pub fn score(search: &SearchQuery) -> Score<pops::table, Sqlite> {
        Box::new(
            sql::<Double>(&format!(
                "(SELECT -{BM25} FROM pops_fts WHERE pops_fts MATCH "
            ))
            .bind::<Text, _>(search.fts5.clone())
            .sql(" AND pops_fts.rowid = pops.id)"),
        )
    }

    /// The POP's document contains `needle` (the semantics of `jsonb @>`).
    pub fn contains(needle: &serde_json::Value) -> Condition<pops::table, Sqlite> {
        // The column is JSON text; the function takes text.
        Box::new(json_contains(
            sql::<Text>("pops.document"),
            needle.to_string(),
        ))
    }
}
