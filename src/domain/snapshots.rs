//! Snapshots: taking them, backups of a session, restore, milestones and diffs.

use super::diff::{diff_documents, DocumentDiff};
use super::document::{content_from_document, document, hash_of, to_fields};
use super::{Actor, SnapshotKind, Status};
use crate::db::models::{Pop, Snapshot};
use crate::db::queries::{self, NewChange, NewSnapshot, PopUpdate};
use crate::db::{Conn, Db};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use scoped_futures::ScopedFutureExt;

/// Longest milestone label, in characters.
pub const MAX_MILESTONE_LABEL: usize = 120;

/// Takes a snapshot of `pop` as it is now.
pub async fn take(
    conn: &mut Conn<'_>,
    pop: &Pop,
    kind: SnapshotKind,
    label: Option<&str>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Snapshot, AppError> {
    let payload = document(&pop.meta, &pop.content);
    queries::insert_snapshot(
        conn,
        &NewSnapshot {
            pop_id: pop.meta.id,
            kind: kind.as_str(),
            versao: pop.meta.versao,
            autosave_sequence: pop.meta.autosave_sequence,
            status: &pop.meta.status,
            integrity_hash: &pop.meta.integrity_hash,
            payload: &payload,
            label,
            created_by_id: actor.user_id,
            now,
        },
    )
    .await
}

/// The latest snapshot if it already holds `pop`'s current document, else a new one of `kind`.
pub async fn take_unless_current(
    conn: &mut Conn<'_>,
    pop: &Pop,
    kind: SnapshotKind,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(Snapshot, bool), AppError> {
    match queries::latest_snapshot(conn, pop.meta.id).await? {
        Some(latest) if latest.integrity_hash == pop.meta.integrity_hash => Ok((latest, false)),
        _ => Ok((take(conn, pop, kind, None, actor, now).await?, true)),
    }
}

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
            for id in queries::session_pop_ids(&mut conn, session_id).await? {
                let pop = queries::lock_pop_by_id(&mut conn, id)
                    .await?
                    .ok_or(AppError::NotFound("POP"))?;
                // A session id grants nothing: only the caller's own POPs (all, for staff).
                if actor.can_edit(&pop) {
                    taken.push(
                        take(&mut conn, &pop, SnapshotKind::Backup, label, actor, now).await?,
                    );
                }
            }
            Ok(taken)
        }
        .scope_boxed()
    })
    .await
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
    expected_hash: Option<&str>,
) -> Result<Restored, AppError> {
    db.write(|mut conn| {
        async move {
            let now = Utc::now();
            let restored = queries::snapshot_by_id(&mut conn, snapshot_id)
                .await?
                .ok_or(AppError::NotFound("snapshot"))?;
            let pop = queries::lock_pop_by_id(&mut conn, restored.pop_id)
                .await?
                .filter(|pop| actor.can_read(pop))
                .ok_or(AppError::NotFound("snapshot"))?;
            if !actor.can_edit(&pop) {
                return Err(AppError::Forbidden);
            }
            ensure_editable(&pop)?;
            check_expected_hash(&pop, expected_hash)?;
            let (safety, _) =
                take_unless_current(&mut conn, &pop, SnapshotKind::PreRestore, actor, now).await?;

            let content = content_from_document(&restored.payload)?;
            let sequence = pop.meta.autosave_sequence + 1;
            let before = to_fields(&pop.content);
            let changes: Vec<NewChange> = to_fields(&content)
                .into_iter()
                .filter(|(field, value)| before.get(field) != Some(value))
                .map(|(field, value)| NewChange {
                    pop_id: pop.meta.id,
                    user_id: actor.user_id,
                    action: "restore",
                    old_value: before.get(&field).cloned(),
                    field_name: field,
                    new_value: Some(value),
                    autosave_sequence: sequence,
                    snapshot_id: Some(restored.id),
                    now,
                })
                .collect();
            let mut meta = pop.meta.clone();
            meta.autosave_sequence = sequence;
            let hash = hash_of(&meta, &content);
            let updated = queries::update_pop(
                &mut conn,
                pop.meta.id,
                &PopUpdate {
                    content: &content,
                    status: &pop.meta.status,
                    versao: pop.meta.versao,
                    integrity_hash: &hash,
                    autosave_sequence: sequence,
                    raw_payload: pop.meta.raw_payload.as_ref(),
                    autosaved_at: None,
                    deleted_at: pop.meta.deleted_at,
                    now,
                },
            )
            .await?;
            let mut log = changes;
            if log.is_empty() {
                // Nothing differed, but the restore still happened: say so in the history.
                log.push(NewChange {
                    pop_id: pop.meta.id,
                    user_id: actor.user_id,
                    action: "restore",
                    field_name: "snapshot".into(),
                    old_value: None,
                    new_value: Some(serde_json::json!(restored.id)),
                    autosave_sequence: sequence,
                    snapshot_id: Some(restored.id),
                    now,
                });
            }
            queries::insert_changes(&mut conn, &log).await?;
            Ok(Restored {
                pop: updated,
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
            let pop = queries::lock_pop_by_id(&mut conn, snapshot.pop_id)
                .await?
                .filter(|pop| actor.can_read(pop))
                .ok_or(AppError::NotFound("snapshot"))?;
            if !actor.can_edit(&pop) {
                return Err(AppError::Forbidden);
            }
            queries::set_milestone(&mut conn, snapshot_id, label)
                .await?
                .ok_or(AppError::NotFound("snapshot"))
        }
        .scope_boxed()
    })
    .await
}

/// A snapshot the actor may read (`None` otherwise, as if it did not exist), with its POP.
pub async fn readable(
    db: &Db,
    actor: &Actor,
    snapshot_id: i64,
) -> Result<Option<(Snapshot, Pop)>, AppError> {
    let mut pooled = db.get().await?;
    let mut conn = pooled.conn();
    let Some(snapshot) = queries::snapshot_by_id(&mut conn, snapshot_id).await? else {
        return Ok(None);
    };
    let pop = queries::pops_by_ids(&mut conn, &[snapshot.pop_id])
        .await?
        .into_iter()
        .next();
    Ok(pop
        .filter(|pop| actor.can_read(pop))
        .map(|pop| (snapshot, pop)))
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
            let mut pooled = db.get().await?;
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

/// Refuses writes to published, archived or deleted POPs.
pub fn ensure_editable(pop: &Pop) -> Result<(), AppError> {
    if pop.meta.deleted_at.is_some() {
        return Err(AppError::PopLocked {
            status: "deleted".into(),
        });
    }
    match Status::parse(&pop.meta.status) {
        Some(status) if status.is_editable() => Ok(()),
        _ => Err(AppError::PopLocked {
            status: pop.meta.status.clone(),
        }),
    }
}

/// `CONFLICT` when the client's hash is not the stored one.
pub fn check_expected_hash(pop: &Pop, expected: Option<&str>) -> Result<(), AppError> {
    match expected {
        Some(expected) if expected != pop.meta.integrity_hash => Err(AppError::Conflict {
            current_hash: pop.meta.integrity_hash.clone(),
            autosave_sequence: pop.meta.autosave_sequence,
            updated_at: pop.meta.updated_at,
        }),
        _ => Ok(()),
    }
}
