//! `pops`: reading POPs (one, by session, lists with filters, full-text search), locking them
//! for a write, inserting and updating them.

use super::*;

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
        paginate!(filtered_pops!($filter), schema::pops::id, $page).select(Pop::as_select())
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
        .select((Pop::as_select(), schema::search::score($search)))
    };
}

/// A POP by public id, deleted or not.
pub async fn pop_by_uuid(conn: &mut Conn<'_>, uuid: uuid::Uuid) -> Result<Option<Pop>, AppError> {
    Ok(with_backend!(conn, |c| schema::pops::table
        .filter(schema::pops::uuid.eq(DbUuid(uuid)))
        .select(Pop::as_select())
        .first::<Pop>(c)
        .await
        .optional())?)
}

/// POPs by internal ids (any order).
pub async fn pops_by_ids(conn: &mut Conn<'_>, ids: &[i64]) -> Result<Vec<Pop>, AppError> {
    Ok(with_backend!(conn, |c| schema::pops::table
        .filter(schema::pops::id.eq_any(ids))
        .select(Pop::as_select())
        .load::<Pop>(c)
        .await)?)
}

/// Who POP `id` belongs to (its owner, area and state, not its documents), if it exists.
pub async fn pop_ownership(conn: &mut Conn<'_>, id: i64) -> Result<Option<PopOwnership>, AppError> {
    Ok(with_backend!(conn, |c| schema::pops::table
        .find(id)
        .select(PopOwnership::as_select())
        .first::<PopOwnership>(c)
        .await
        .optional())?)
}

/// As [`pop_ownership`], by public id.
pub async fn pop_ownership_by_uuid(
    conn: &mut Conn<'_>,
    uuid: uuid::Uuid,
) -> Result<Option<PopOwnership>, AppError> {
    Ok(with_backend!(conn, |c| schema::pops::table
        .filter(schema::pops::uuid.eq(DbUuid(uuid)))
        .select(PopOwnership::as_select())
        .first::<PopOwnership>(c)
        .await
        .optional())?)
}

/// Locks and returns a POP by public id.
pub async fn lock_pop_by_uuid(
    conn: &mut Conn<'_>,
    uuid: uuid::Uuid,
) -> Result<Option<Pop>, AppError> {
    Ok(with_backend!(conn, |c| for_update!(schema::pops::table
        .filter(schema::pops::uuid.eq(DbUuid(uuid)))
        .select(Pop::as_select()))
    .first::<Pop>(c)
    .await
    .optional())?)
}

/// Locks and returns a POP by internal id.
pub async fn lock_pop_by_id(conn: &mut Conn<'_>, id: i64) -> Result<Option<Pop>, AppError> {
    Ok(with_backend!(conn, |c| for_update!(schema::pops::table
        .find(id)
        .select(Pop::as_select()))
    .first::<Pop>(c)
    .await
    .optional())?)
}

/// Serializes the autosaves without `popId` of an editing session: on PostgreSQL a
/// transaction-scoped advisory lock on the session id, so two first autosaves of one session
/// cannot both create a POP (SQLite writers are already serialized).
pub async fn lock_session(conn: &mut Conn<'_>, session_id: &str) -> Result<(), AppError> {
    if let Conn::Pg(c) = conn {
        Prepared(
            diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind::<diesel::sql_types::Text, _>(session_id),
        )
        .execute(&mut *c)
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
        .select(Pop::as_select()))
    .load::<Pop>(c)
    .await)?)
}

/// The non-deleted POPs of a session, oldest first (not locked).
pub async fn session_pops(conn: &mut Conn<'_>, session_id: &str) -> Result<Vec<Pop>, AppError> {
    Ok(with_backend!(conn, |c| schema::pops::table
        .filter(schema::pops::session_id.eq(session_id))
        .filter(schema::pops::deleted_at.is_null())
        .order(schema::pops::id.asc())
        .select(Pop::as_select())
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

crate::db_row! {
    /// A POP's control fields to insert (its content is inserted beside them).
    #[derive(Debug, Clone)]
    pub struct NewPop<'a> into pops {
        /// Public id.
        pub uuid: DbUuid,
        /// Editing session.
        pub session_id: Option<&'a str>,
        /// Owner.
        pub created_by_id: Option<i64>,
        /// Workflow status (a new POP is a draft).
        pub status: crate::domain::Status,
        /// Version (1, or 0 for a clone never published).
        pub versao: i32,
        /// Legacy hash of the document.
        pub integrity_hash: &'a str,
        /// Autosave sequence.
        pub autosave_sequence: i32,
        /// Front-end form state.
        pub raw_payload: Option<&'a Value>,
        /// Creation time.
        pub created_at: DateTime<Utc>,
        /// Last write (the creation).
        pub updated_at: DateTime<Utc>,
        /// Last autosave (the creation).
        pub last_autosave_at: Option<DateTime<Utc>>,
        /// Last activity (the creation).
        pub last_activity_at: DateTime<Utc>,
    }
}

/// Inserts a POP: its control fields and its content.
pub async fn insert_pop(
    conn: &mut Conn<'_>,
    new: &NewPop<'_>,
    content: &PopContent,
) -> Result<Pop, AppError> {
    Ok(with_backend!(conn, |c| diesel::insert_into(
        schema::pops::table
    )
    .values((new, content))
    .returning(Pop::as_select())
    .get_result::<Pop>(c)
    .await)?)
}

/// Writes a POP's next state: one `UPDATE` of the columns that differ from `before` (the row as
/// the caller locked and read it), so a save of one field leaves the others, and the large
/// documents among them, out of the statement. Nothing is read back: the caller built `next`.
/// `NOT_FOUND` when the row is gone.
pub async fn update_pop(conn: &mut Conn<'_>, before: &Pop, next: &Pop) -> Result<(), AppError> {
    let updated = with_backend!(conn, |c| Prepared(
        diesel::update(schema::pops::table.find(next.meta.id)).set((
            Assignments::<schema::pops::table>::changed_from(&next.meta, &before.meta),
            Assignments::<schema::pops::table>::changed_from(&next.content, &before.content),
        ))
    )
    .execute(c)
    .await)?;
    if updated == 1 {
        Ok(())
    } else {
        Err(AppError::NotFound("POP"))
    }
}
