//! The status workflow and soft deletion.
//!
//! ```text
//! draft ──submit──▶ in_review ──publish──▶ published ──archive──▶ archived
//!   ▲                  │
//!   └──reject (reason)─┘
//! ```
//! Publishing increments `versao` and takes a snapshot. Every transition is an accepted write:
//! the autosave sequence goes up and the hash is recomputed (it covers `status` and `versao`).

use super::pops::{lock_permitted, PopKey};
use super::transition::{apply, check_expected_hash, Change, ExpectedHash};
use super::{Actor, Status};
use crate::db::models::{Pop, Snapshot};
use crate::db::Db;
use crate::error::AppError;
use chrono::Utc;
use scoped_futures::ScopedFutureExt;

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

/// Moves a POP through the workflow. With `expected.hash`, only from the version the reviewer
/// saw (`CONFLICT` otherwise): nothing unseen is published, sent back or archived.
pub async fn change_status(
    db: &Db,
    actor: &Actor,
    pop_id: uuid::Uuid,
    to: Status,
    reason: Option<&str>,
    expected: ExpectedHash<'_>,
) -> Result<StatusChanged, AppError> {
    expected.require("expectedHash")?;
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    db.write(|mut conn| {
        async move {
            let now = Utc::now();
            let pop = lock_permitted(&mut conn, PopKey::Public(pop_id), "POP", |pop| {
                actor.may_read(pop, "POP")
            })
            .await?;
            if pop.meta.deleted_at.is_some() {
                return Err(AppError::PopLocked {
                    status: "deleted".into(),
                });
            }
            let from = pop.meta.status;
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
            check_expected_hash(&mut conn, &pop, expected.hash).await?;
            let change = Change::Status { to, reason };
            let applied = apply(&mut conn, actor, pop, change, now).await?;
            Ok(StatusChanged {
                pop: applied.pop,
                snapshot: applied.snapshot,
            })
        }
        .scope_boxed()
    })
    .await
}

/// Soft-deletes a POP (it stays readable by whoever may see it; lists hide it by default).
/// Deleting a deleted POP changes nothing; a published POP must be archived instead. With
/// `expected.hash`, only the version the caller saw (`CONFLICT` otherwise).
pub async fn delete(
    db: &Db,
    actor: &Actor,
    pop_id: uuid::Uuid,
    expected: ExpectedHash<'_>,
) -> Result<Pop, AppError> {
    expected.require("expectedHash")?;
    db.write(|mut conn| {
        async move {
            let now = Utc::now();
            let pop = lock_permitted(&mut conn, PopKey::Public(pop_id), "POP", |pop| {
                actor.may_edit(pop, "POP")
            })
            .await?;
            if pop.meta.deleted_at.is_some() {
                return Ok(pop);
            }
            if pop.meta.status == Status::Published {
                return Err(AppError::PopLocked {
                    status: pop.meta.status.as_str().into(),
                });
            }
            check_expected_hash(&mut conn, &pop, expected.hash).await?;
            let applied = apply(&mut conn, actor, pop, Change::Delete, now).await?;
            Ok(applied.pop)
        }
        .scope_boxed()
    })
    .await
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
