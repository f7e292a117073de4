//! The status workflow and soft deletion.
//!
//! ```text
//! draft ──submit──▶ in_review ──publish──▶ published ──archive──▶ archived
//!   ▲                  │
//!   └──reject (reason)─┘
//! ```
//! Publishing increments `versao` and takes a snapshot. Every transition is an accepted write:
//! the autosave sequence goes up and the hash is recomputed (it covers `status` and `versao`).

use super::document::hash_of;
use super::snapshots::take;
use super::{Actor, SnapshotKind, Status};
use crate::db::models::{Pop, Snapshot};
use crate::db::queries::{self, NewChange, PopUpdate};
use crate::db::Db;
use crate::error::AppError;
use chrono::Utc;
use scoped_futures::ScopedFutureExt;
use serde_json::json;

/// Whether the workflow allows `from → to`, and whether it needs a reason.
pub fn transition(from: Status, to: Status) -> Option<bool> {
    match (from, to) {
        (Status::Draft, Status::InReview)
        | (Status::InReview, Status::Published)
        | (Status::Published, Status::Archived) => Some(false),
        (Status::InReview, Status::Draft) => Some(true),
        _ => None,
    }
}

/// What a status change did.
#[derive(Debug, Clone)]
pub struct StatusChanged {
    /// The POP after the change.
    pub pop: Pop,
    /// The snapshot taken on publication.
    pub snapshot: Option<Snapshot>,
}

/// Moves a POP through the workflow.
pub async fn change_status(
    db: &Db,
    actor: &Actor,
    pop_id: uuid::Uuid,
    to: Status,
    reason: Option<&str>,
) -> Result<StatusChanged, AppError> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    db.write(|mut conn| {
        async move {
            let now = Utc::now();
            let pop = super::pops::lock_existing(&mut conn, pop_id).await?;
            if !actor.can_read(&pop) {
                return Err(AppError::NotFound("POP"));
            }
            if pop.meta.deleted_at.is_some() {
                return Err(AppError::PopLocked {
                    status: "deleted".into(),
                });
            }
            let from = Status::parse(&pop.meta.status).ok_or_else(|| {
                AppError::internal(format!("unknown stored status {}", pop.meta.status))
            })?;
            let needs_reason = transition(from, to).ok_or_else(|| AppError::InvalidTransition {
                from: from.as_str().into(),
                to: to.as_str().into(),
            })?;
            let allowed = match (from, to) {
                (Status::Draft, Status::InReview) => actor.can_edit(&pop),
                _ => actor.can_review(&pop),
            };
            if !allowed {
                return Err(AppError::Forbidden);
            }
            if needs_reason && reason.is_none() {
                return Err(AppError::bad_input(
                    "reason",
                    "a reason is required to send a POP back to draft",
                ));
            }
            let versao = if to == Status::Published {
                pop.meta.versao + 1
            } else {
                pop.meta.versao
            };
            let sequence = pop.meta.autosave_sequence + 1;
            let mut meta = pop.meta.clone();
            meta.status = to.as_str().into();
            meta.versao = versao;
            meta.autosave_sequence = sequence;
            let hash = hash_of(&meta, &pop.content);
            let updated = queries::update_pop(
                &mut conn,
                pop.meta.id,
                &PopUpdate {
                    content: &pop.content,
                    status: to.as_str(),
                    versao,
                    integrity_hash: &hash,
                    autosave_sequence: sequence,
                    raw_payload: pop.meta.raw_payload.as_ref(),
                    autosaved_at: None,
                    deleted_at: None,
                    now,
                },
            )
            .await?;
            let snapshot = if to == Status::Published {
                Some(
                    take(
                        &mut conn,
                        &updated,
                        SnapshotKind::StatusChange,
                        None,
                        actor,
                        now,
                    )
                    .await?,
                )
            } else {
                None
            };
            let change = |field: &str, old: serde_json::Value, new: serde_json::Value| NewChange {
                pop_id: pop.meta.id,
                user_id: actor.user_id,
                action: "status",
                field_name: field.into(),
                old_value: Some(old),
                new_value: Some(new),
                autosave_sequence: sequence,
                snapshot_id: snapshot.as_ref().map(|s| s.id),
                now,
            };
            let mut log = vec![change("status", json!(from.as_str()), json!(to.as_str()))];
            if versao != pop.meta.versao {
                log.push(change("versao", json!(pop.meta.versao), json!(versao)));
            }
            if let Some(reason) = reason {
                log.push(change(
                    "status_reason",
                    serde_json::Value::Null,
                    json!(reason),
                ));
            }
            queries::insert_changes(&mut conn, &log).await?;
            Ok(StatusChanged {
                pop: updated,
                snapshot,
            })
        }
        .scope_boxed()
    })
    .await
}

/// Soft-deletes a POP (it stays readable by whoever may see it; lists hide it by default).
/// Deleting a deleted POP changes nothing; a published POP must be archived instead.
pub async fn delete(db: &Db, actor: &Actor, pop_id: uuid::Uuid) -> Result<Pop, AppError> {
    db.write(|mut conn| {
        async move {
            let now = Utc::now();
            let pop = super::pops::lock_existing(&mut conn, pop_id).await?;
            if !actor.can_read(&pop) {
                return Err(AppError::NotFound("POP"));
            }
            if !actor.can_edit(&pop) {
                return Err(AppError::Forbidden);
            }
            if pop.meta.deleted_at.is_some() {
                return Ok(pop);
            }
            if pop.meta.status == Status::Published.as_str() {
                return Err(AppError::PopLocked {
                    status: pop.meta.status.clone(),
                });
            }
            let sequence = pop.meta.autosave_sequence + 1;
            let updated = queries::update_pop(
                &mut conn,
                pop.meta.id,
                &PopUpdate {
                    content: &pop.content,
                    status: &pop.meta.status,
                    versao: pop.meta.versao,
                    integrity_hash: &pop.meta.integrity_hash,
                    autosave_sequence: sequence,
                    raw_payload: pop.meta.raw_payload.as_ref(),
                    autosaved_at: None,
                    deleted_at: Some(now),
                    now,
                },
            )
            .await?;
            queries::insert_changes(
                &mut conn,
                &[deletion(pop.meta.id, actor.user_id, sequence, now)],
            )
            .await?;
            Ok(updated)
        }
        .scope_boxed()
    })
    .await
}

/// The change-log row of a soft delete by `user_id` (`None`: the system, e.g. `mapagov cleanup`)
/// that left the POP at autosave `sequence`.
pub fn deletion(
    pop_id: i64,
    user_id: Option<i64>,
    sequence: i32,
    now: chrono::DateTime<Utc>,
) -> NewChange {
    NewChange {
        pop_id,
        user_id,
        action: "delete",
        field_name: "deleted_at".into(),
        old_value: None,
        new_value: Some(json!(now.to_rfc3339())),
        autosave_sequence: sequence,
        snapshot_id: None,
        now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_documented_transitions_are_allowed() {
        let all = [
            Status::Draft,
            Status::InReview,
            Status::Published,
            Status::Archived,
        ];
        let mut allowed = Vec::new();
        for from in all {
            for to in all {
                if let Some(needs_reason) = transition(from, to) {
                    allowed.push((from.as_str(), to.as_str(), needs_reason));
                }
            }
        }
        assert_eq!(
            allowed,
            vec![
                ("draft", "in_review", false),
                ("in_review", "draft", true),
                ("in_review", "published", false),
                ("published", "archived", false),
            ]
        );
    }
}
