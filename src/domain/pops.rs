//! Reading POPs, their snapshots and their history.

use super::Actor;
use crate::db::models::{ChangeLogEntry, Pop, PopOwnership, Snapshot};
use crate::db::queries::{self, ChangeFilter, Page, PopFilter};
use crate::db::{Conn, Db};
use crate::error::AppError;

/// Parses a public POP id: a UUID with or without hyphens.
pub fn parse_public_id(field: &str, raw: &str) -> Result<uuid::Uuid, AppError> {
    uuid::Uuid::parse_str(raw.trim())
        .map_err(|_| AppError::bad_input(field, "not a POP id (expected a UUID)"))
}

/// A POP by public id, deleted or not, if the actor may read it (`None` otherwise, exactly as if
/// it did not exist).
pub async fn find(db: &Db, actor: &Actor, id: uuid::Uuid) -> Result<Option<Pop>, AppError> {
    let mut pooled = db.read().await?;
    let pop = queries::pop_by_uuid(&mut pooled.conn(), id).await?;
    Ok(pop.filter(|pop| actor.can_read(pop)))
}

/// A history entry by id, if the actor may read its POP (`None` otherwise, exactly as if it did
/// not exist).
pub async fn history_entry(
    db: &Db,
    actor: &Actor,
    id: i64,
) -> Result<Option<ChangeLogEntry>, AppError> {
    let mut pooled = db.read().await?;
    let mut conn = pooled.conn();
    let Some(entry) = crate::db::history::entry_by_id(&mut conn, id).await? else {
        return Ok(None);
    };
    let pop = queries::pops_by_ids(&mut conn, &[entry.pop_id])
        .await?
        .into_iter()
        .next();
    Ok(pop.filter(|pop| actor.can_read(pop)).map(|_| entry))
}

/// A page of POPs and the total matching the filter.
pub async fn list(db: &Db, filter: &PopFilter, page: &Page) -> Result<(Vec<Pop>, i64), AppError> {
    let mut pooled = db.read().await?;
    let mut conn = pooled.conn();
    let rows = queries::list_pops(&mut conn, filter, page).await?;
    let total = queries::count_pops(&mut conn, filter).await?;
    Ok((rows, total))
}

/// A page of POPs matching `filter.search`, most relevant first, each with its score, and the
/// total matching the filter.
pub async fn search(
    db: &Db,
    filter: &PopFilter,
    page: &Page,
) -> Result<(Vec<(Pop, f64)>, i64), AppError> {
    let mut pooled = db.read().await?;
    let mut conn = pooled.conn();
    let rows = queries::search_pops(&mut conn, filter, page).await?;
    let total = queries::count_pops(&mut conn, filter).await?;
    Ok((rows, total))
}

/// A page of a POP's snapshots (of `kinds` only, when given) and how many there are.
pub async fn snapshots(
    db: &Db,
    pop_id: i64,
    kinds: Option<&[super::SnapshotKind]>,
    page: &Page,
) -> Result<(Vec<Snapshot>, i64), AppError> {
    let mut pooled = db.read().await?;
    let mut conn = pooled.conn();
    let rows = queries::list_snapshots(&mut conn, pop_id, kinds, page).await?;
    let total = queries::count_snapshots(&mut conn, pop_id, kinds).await?;
    Ok((rows, total))
}

/// A page of a POP's change log, newest first, and how many entries match.
pub async fn history(
    db: &Db,
    pop_id: i64,
    filter: &ChangeFilter,
    page: &Page,
) -> Result<(Vec<ChangeLogEntry>, i64), AppError> {
    let mut pooled = db.read().await?;
    let mut conn = pooled.conn();
    let rows = queries::list_changes(&mut conn, pop_id, filter, page).await?;
    let total = queries::count_changes(&mut conn, pop_id, filter).await?;
    Ok((rows, total))
}

/// Which POP to lock.
#[derive(Debug, Clone, Copy)]
pub enum PopKey {
    /// By public id.
    Public(uuid::Uuid),
    /// By internal id.
    Internal(i64),
}

/// Locks a POP for a write once `allowed` accepts it; `NOT_FOUND` (naming `missing`, e.g. `POP`
/// or `snapshot`) when it does not exist.
///
/// `allowed` runs first on what the access rules read of the row ([`PopOwnership`]: a few
/// columns, not its documents), read without a lock, so a caller who may not touch the POP
/// neither waits for its lock nor holds it (otherwise anyone could stall another user's saves by
/// writing to that user's POPs in a loop), then again on the locked row, which may have changed
/// in between.
pub async fn lock_permitted(
    conn: &mut Conn<'_>,
    key: PopKey,
    missing: &'static str,
    allowed: impl Fn(&PopOwnership) -> Result<(), AppError>,
) -> Result<Pop, AppError> {
    let unlocked = match key {
        PopKey::Public(uuid) => queries::pop_ownership_by_uuid(conn, uuid).await?,
        PopKey::Internal(id) => queries::pop_ownership(conn, id).await?,
    };
    allowed(unlocked.as_ref().ok_or(AppError::NotFound(missing))?)?;
    let locked = match key {
        PopKey::Public(uuid) => queries::lock_pop_by_uuid(conn, uuid).await?,
        PopKey::Internal(id) => queries::lock_pop_by_id(conn, id).await?,
    };
    let pop = locked.ok_or(AppError::NotFound(missing))?;
    allowed(&PopOwnership::from(&pop))?;
    Ok(pop)
}
