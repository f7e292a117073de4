//! Snapshots: taking them, backups of a session, restore, milestones and diffs.

use super::diff::{diff_documents, DocumentDiff};
use super::document::{content_from_document, document};
use super::pops::{lock_permitted, PopKey};
use super::transition::{
    self, check_expected_hash, ensure_editable, take, take_unless_current, Change, ExpectedHash,
};
use super::{Actor, SnapshotKind};
use crate::db::models::{Pop, PopOwnership, Snapshot};
use crate::db::queries;
use crate::db::{Conn, Db};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use scoped_futures::ScopedFutureExt;

/// Longest milestone label, in characters.
pub const MAX_MILESTONE_LABEL: usize = 120;

/// A snapshot of every non-deleted POP of a session, in one transaction.
pub async fn backup_session(
    db: &Db,
    actor: &Actor,
    session_id: &str,
    label: Option<&str>,
) -> Result<Vec<Snapshot>, AppError> {
    if session_id.trim().is_empty() {
        return Err(AppError::bad_input("sessionId", "must not be empty"));
    }
    let label = label.map(str::trim).filter(|l| !l.is_empty());
    db.write(|mut conn| {
        async move {
            let now = Utc::now();
            let mut taken = Vec::new();
            // A session id grants nothing: only the caller's own POPs (all, for staff), and only
            // those are locked.
            let mine = queries::session_pops(&mut conn, session_id).await?;
            for pop in mine.into_iter().filter(|pop| actor.can_edit(pop)) {
                let key = PopKey::Internal(pop.meta.id);
                taken.extend(backup_one(&mut conn, actor, key, label, now).await?);
            }
            Ok(taken)
        }
        .scope_boxed()
    })
    .await
}

/// A snapshot of one POP (kind `BACKUP`, with the label), by public id: for an editor that works
/// by `popId`. `NOT_FOUND` for a POP the caller may not edit or that is deleted.
pub async fn backup_pop(
    db: &Db,
    actor: &Actor,
    pop_id: uuid::Uuid,
    label: Option<&str>,
) -> Result<Snapshot, AppError> {
    let label = label.map(str::trim).filter(|l| !l.is_empty());
    db.write(|mut conn| {
        async move {
            let key = PopKey::Public(pop_id);
            backup_one(&mut conn, actor, key, label, Utc::now())
                .await?
                .ok_or(AppError::NotFound("POP"))
        }
        .scope_boxed()
    })
    .await
}

/// Locks a POP the caller may edit and takes its backup snapshot; `None` if it is deleted.
async fn backup_one(
    conn: &mut Conn<'_>,
    actor: &Actor,
    key: PopKey,
    label: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<Snapshot>, AppError> {
    let may_edit = |pop: &PopOwnership| actor.may_edit(pop, "POP");
    let pop = lock_permitted(conn, key, "POP", may_edit).await?;
    if pop.meta.deleted_at.is_some() {
        return Ok(None);
    }
    let doc = document(&pop.meta, &pop.content);
    let taken = take(conn, &pop, doc, SnapshotKind::Backup, label, actor, now).await?;
    Ok(Some(taken))
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The POP after the restore.
    pub pop: Pop,
    /// The snapshot that was applied.
    pub restored: Snapshot,
    /// The snapshot holding the state before the restore (new, or the latest if it already held it).
    pub safety: Snapshot,
}

/// Applies a snapshot's document to its POP, after saving the current state.
pub async fn restore(
    db: &Db,
    actor: &Actor,
    snapshot_id: i64,
    expected: ExpectedHash<'_>,
) -> Result<Restored, AppError> {
    expected.require("expectedHash")?;
    db.write(|mut conn| {
        async move {
            let now = Utc::now();
            let restored = queries::snapshot_by_id(&mut conn, snapshot_id)
                .await?
                .ok_or(AppError::NotFound("snapshot"))?;
            let key = PopKey::Internal(restored.pop_id);
            let pop = lock_permitted(&mut conn, key, "snapshot", |pop| {
                actor.may_edit(pop, "snapshot")
            })
            .await?;
            ensure_editable(&pop)?;
            check_expected_hash(&mut conn, &pop, expected.hash).await?;
            let doc = document(&pop.meta, &pop.content);
            let (safety, _) =
                take_unless_current(&mut conn, &pop, doc, SnapshotKind::PreRestore, actor, now)
                    .await?;
            let mut content = content_from_document(&restored.payload)?;
            // A snapshot older than step ids: its steps get theirs now (see `steps`).
            content.etapas = super::steps::identify(&content.etapas, &pop.content.etapas).into();
            let change = Change::Restore {
                snapshot: &restored,
                content,
            };
            let applied = transition::apply(&mut conn, actor, pop, change, now).await?;
            Ok(Restored {
                pop: applied.pop,
                restored,
                safety,
            })
        }
        .scope_boxed()
    })
    .await
}

/// Marks a snapshot as a milestone (kept forever by retention).
pub async fn mark_milestone(
    db: &Db,
    actor: &Actor,
    snapshot_id: i64,
    label: &str,
) -> Result<Snapshot, AppError> {
    let label = label.trim();
    let length = label.chars().count();
    if length == 0 || length > MAX_MILESTONE_LABEL {
        return Err(AppError::bad_input(
            "label",
            format!("must be 1 to {MAX_MILESTONE_LABEL} characters"),
        ));
    }
    db.write(|mut conn| {
        async move {
            let snapshot = queries::snapshot_by_id(&mut conn, snapshot_id)
                .await?
                .ok_or(AppError::NotFound("snapshot"))?;
            let key = PopKey::Internal(snapshot.pop_id);
            lock_permitted(&mut conn, key, "snapshot", |pop| {
                actor.may_edit(pop, "snapshot")
            })
            .await?;
            queries::set_milestone(&mut conn, snapshot_id, label)
                .await?
                .ok_or(AppError::NotFound("snapshot"))
        }
        .scope_boxed()
    })
    .await
}

/// A snapshot the actor may read (`None` otherwise, as if it did not exist).
pub async fn readable(
    db: &Db,
    actor: &Actor,
    snapshot_id: i64,
) -> Result<Option<Snapshot>, AppError> {
    let mut pooled = db.read().await?;
    let mut conn = pooled.conn();
    let Some(snapshot) = queries::snapshot_by_id(&mut conn, snapshot_id).await? else {
        return Ok(None);
    };
    // Only who the POP belongs to: its documents (a megabyte for a large POP) are not needed to
    // decide.
    let owner = queries::pop_ownership(&mut conn, snapshot.pop_id).await?;
    Ok(owner
        .filter(|owner| actor.can_read(owner))
        .map(|_| snapshot))
}

/// The difference between a snapshot and another snapshot of the same POP, or the POP's current
/// document when `to` is `None`.
pub async fn diff(
    db: &Db,
    from: &Snapshot,
    to: Option<&Snapshot>,
) -> Result<DocumentDiff, AppError> {
    match to {
        Some(to) if to.pop_id != from.pop_id => Err(AppError::bad_input(
            "toId",
            "the two snapshots belong to different POPs",
        )),
        Some(to) => Ok(diff_documents(&from.payload, &to.payload)),
        None => {
            let mut pooled = db.read().await?;
            let pop = queries::pops_by_ids(&mut pooled.conn(), &[from.pop_id])
                .await?
                .into_iter()
                .next()
                .ok_or(AppError::NotFound("POP"))?;
            Ok(diff_documents(
                &from.payload,
                &document(&pop.meta, &pop.content),
            ))
        }
    }
}
