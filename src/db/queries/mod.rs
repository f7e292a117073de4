//! Every SQL statement MapaGov runs, grouped by table (a module each), each written once for both
//! backends; this module holds what they share (keyset pagination) and re-exports them, so a
//! caller writes `queries::insert_snapshot` whichever table it touches.
//!
//! Functions take a [`Conn`] (a pooled connection or one inside [`super::Db::write`]); the
//! `lock_*` functions take the POP row lock on PostgreSQL (`SELECT … FOR UPDATE`, through
//! `for_update!` of [`crate::with_backend!`]), which is how concurrent writers of one POP are serialized there (SQLite
//! writers are serialized by `BEGIN IMMEDIATE`).

use super::models::{ChangeLogEntry, Pop, PopContent, PopOwnership, Snapshot, User};
use super::prepared::Prepared;
use super::row::Assignments;
use super::search::SearchQuery;
use super::types::DbUuid;
use super::Conn;
use crate::error::AppError;
use crate::with_backend;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;

/// Keyset pagination over ids, newest (highest id) first.
#[derive(Debug, Clone, Copy, Default)]
pub struct Page {
    /// Only rows with a smaller id (forward pagination: `after`).
    pub below: Option<i64>,
    /// Only rows with a larger id (backward pagination: `before`).
    pub above: Option<i64>,
    /// Ranked lists: the score of the `below` row (rows after it score lower, or the same with a
    /// smaller id).
    pub below_score: Option<f64>,
    /// Ranked lists: the score of the `above` row.
    pub above_score: Option<f64>,
    /// How many rows to return at most.
    pub limit: i64,
    /// Take the rows nearest `above` (the last ones) instead of the first ones.
    pub from_end: bool,
}

macro_rules! paginate {
    ($query:expr, $id:expr, $page:expr) => {{
        let page: &Page = $page;
        let mut query = $query;
        if let Some(below) = page.below {
            query = query.filter($id.lt(below));
        }
        if let Some(above) = page.above {
            query = query.filter($id.gt(above));
        }
        if page.from_end {
            query.order($id.asc()).limit(page.limit)
        } else {
            query.order($id.desc()).limit(page.limit)
        }
    }};
}

/// Keyset pagination of a list ordered by a score, best first, then by id, newest first.
/// `$score` is evaluated once per use (a boxed expression is not `Clone`).
macro_rules! paginate_ranked {
    ($query:expr, $score:expr, $id:expr, $page:expr) => {{
        let page: &Page = $page;
        let mut query = $query;
        if let (Some(id), Some(score)) = (page.below, page.below_score) {
            query = query.filter($score.lt(score).or($score.eq(score).and($id.lt(id))));
        }
        if let (Some(id), Some(score)) = (page.above, page.above_score) {
            query = query.filter($score.gt(score).or($score.eq(score).and($id.gt(id))));
        }
        if page.from_end {
            query.order(($score.asc(), $id.asc())).limit(page.limit)
        } else {
            query.order(($score.desc(), $id.desc())).limit(page.limit)
        }
    }};
}

fn newest_first<T>(mut rows: Vec<T>, page: &Page) -> Vec<T> {
    if page.from_end {
        rows.reverse();
    }
    rows
}

#[macro_use]
mod pops;
#[macro_use]
mod snapshots;
#[macro_use]
mod changes;
mod idempotency;
mod plans;
mod users;

pub use changes::*;
pub use idempotency::*;
pub use plans::*;
pub use pops::*;
pub use snapshots::*;
pub use users::*;
