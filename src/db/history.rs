//! Statements of the readable history: the narrow scan of a POP's change log that editing
//! sessions are grouped from, the entries a session's diff needs, the milestones that end a
//! session, and the values a field had at a point in history (partial restore).
//!
//! The scan reads only the columns a session boundary depends on, newest first, through the index
//! `popchangelog_pop_id_idx` (a covering index on both backends, so the old and new values, which can
//! be large, are never read for grouping).

use super::models::ChangeLogEntry;
use super::Conn;
use crate::domain::ChangeAction;
use crate::error::AppError;
use crate::with_backend;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;

crate::db_row! {
    /// What session grouping reads of one change-log row.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct EntryMark from pop_change_log {
        /// Row id.
        pub id: i64,
        /// Who made the change.
        pub user_id: Option<i64>,
        /// What kind of write.
        pub action: ChangeAction,
        /// The field (legacy column name) or pseudo-field.
        pub field_name: String,
        /// The POP's autosave sequence after the write.
        pub autosave_sequence: i32,
        /// When.
        pub created_at: DateTime<Utc>,
    }
}

/// Up to `limit` change-log rows of a POP with an id below `below` (all when `None`), newest first.
pub async fn entry_marks(
    conn: &mut Conn<'_>,
    pop_id: i64,
    below: Option<i64>,
    limit: i64,
) -> Result<Vec<EntryMark>, AppError> {
    Ok(with_backend!(conn, |c| {
        let mut query = schema::pop_change_log::table
            .filter(schema::pop_change_log::pop_id.eq(pop_id))
            .into_boxed();
        if let Some(below) = below {
            query = query.filter(schema::pop_change_log::id.lt(below));
        }
        query
            .order(schema::pop_change_log::id.desc())
            .limit(limit)
            .select(EntryMark::as_select())
            .load::<EntryMark>(c)
            .await
    })?)
}

/// The autosave sequences of a POP's milestone snapshots.
pub async fn milestone_sequences(conn: &mut Conn<'_>, pop_id: i64) -> Result<Vec<i32>, AppError> {
    Ok(with_backend!(conn, |c| schema::pop_snapshots::table
        .filter(schema::pop_snapshots::pop_id.eq(pop_id))
        .filter(schema::pop_snapshots::milestone.eq(true))
        .select(schema::pop_snapshots::autosave_sequence)
        .load::<i32>(c)
        .await)?)
}

/// One change-log row by id.
pub async fn entry_by_id(conn: &mut Conn<'_>, id: i64) -> Result<Option<ChangeLogEntry>, AppError> {
    Ok(with_backend!(conn, |c| schema::pop_change_log::table
        .find(id)
        .select(ChangeLogEntry::as_select())
        .first::<ChangeLogEntry>(c)
        .await
        .optional())?)
}

/// Change-log rows of a POP by id (in no particular order).
pub async fn entries_by_ids(
    conn: &mut Conn<'_>,
    pop_id: i64,
    ids: &[i64],
) -> Result<Vec<ChangeLogEntry>, AppError> {
    Ok(with_backend!(conn, |c| schema::pop_change_log::table
        .filter(schema::pop_change_log::pop_id.eq(pop_id))
        .filter(schema::pop_change_log::id.eq_any(ids))
        .select(ChangeLogEntry::as_select())
        .load::<ChangeLogEntry>(c)
        .await)?)
}

/// The value `field` had just after the write with autosave sequence `sequence`, as the change
/// log tells it: the value before the first later change of the field (`None` when the field has
/// not changed since, or the log does not say).
pub async fn field_value_at(
    conn: &mut Conn<'_>,
    pop_id: i64,
    field: &str,
    sequence: i32,
) -> Result<Option<Option<Value>>, AppError> {
    Ok(with_backend!(conn, |c| schema::pop_change_log::table
        .filter(schema::pop_change_log::pop_id.eq(pop_id))
        .filter(schema::pop_change_log::field_name.eq(field))
        .filter(schema::pop_change_log::autosave_sequence.gt(sequence))
        .order(schema::pop_change_log::id.asc())
        .select(schema::pop_change_log::old_value)
        .first::<Option<Value>>(c)
        .await
        .optional())?)
}
