//! Every SQL statement MapaGov runs, grouped by table, each written once for both backends.
//!
//! Functions take a [`Conn`] (a pooled connection or one inside [`super::Db::write`]); the
//! `lock_*` functions take the POP row lock on PostgreSQL (`SELECT … FOR UPDATE`, through
//! `for_update!` of [`crate::with_backend!`]), which is how concurrent writers of one POP are serialized there (SQLite
//! writers are serialized by `BEGIN IMMEDIATE`).

use super::models::{ChangeLogEntry, Pop, PopContent, Snapshot, User};
use super::types::DbUuid;
use super::Conn;
use crate::domain::search::SearchQuery;
use crate::error::AppError;
use crate::{
    change_log_columns, pop_columns, pop_content_values, snapshot_columns, user_columns,
    with_backend,
};
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

// ---------------------------------------------------------------------------------------------
// pops

/// Which POPs a reader may list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Visibility {
    /// Every POP.
    All,
    /// POPs created by this user, or of these areas.
    OwnedOrArea {
        /// The user.
        user_id: i64,
        /// The areas the user reviews (empty: none).
        areas: Vec<String>,
    },
    /// Nothing.
    #[default]
    Nothing,
}

/// Filters of the POP list.
#[derive(Debug, Clone, Default)]
pub struct PopFilter {
    /// Which POPs the reader may see at all.
    pub visible: Visibility,
    /// Only this status.
    pub status: Option<crate::domain::Status>,
    /// Only this editing session.
    pub session_id: Option<String>,
    /// Only this area code.
    pub area_codigo: Option<String>,
    /// Only these area codes (an area and its sub-areas).
    pub area_in: Option<Vec<String>>,
    /// Only POPs created by this user.
    pub created_by: Option<i64>,
    /// Include soft-deleted POPs.
    pub include_deleted: bool,
    /// Only POPs whose text matches this search.
    pub search: Option<SearchQuery>,
    /// Only POPs whose document contains this JSON object (`@>`).
    pub document_contains: Option<Value>,
}

macro_rules! filtered_pops {
    ($filter:expr) => {{
        let filter: &PopFilter = $filter;
        let mut query = schema::pops::table.into_boxed();
        match &filter.visible {
            Visibility::All => {}
            Visibility::OwnedOrArea { user_id, areas } if areas.is_empty() => {
                query = query.filter(schema::pops::created_by_id.eq(*user_id));
            }
            Visibility::OwnedOrArea { user_id, areas } => {
                query = query.filter(
                    schema::pops::created_by_id
                        .eq(*user_id)
                        .or(schema::pops::area_codigo.eq_any(areas.clone())),
                );
            }
            Visibility::Nothing => {
                query = query.filter(schema::pops::id.lt(0));
            }
        }
        if let Some(status) = &filter.status {
            query = query.filter(schema::pops::status.eq(*status));
        }
        if let Some(session) = &filter.session_id {
            query = query.filter(schema::pops::session_id.eq(session.clone()));
        }
        if let Some(area) = &filter.area_codigo {
            query = query.filter(schema::pops::area_codigo.eq(area.clone()));
        }
        if let Some(areas) = &filter.area_in {
            query = query.filter(schema::pops::area_codigo.eq_any(areas.clone()));
        }
        if let Some(user) = filter.created_by {
            query = query.filter(schema::pops::created_by_id.eq(user));
        }
        if !filter.include_deleted {
            query = query.filter(schema::pops::deleted_at.is_null());
        }
        if let Some(search) = &filter.search {
            query = query.filter(schema::search::matches(search));
        }
        if let Some(needle) = &filter.document_contains {
            query = query.filter(schema::search::contains(needle));
        }
        query
    }};
}

/// The page of POPs [`list_pops`] reads, newest first.
macro_rules! pops_page {
    ($filter:expr, $page:expr) => {
        paginate!(filtered_pops!($filter), schema::pops::id, $page).select(pop_columns!())
    };
}

/// The page of POPs [`search_pops`] reads, most relevant first, with each one's score.
macro_rules! ranked_pops_page {
    ($filter:expr, $search:expr, $page:expr) => {
        paginate_ranked!(
            filtered_pops!($filter),
            schema::search::score($search),
            schema::pops::id,
            $page
        )
        .select((pop_columns!(), schema::search::score($search)))
    };
}

