//! `pop_change_log`: writing a write's rows, and reading a POP's history (paged, filtered, by
//! status change, by writer, after a sequence).

use super::*;

crate::db_row! {
    /// A change-log row to insert.
    #[derive(Debug, Clone)]
    pub struct NewChange in pop_change_log {
        /// The POP.
        pub pop_id: i64,
        /// Who made the change.
        pub user_id: Option<i64>,
        /// What kind of write.
        pub action: crate::domain::ChangeAction,
        /// Field name.
        pub field_name: String,
        /// Value before.
        pub old_value: Option<Value>,
        /// Value after.
        pub new_value: Option<Value>,
        /// The POP's autosave sequence after the write.
        pub autosave_sequence: i32,
        /// Related snapshot.
        pub snapshot_id: Option<i64>,
        /// When.
        pub created_at: DateTime<Utc>,
    }
}

/// Inserts change-log rows (see `insert_rows!` in [`crate::with_backend!`]).
pub async fn insert_changes(conn: &mut Conn<'_>, changes: &[NewChange]) -> Result<(), AppError> {
    if changes.is_empty() {
        return Ok(());
    }
    with_backend!(conn, |c| insert_rows!(
        c,
        schema::pop_change_log::table,
        changes
    ))?;
    Ok(())
}

/// Which entries of a POP's change log a history page holds.
#[derive(Debug, Clone, Default)]
pub struct ChangeFilter {
    /// Only entries for this field (legacy column name).
    pub field: Option<String>,
    /// Only entries of writes after this autosave sequence.
    pub since_sequence: Option<i32>,
    /// Only entries of these actions; `None`: all.
    pub actions: Option<Vec<crate::domain::ChangeAction>>,
}

/// A POP's change log narrowed by a [`ChangeFilter`], boxed.
macro_rules! filtered_changes {
    ($pop_id:expr, $filter:expr) => {{
        let filter: &ChangeFilter = $filter;
        let mut query = schema::pop_change_log::table
            .filter(schema::pop_change_log::pop_id.eq($pop_id))
            .into_boxed();
        if let Some(field) = &filter.field {
            query = query.filter(schema::pop_change_log::field_name.eq(field.clone()));
        }
        if let Some(since) = filter.since_sequence {
            query = query.filter(schema::pop_change_log::autosave_sequence.gt(since));
        }
        if let Some(actions) = &filter.actions {
            query = query.filter(schema::pop_change_log::action.eq_any(actions.clone()));
        }
        query
    }};
}

/// The page of a POP's change log [`list_changes`] reads.
macro_rules! changes_page {
    ($pop_id:expr, $filter:expr, $page:expr) => {
        paginate!(
            filtered_changes!($pop_id, $filter),
            schema::pop_change_log::id,
            $page
        )
        .select(ChangeLogEntry::as_select())
    };
}

/// A page of a POP's change log, newest first, narrowed by `filter`.
pub async fn list_changes(
    conn: &mut Conn<'_>,
    pop_id: i64,
    filter: &ChangeFilter,
    page: &Page,
) -> Result<Vec<ChangeLogEntry>, AppError> {
    let rows = with_backend!(conn, |c| changes_page!(pop_id, filter, page)
        .load::<ChangeLogEntry>(c)
        .await)?;
    Ok(newest_first(rows, page))
}

/// How many change-log rows of a POP `filter` keeps.
pub async fn count_changes(
    conn: &mut Conn<'_>,
    pop_id: i64,
    filter: &ChangeFilter,
) -> Result<i64, AppError> {
    Ok(with_backend!(conn, |c| filtered_changes!(pop_id, filter)
        .count()
        .get_result::<i64>(c)
        .await)?)
}

/// The change-log rows of these POPs' status changes that say what the status became or why:
/// `(pop_id, row id, field_name, new_value)` with `field_name` `status` or `status_reason`.
pub async fn status_change_rows(
    conn: &mut Conn<'_>,
    pop_ids: &[i64],
) -> Result<Vec<(i64, i64, String, Option<Value>)>, AppError> {
    Ok(with_backend!(conn, |c| schema::pop_change_log::table
        .filter(schema::pop_change_log::pop_id.eq_any(pop_ids))
        .filter(schema::pop_change_log::action.eq(crate::domain::ChangeAction::Status))
        .filter(schema::pop_change_log::field_name.eq_any(["status", "status_reason"]))
        .select((
            schema::pop_change_log::pop_id,
            schema::pop_change_log::id,
            schema::pop_change_log::field_name,
            schema::pop_change_log::new_value,
        ))
        .load::<(i64, i64, String, Option<Value>)>(c)
        .await)?)
}

/// The username of whoever made a POP's write number `sequence` (`None` for the system, imported
/// rows, or a sequence the change log does not hold).
pub async fn writer_of(
    conn: &mut Conn<'_>,
    pop_id: i64,
    sequence: i32,
) -> Result<Option<String>, AppError> {
    let user: Option<Option<i64>> = with_backend!(conn, |c| schema::pop_change_log::table
        .filter(schema::pop_change_log::pop_id.eq(pop_id))
        .filter(schema::pop_change_log::autosave_sequence.eq(sequence))
        .order(schema::pop_change_log::id.desc())
        .select(schema::pop_change_log::user_id)
        .first::<Option<i64>>(c)
        .await
        .optional())?;
    let Some(Some(user)) = user else {
        return Ok(None);
    };
    Ok(users_by_ids(conn, &[user])
        .await?
        .into_iter()
        .next()
        .map(|u| u.username))
}

/// A POP's change-log rows written after `sequence` (the POP's autosave sequence), newest
/// first, at most `limit` of them (to rebuild an earlier version, `domain::rebase`).
pub async fn changes_after(
    conn: &mut Conn<'_>,
    pop_id: i64,
    sequence: i32,
    limit: i64,
) -> Result<Vec<ChangeLogEntry>, AppError> {
    Ok(with_backend!(conn, |c| schema::pop_change_log::table
        .filter(schema::pop_change_log::pop_id.eq(pop_id))
        .filter(schema::pop_change_log::autosave_sequence.gt(sequence))
        .order((
            schema::pop_change_log::autosave_sequence.desc(),
            schema::pop_change_log::id.desc(),
        ))
        .limit(limit)
        .select(ChangeLogEntry::as_select())
        .load::<ChangeLogEntry>(c)
        .await)?)
}
