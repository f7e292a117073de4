//! The review queue of an area: its POPs in review (sub-areas included), oldest submission first.
//!
//! A POP's submission is its last status change (the one that moved it to `in_review`, since it
//! is in review now), read from the change log; a POP imported in review has none, and its last
//! write stands in.

use super::{areas, Actor, Status};
use crate::db::models::Pop;
use crate::db::{Conn, Db};
use crate::error::AppError;
use crate::with_backend;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use std::collections::HashMap;

/// Longest queue returned (the oldest submissions).
pub const MAX_QUEUE: usize = 500;

/// One POP waiting for review.
#[derive(Debug, Clone)]
pub struct QueueEntry {
    /// The POP.
    pub pop: Pop,
    /// When it was submitted.
    pub submitted_at: DateTime<Utc>,
    /// Who submitted it, when the change log says.
    pub submitted_by: Option<i64>,
}

/// The queue of the area `codigo` and its sub-areas, oldest submission first. Staff and the
/// reviewers of that area (or of an area above it) may read it: `FORBIDDEN` for anyone else,
/// `BAD_USER_INPUT` (naming `areaCodigo`) for an area that does not exist.
pub async fn queue(db: &Db, actor: &Actor, codigo: &str) -> Result<Vec<QueueEntry>, AppError> {
    let mut pooled = db.read().await?;
    let mut conn = pooled.conn();
    let all = areas::all(&mut conn).await?;
    let codes = areas::with_descendants(&all, codigo);
    if codes.is_empty() {
        return Err(AppError::bad_input(
            "areaCodigo",
            format!("there is no area `{codigo}`"),
        ));
    }
    if !actor.is_staff && !actor.reviewed_areas.iter().any(|a| a == codigo) {
        return Err(AppError::Forbidden);
    }
    let pops = in_review(&mut conn, &codes).await?;
    let ids: Vec<i64> = pops.iter().map(|p| p.meta.id).collect();
    let submissions = submissions(&mut conn, &ids).await?;
    let mut entries: Vec<QueueEntry> = pops
        .into_iter()
        .map(|pop| {
            let (submitted_at, submitted_by) = submissions
                .get(&pop.meta.id)
                .copied()
                .unwrap_or((pop.meta.updated_at, None));
            QueueEntry {
                pop,
                submitted_at,
                submitted_by,
            }
        })
        .collect();
    entries.sort_by_key(|e| (e.submitted_at, e.pop.meta.id));
    entries.truncate(MAX_QUEUE);
    Ok(entries)
}

/// The live POPs in review of the areas `codes`.
async fn in_review(conn: &mut Conn<'_>, codes: &[String]) -> Result<Vec<Pop>, AppError> {
    Ok(with_backend!(conn, |c| schema::pops::table
        .filter(schema::pops::status.eq(Status::InReview.as_str()))
        .filter(schema::pops::deleted_at.is_null())
        .filter(schema::pops::area_codigo.eq_any(codes))
        .order(schema::pops::id)
        .select(Pop::as_select())
        .load::<Pop>(c)
        .await)?)
}

/// Per POP, the time and author of its last status change.
async fn submissions(
    conn: &mut Conn<'_>,
    ids: &[i64],
) -> Result<HashMap<i64, (DateTime<Utc>, Option<i64>)>, AppError> {
    let rows: Vec<(i64, DateTime<Utc>, Option<i64>)> =
        with_backend!(conn, |c| schema::pop_change_log::table
            .filter(schema::pop_change_log::pop_id.eq_any(ids))
            .filter(schema::pop_change_log::action.eq(super::ChangeAction::Status))
            .filter(schema::pop_change_log::field_name.eq("status"))
            .order(schema::pop_change_log::id)
            .select((
                schema::pop_change_log::pop_id,
                schema::pop_change_log::created_at,
                schema::pop_change_log::user_id,
            ))
            .load(c)
            .await)?;
    // In id order: the last row of each POP wins.
    Ok(rows
        .into_iter()
        .map(|(pop, at, by)| (pop, (at, by)))
        .collect())
}