/// A POP by public id, deleted or not.
pub async fn pop_by_uuid(conn: &mut Conn<'_>, uuid: uuid::Uuid) -> Result<Option<Pop>, AppError> {
    Ok(with_backend!(conn, |c| schema::pops::table
        .filter(schema::pops::uuid.eq(DbUuid(uuid)))
        .select(pop_columns!())
        .first::<Pop>(c)
        .await
        .optional())?)
}

/// POPs by internal ids (any order).
pub async fn pops_by_ids(conn: &mut Conn<'_>, ids: &[i64]) -> Result<Vec<Pop>, AppError> {
    Ok(with_backend!(conn, |c| schema::pops::table
        .filter(schema::pops::id.eq_any(ids))
        .select(pop_columns!())
        .load::<Pop>(c)
        .await)?)
}

/// Locks and returns a POP by public id.
pub async fn lock_pop_by_uuid(
    conn: &mut Conn<'_>,
    uuid: uuid::Uuid,
) -> Result<Option<Pop>, AppError> {
    Ok(with_backend!(conn, |c| for_update!(schema::pops::table
        .filter(schema::pops::uuid.eq(DbUuid(uuid)))
        .select(pop_columns!()))
    .first::<Pop>(c)
    .await
    .optional())?)
}

/// Locks and returns a POP by internal id.
pub async fn lock_pop_by_id(conn: &mut Conn<'_>, id: i64) -> Result<Option<Pop>, AppError> {
    Ok(with_backend!(conn, |c| for_update!(schema::pops::table
        .find(id)
        .select(pop_columns!()))
    .first::<Pop>(c)
    .await
    .optional())?)
}

/// Serializes the autosaves without `popId` of an editing session: on PostgreSQL a
/// transaction-scoped advisory lock on the session id, so two first autosaves of one session
/// cannot both create a POP (SQLite writers are already serialized).
pub async fn lock_session(conn: &mut Conn<'_>, session_id: &str) -> Result<(), AppError> {
    if let Conn::Pg(c) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind::<diesel::sql_types::Text, _>(session_id)
            .execute(&mut **c)
            .await?;
    }
    Ok(())
}

/// Locks and returns at most `limit` non-deleted POPs of an editing session among those created
/// by `owner`, newest first.
pub async fn lock_session_pops(
    conn: &mut Conn<'_>,
    session_id: &str,
    owner: i64,
    limit: i64,
) -> Result<Vec<Pop>, AppError> {
    Ok(with_backend!(conn, |c| for_update!(schema::pops::table
        .filter(schema::pops::session_id.eq(session_id))
        .filter(schema::pops::created_by_id.eq(owner))
        .filter(schema::pops::deleted_at.is_null())
        .order((schema::pops::updated_at.desc(), schema::pops::id.desc()))
        .limit(limit)
        .select(pop_columns!()))
    .load::<Pop>(c)
    .await)?)
}

/// The non-deleted POPs of a session, oldest first (not locked).
pub async fn session_pops(conn: &mut Conn<'_>, session_id: &str) -> Result<Vec<Pop>, AppError> {
    Ok(with_backend!(conn, |c| schema::pops::table
        .filter(schema::pops::session_id.eq(session_id))
        .filter(schema::pops::deleted_at.is_null())
        .order(schema::pops::id.asc())
        .select(pop_columns!())
        .load::<Pop>(c)
        .await)?)
}

/// A page of POPs, newest first.
pub async fn list_pops(
    conn: &mut Conn<'_>,
    filter: &PopFilter,
    page: &Page,
) -> Result<Vec<Pop>, AppError> {
    let rows = with_backend!(conn, |c| pops_page!(filter, page).load::<Pop>(c).await)?;
    Ok(newest_first(rows, page))
}

/// A page of POPs matching `filter.search` (an internal error without one), most relevant first,
/// each with its score (the page's cursor key, with the id).
pub async fn search_pops(
    conn: &mut Conn<'_>,
    filter: &PopFilter,
    page: &Page,
) -> Result<Vec<(Pop, f64)>, AppError> {
    let search = filter
        .search
        .as_ref()
        .ok_or_else(|| AppError::internal("search_pops called without a search"))?;
    let rows = with_backend!(conn, |c| ranked_pops_page!(filter, search, page)
        .load::<(Pop, f64)>(c)
        .await)?;
    Ok(newest_first(rows, page))
}

/// How many POPs match.
pub async fn count_pops(conn: &mut Conn<'_>, filter: &PopFilter) -> Result<i64, AppError> {
    Ok(with_backend!(conn, |c| filtered_pops!(filter)
        .count()
        .get_result::<i64>(c)
        .await)?)
}

