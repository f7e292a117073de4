//! `pop_snapshots`: a POP's snapshots, paged, counted, taken and marked as milestones.

use super::*;
use chrono::SubsecRound;

/// A snapshot by id.
pub async fn snapshot_by_id(conn: &mut Conn<'_>, id: i64) -> Result<Option<Snapshot>, AppError> {
    Ok(with_backend!(conn, |c| schema::pop_snapshots::table
        .find(id)
        .select(Snapshot::as_select())
        .first::<Snapshot>(c)
        .await
        .optional())?)
}

/// The id and integrity hash of a POP's newest snapshot (without its payload, which is only
/// needed when it is the one to return).
pub async fn latest_snapshot_hash(
    conn: &mut Conn<'_>,
    pop_id: i64,
) -> Result<Option<(i64, String)>, AppError> {
    Ok(with_backend!(conn, |c| schema::pop_snapshots::table
        .filter(schema::pop_snapshots::pop_id.eq(pop_id))
        .order(schema::pop_snapshots::sequence.desc())
        .select((
            schema::pop_snapshots::id,
            schema::pop_snapshots::integrity_hash,
        ))
        .first::<(i64, String)>(c)
        .await
        .optional())?)
}

/// A POP's snapshots, of the stored `kinds` only when given.
macro_rules! filtered_snapshots {
    ($pop_id:expr, $kinds:expr) => {{
        let kinds: Option<&[crate::domain::SnapshotKind]> = $kinds;
        let mut query = schema::pop_snapshots::table
            .filter(schema::pop_snapshots::pop_id.eq($pop_id))
            .into_boxed();
        if let Some(kinds) = kinds {
            query = query.filter(schema::pop_snapshots::kind.eq_any(kinds.to_vec()));
        }
        query
    }};
}

/// The page of a POP's snapshots [`list_snapshots`] reads.
macro_rules! snapshots_page {
    ($pop_id:expr, $kinds:expr, $page:expr) => {
        paginate!(
            filtered_snapshots!($pop_id, $kinds),
            schema::pop_snapshots::id,
            $page
        )
        .select(Snapshot::as_select())
    };
}

/// A page of a POP's snapshots (of the stored `kinds` only, when given), newest first.
pub async fn list_snapshots(
    conn: &mut Conn<'_>,
    pop_id: i64,
    kinds: Option<&[crate::domain::SnapshotKind]>,
    page: &Page,
) -> Result<Vec<Snapshot>, AppError> {
    let rows = with_backend!(conn, |c| snapshots_page!(pop_id, kinds, page)
        .load::<Snapshot>(c)
        .await)?;
    Ok(newest_first(rows, page))
}

/// How many snapshots a POP has (of the stored `kinds` only, when given).
pub async fn count_snapshots(
    conn: &mut Conn<'_>,
    pop_id: i64,
    kinds: Option<&[crate::domain::SnapshotKind]>,
) -> Result<i64, AppError> {
    Ok(with_backend!(conn, |c| filtered_snapshots!(pop_id, kinds)
        .count()
        .get_result::<i64>(c)
        .await)?)
}

crate::db_row! {
    /// A snapshot to insert; its sequence is the POP's next one.
    #[derive(Debug, Clone)]
    pub struct NewSnapshot<'a> into pop_snapshots {
        /// The POP (its row must be locked by the caller).
        pub pop_id: i64,
        /// Why it is taken.
        pub kind: crate::domain::SnapshotKind,
        /// The POP's version.
        pub versao: i32,
        /// The POP's autosave sequence.
        pub autosave_sequence: i32,
        /// The POP's status.
        pub status: crate::domain::Status,
        /// Legacy hash of the payload.
        pub integrity_hash: &'a str,
        /// The document.
        pub payload: &'a Value,
        /// A free label.
        pub label: Option<&'a str>,
        /// Who caused it.
        pub created_by_id: Option<i64>,
        /// When.
        pub created_at: DateTime<Utc>,
    }
}

diesel::define_sql_function! {
    /// SQL's `coalesce` of a nullable integer and a default.
    fn coalesce(value: diesel::sql_types::Nullable<diesel::sql_types::Integer>, default: diesel::sql_types::Integer) -> diesel::sql_types::Integer;
}

/// Inserts a snapshot with the POP's next sequence number, in one statement that returns only
/// what the database chose: its id and sequence (the caller already holds the rest, so the
/// payload is neither sent back nor decoded again). Its time is kept to the microsecond, as both
/// databases store it.
pub async fn insert_snapshot(
    conn: &mut Conn<'_>,
    new: &NewSnapshot<'_>,
) -> Result<(i64, i32), AppError> {
    let new = NewSnapshot {
        created_at: new.created_at.trunc_subsecs(6),
        ..new.clone()
    };
    Ok(with_backend!(conn, |c| {
        let last = schema::pop_snapshots::table
            .filter(schema::pop_snapshots::pop_id.eq(new.pop_id))
            .select(diesel::dsl::max(schema::pop_snapshots::sequence))
            .single_value();
        diesel::insert_into(schema::pop_snapshots::table)
            .values((
                &new,
                schema::pop_snapshots::sequence.eq(coalesce(last, 0) + 1),
                schema::pop_snapshots::milestone.eq(false),
            ))
            .returning((schema::pop_snapshots::id, schema::pop_snapshots::sequence))
            .get_result::<(i64, i32)>(c)
            .await
    })?)
}

/// Marks a snapshot as a milestone.
pub async fn set_milestone(
    conn: &mut Conn<'_>,
    id: i64,
    label: &str,
) -> Result<Option<Snapshot>, AppError> {
    Ok(with_backend!(conn, |c| diesel::update(
        schema::pop_snapshots::table.find(id)
    )
    .set((
        schema::pop_snapshots::milestone.eq(true),
        schema::pop_snapshots::milestone_label.eq(label),
    ))
    .returning(Snapshot::as_select())
    .get_result::<Snapshot>(c)
    .await
    .optional())?)
}