/// A POP to insert.
#[derive(Debug, Clone)]
pub struct NewPop<'a> {
    /// Public id.
    pub uuid: uuid::Uuid,
    /// Editing session.
    pub session_id: Option<&'a str>,
    /// Owner.
    pub created_by_id: Option<i64>,
    /// Content.
    pub content: &'a PopContent,
    /// Version (1, or 0 for a clone never published).
    pub versao: i32,
    /// Legacy hash of the document.
    pub integrity_hash: &'a str,
    /// Autosave sequence.
    pub autosave_sequence: i32,
    /// Front-end form state.
    pub raw_payload: Option<&'a Value>,
    /// Creation time (also the first update and activity time).
    pub now: DateTime<Utc>,
}

/// Inserts a draft POP.
pub async fn insert_pop(conn: &mut Conn<'_>, new: &NewPop<'_>) -> Result<Pop, AppError> {
    Ok(with_backend!(conn, |c| diesel::insert_into(
        schema::pops::table
    )
    .values((
        (
            schema::pops::uuid.eq(DbUuid(new.uuid)),
            schema::pops::session_id.eq(new.session_id),
            schema::pops::created_by_id.eq(new.created_by_id),
            schema::pops::status.eq(crate::domain::Status::Draft),
            schema::pops::versao.eq(new.versao),
            schema::pops::integrity_hash.eq(new.integrity_hash),
            schema::pops::autosave_sequence.eq(new.autosave_sequence),
            schema::pops::raw_payload.eq(new.raw_payload),
            schema::pops::created_at.eq(new.now),
            schema::pops::updated_at.eq(new.now),
            schema::pops::last_autosave_at.eq(Some(new.now)),
            schema::pops::last_activity_at.eq(new.now),
        ),
        pop_content_values!(new.content),
    ))
    .returning(pop_columns!())
    .get_result::<Pop>(c)
    .await)?)
}

/// Writes a POP's next state (every column a write may change, in one statement; nothing is
/// read back: the caller built `pop`). `NOT_FOUND` when the row is gone.
pub async fn update_pop(conn: &mut Conn<'_>, pop: &Pop) -> Result<(), AppError> {
    let meta = &pop.meta;
    let updated = with_backend!(conn, |c| diesel::update(schema::pops::table.find(meta.id))
        .set((
            (
                schema::pops::status.eq(&meta.status),
                schema::pops::versao.eq(meta.versao),
                schema::pops::integrity_hash.eq(&meta.integrity_hash),
                schema::pops::autosave_sequence.eq(meta.autosave_sequence),
                schema::pops::raw_payload.eq(&meta.raw_payload),
                schema::pops::updated_at.eq(meta.updated_at),
                schema::pops::last_autosave_at.eq(meta.last_autosave_at),
                schema::pops::last_activity_at.eq(meta.last_activity_at),
                schema::pops::deleted_at.eq(meta.deleted_at),
                schema::pops::cap_duplicate.eq(meta.cap_duplicate),
            ),
            pop_content_values!(&pop.content),
        ))
        .execute(c)
        .await)?;
    if updated == 1 {
        Ok(())
    } else {
        Err(AppError::NotFound("POP"))
    }
}

// ---------------------------------------------------------------------------------------------
// pop_snapshots

/// A snapshot by id.
pub async fn snapshot_by_id(conn: &mut Conn<'_>, id: i64) -> Result<Option<Snapshot>, AppError> {
    Ok(with_backend!(conn, |c| schema::pop_snapshots::table
        .find(id)
        .select(snapshot_columns!())
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
        .select(snapshot_columns!())
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

/// A snapshot to insert; its sequence is the POP's next one.
#[derive(Debug, Clone)]
pub struct NewSnapshot<'a> {
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
    pub now: DateTime<Utc>,
}

/// Inserts a snapshot with the POP's next sequence number.
pub async fn insert_snapshot(
    conn: &mut Conn<'_>,
    new: &NewSnapshot<'_>,
) -> Result<Snapshot, AppError> {
    Ok(with_backend!(conn, |c| {
        let last: Option<i32> = schema::pop_snapshots::table
            .filter(schema::pop_snapshots::pop_id.eq(new.pop_id))
            .select(diesel::dsl::max(schema::pop_snapshots::sequence))
            .first(&mut *c)
            .await?;
        diesel::insert_into(schema::pop_snapshots::table)
            .values((
                schema::pop_snapshots::pop_id.eq(new.pop_id),
                schema::pop_snapshots::sequence.eq(last.unwrap_or(0) + 1),
                schema::pop_snapshots::kind.eq(new.kind),
                schema::pop_snapshots::versao.eq(new.versao),
                schema::pop_snapshots::autosave_sequence.eq(new.autosave_sequence),
                schema::pop_snapshots::status.eq(new.status),
                schema::pop_snapshots::integrity_hash.eq(new.integrity_hash),
                schema::pop_snapshots::payload.eq(new.payload),
                schema::pop_snapshots::milestone.eq(false),
                schema::pop_snapshots::label.eq(new.label),
                schema::pop_snapshots::created_by_id.eq(new.created_by_id),
                schema::pop_snapshots::created_at.eq(new.now),
            ))
            .returning(snapshot_columns!())
            .get_result::<Snapshot>(c)
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
    .returning(snapshot_columns!())
    .get_result::<Snapshot>(c)
    .await
    .optional())?)
}

// ---------------------------------------------------------------------------------------------
// pop_change_log

/// A change-log row to insert.
#[derive(Debug, Clone)]
pub struct NewChange {
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
    pub now: DateTime<Utc>,
}

macro_rules! change_row {
    ($ch:expr) => {{
        let ch: &NewChange = $ch;
        (
            schema::pop_change_log::pop_id.eq(ch.pop_id),
            schema::pop_change_log::user_id.eq(ch.user_id),
            schema::pop_change_log::action.eq(ch.action),
            schema::pop_change_log::field_name.eq(&ch.field_name),
            schema::pop_change_log::old_value.eq(&ch.old_value),
            schema::pop_change_log::new_value.eq(&ch.new_value),
            schema::pop_change_log::autosave_sequence.eq(ch.autosave_sequence),
            schema::pop_change_log::snapshot_id.eq(ch.snapshot_id),
            schema::pop_change_log::created_at.eq(ch.now),
        )
    }};
}

/// Inserts change-log rows (see `insert_rows!` in [`crate::with_backend!`]).
pub async fn insert_changes(conn: &mut Conn<'_>, changes: &[NewChange]) -> Result<(), AppError> {
    if changes.is_empty() {
        return Ok(());
    }
    with_backend!(conn, |c| {
        let rows: Vec<_> = changes.iter().map(|ch| change_row!(ch)).collect();
        insert_rows!(c, schema::pop_change_log::table, rows)
    })?;
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
        .select(change_log_columns!())
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
        .select(change_log_columns!())
        .load::<ChangeLogEntry>(c)
        .await)?)
}

// ---------------------------------------------------------------------------------------------
// idempotency_keys

/// The stored request hash and response of an idempotency key.
pub async fn idempotency_record(
    conn: &mut Conn<'_>,
    key: &str,
) -> Result<Option<(String, Value)>, AppError> {
    Ok(with_backend!(conn, |c| schema::idempotency_keys::table
        .find(key)
        .select((
            schema::idempotency_keys::request_hash,
            schema::idempotency_keys::response,
        ))
        .first::<(String, Value)>(c)
        .await
        .optional())?)
}

/// Claims an idempotency key for the current write transaction: inserts it with the request's
/// fingerprint and an empty (`null`) response, which [`set_idempotency_response`] fills in before
/// the transaction commits. `false` when the key is already stored. On PostgreSQL an insert of a
/// key that another open transaction has claimed waits for that transaction to end (the primary
/// key settles the race), so `false` means a committed row is there to read.
pub async fn claim_idempotency(
    conn: &mut Conn<'_>,
    key: &str,
    request_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let inserted = with_backend!(conn, |c| diesel::insert_into(
        schema::idempotency_keys::table
    )
    .values((
        schema::idempotency_keys::key.eq(key),
        schema::idempotency_keys::request_hash.eq(request_hash),
        schema::idempotency_keys::response.eq(&Value::Null),
        schema::idempotency_keys::created_at.eq(now),
    ))
    .on_conflict_do_nothing()
    .execute(c)
    .await)?;
    Ok(inserted == 1)
}

/// Stores the response of a key claimed by [`claim_idempotency`] in this transaction.
pub async fn set_idempotency_response(
    conn: &mut Conn<'_>,
    key: &str,
    response: &Value,
) -> Result<(), AppError> {
    let updated = with_backend!(conn, |c| diesel::update(
        schema::idempotency_keys::table.find(key)
    )
    .set(schema::idempotency_keys::response.eq(response))
    .execute(c)
    .await)?;
    if updated == 1 {
        Ok(())
    } else {
        Err(AppError::internal(
            "an idempotency key vanished inside its transaction",
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// users

/// The username of user `id`, if there is one.
pub async fn username_of(conn: &mut Conn<'_>, id: Option<i64>) -> Result<Option<String>, AppError> {
    let Some(id) = id else {
        return Ok(None);
    };
    Ok(users_by_ids(conn, &[id])
        .await?
        .into_iter()
        .next()
        .map(|user| user.username))
}

/// Users by id (any order).
pub async fn users_by_ids(conn: &mut Conn<'_>, ids: &[i64]) -> Result<Vec<User>, AppError> {
    Ok(with_backend!(conn, |c| schema::users::table
        .filter(schema::users::id.eq_any(ids))
        .select(user_columns!())
        .load::<User>(c)
        .await)?)
}

/// A user by username.
pub async fn user_by_username(
    conn: &mut Conn<'_>,
    username: &str,
) -> Result<Option<User>, AppError> {
    Ok(with_backend!(conn, |c| schema::users::table
        .filter(schema::users::username.eq(username))
        .select(user_columns!())
        .first::<User>(c)
        .await
        .optional())?)
}

/// How many users exist.
pub async fn count_users(conn: &mut Conn<'_>) -> Result<i64, AppError> {
    Ok(with_backend!(conn, |c| schema::users::table
        .count()
        .get_result::<i64>(c)
        .await)?)
}

/// All users, by username.
pub async fn list_users(conn: &mut Conn<'_>) -> Result<Vec<User>, AppError> {
    Ok(with_backend!(conn, |c| schema::users::table
        .order(schema::users::username.asc())
        .select(user_columns!())
        .load::<User>(c)
        .await)?)
}

/// A user to insert.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    /// Unique login name.
    pub username: &'a str,
    /// Password hash (`!` for none).
    pub password_hash: &'a str,
    /// Staff flag.
    pub is_staff: bool,
    /// Area the user reviews.
    pub area_codigo: Option<&'a str>,
    /// Creation time.
    pub now: DateTime<Utc>,
}

/// Inserts a user.
pub async fn insert_user(conn: &mut Conn<'_>, new: &NewUser<'_>) -> Result<User, AppError> {
    Ok(with_backend!(conn, |c| diesel::insert_into(
        schema::users::table
    )
    .values((
        schema::users::username.eq(new.username),
        schema::users::password_hash.eq(new.password_hash),
        schema::users::is_staff.eq(new.is_staff),
        schema::users::area_codigo.eq(new.area_codigo),
        schema::users::created_at.eq(new.now),
    ))
    .returning(user_columns!())
    .get_result::<User>(c)
    .await)?)
}

/// An active user and its password hash, by username.
pub async fn user_credentials(
    conn: &mut Conn<'_>,
    username: &str,
) -> Result<Option<(User, String)>, AppError> {
    Ok(with_backend!(conn, |c| schema::users::table
        .filter(schema::users::username.eq(username))
        .filter(schema::users::is_active.eq(true))
        .select((user_columns!(), schema::users::password_hash))
        .first::<(User, String)>(c)
        .await
        .optional())?)
}

/// Records a successful login, replacing the password hash when given.
pub async fn record_login(
    conn: &mut Conn<'_>,
    user_id: i64,
    new_hash: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    with_backend!(conn, |c| {
        let target = schema::users::table.find(user_id);
        match new_hash {
            Some(hash) => {
                diesel::update(target)
                    .set((
                        schema::users::last_login_at.eq(now),
                        schema::users::password_hash.eq(hash),
                    ))
                    .execute(c)
                    .await
            }
            None => {
                diesel::update(target)
                    .set(schema::users::last_login_at.eq(now))
                    .execute(c)
                    .await
            }
        }
    })?;
    Ok(())
}

/// Stores a token digest for a user.
pub async fn insert_token(
    conn: &mut Conn<'_>,
    user_id: i64,
    digest: &str,
    label: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    with_backend!(conn, |c| diesel::insert_into(schema::api_tokens::table)
        .values((
            schema::api_tokens::user_id.eq(user_id),
            schema::api_tokens::token_hash.eq(digest),
            schema::api_tokens::label.eq(label),
            schema::api_tokens::created_at.eq(now),
        ))
        .execute(c)
        .await)?;
    Ok(())
}

/// The active user owning a token that is not revoked, with when the token was issued and last
/// used (whether it expired is for the caller to decide).
pub async fn user_by_token(
    conn: &mut Conn<'_>,
    digest: &str,
) -> Result<Option<(User, crate::auth::token::Usage)>, AppError> {
    let found = with_backend!(conn, |c| schema::api_tokens::table
        .inner_join(schema::users::table)
        .filter(schema::api_tokens::token_hash.eq(digest))
        .filter(schema::api_tokens::revoked_at.is_null())
        .filter(schema::users::is_active.eq(true))
        .select((
            user_columns!(),
            schema::api_tokens::created_at,
            schema::api_tokens::last_used_at,
        ))
        .first::<(User, DateTime<Utc>, Option<DateTime<Utc>>)>(c)
        .await
        .optional())?;
    Ok(found.map(|(user, created_at, last_used_at)| {
        (
            user,
            crate::auth::token::Usage {
                created_at,
                last_used_at,
            },
        )
    }))
}

/// Records that a token was used at `now`.
pub async fn touch_token(
    conn: &mut Conn<'_>,
    digest: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    with_backend!(conn, |c| diesel::update(
        schema::api_tokens::table.filter(schema::api_tokens::token_hash.eq(digest))
    )
    .set(schema::api_tokens::last_used_at.eq(now))
    .execute(c)
    .await)?;
    Ok(())
}

/// Revokes one token; returns how many were revoked (0 or 1).
pub async fn revoke_token(
    conn: &mut Conn<'_>,
    digest: &str,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    Ok(with_backend!(conn, |c| diesel::update(
        schema::api_tokens::table
            .filter(schema::api_tokens::token_hash.eq(digest))
            .filter(schema::api_tokens::revoked_at.is_null())
    )
    .set(schema::api_tokens::revoked_at.eq(now))
    .execute(c)
    .await)?)
}

/// Revokes every token of a user; returns how many were revoked.
pub async fn revoke_user_tokens(
    conn: &mut Conn<'_>,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    Ok(with_backend!(conn, |c| diesel::update(
        schema::api_tokens::table
            .filter(schema::api_tokens::user_id.eq(user_id))
            .filter(schema::api_tokens::revoked_at.is_null())
    )
    .set(schema::api_tokens::revoked_at.eq(now))
    .execute(c)
    .await)?)
}

// ---------------------------------------------------------------------------------------------
// query plans

/// A read statement of the server, named with its arguments (see [`explain`]).
#[derive(Debug, Clone, Copy)]
pub enum Statement<'a> {
    /// [`list_pops`].
    ListPops(&'a PopFilter, &'a Page),
    /// [`search_pops`].
    SearchPops(&'a PopFilter, &'a Page),
    /// [`count_pops`].
    CountPops(&'a PopFilter),
    /// [`list_snapshots`] of a POP.
    ListSnapshots(i64, &'a Page),
    /// [`list_changes`] of a POP.
    ListChanges(i64, &'a ChangeFilter, &'a Page),
}

/// PostgreSQL's plan (`EXPLAIN (FORMAT JSON)`) for a statement, built by the very query builders
/// the functions above run, with the same bound parameters: to check which indexes serve them.
pub async fn explain(
    conn: &mut diesel_async::AsyncPgConnection,
    statement: Statement<'_>,
) -> Result<Value, AppError> {
    use super::explain::Explain;
    use super::schema::pg as schema;
    let plan = match statement {
        Statement::ListPops(filter, page) => {
            Explain(pops_page!(filter, page)).get_result(conn).await
        }
        Statement::SearchPops(filter, page) => {
            let search = filter
                .search
                .as_ref()
                .ok_or_else(|| AppError::internal("SearchPops without a search"))?;
            Explain(ranked_pops_page!(filter, search, page))
                .get_result(conn)
                .await
        }
        Statement::CountPops(filter) => {
            Explain(filtered_pops!(filter).count())
                .get_result(conn)
                .await
        }
        Statement::ListSnapshots(pop_id, page) => {
            Explain(snapshots_page!(pop_id, None, page))
                .get_result(conn)
                .await
        }
        Statement::ListChanges(pop_id, filter, page) => {
            Explain(changes_page!(pop_id, filter, page))
                .get_result(conn)
                .await
        }
    }?;
    Ok(plan)
}
