//! How a POP changes: [`apply`] writes the next state of an existing POP, for every kind of
//! change (autosave, restore, status change, delete).
//!
//! The callers (`autosave.rs`, `snapshots.rs`, `workflow.rs`, `ops/retention.rs`) lock the POP,
//! check their own rules (who may, from which state, with which hash) and describe what changes as
//! a [`Change`]. [`apply`] then, inside the caller's transaction:
//!
//! 1. builds the next row: content, status, version, form state, timestamps, the autosave
//!    sequence bumped by one;
//! 2. builds the legacy document once, checks its size (when the change carries a limit) and
//!    hashes it;
//! 3. writes the row with one `UPDATE` of the columns that changed, returning nothing (the next
//!    state is known here), and with it, in the same round trip ([`crate::pipelined!`]), the
//!    change event for subscribers (`pop_events`, announced once the transaction commits: see
//!    [`crate::db::events`]) with the JSON Pointers of what changed, the change log, and, when an
//!    autosave's snapshot is due, the newest snapshot's hash;
//! 4. takes the snapshot the change calls for (from the same document; an autosave's only when
//!    the newest one holds another document), and on publication freezes the document as the
//!    POP's current published version (archiving leaves it none: see [`super::versions`]); a
//!    status change writes its change log after it, since its rows name that snapshot.
//!
//! A POP is created by `createPop` or the first autosave of a session (`autosave.rs`), not
//! here; it shares [`check_size`].

use super::codes;
use super::document::document;
use super::hash::integrity_hash;
use super::paths::changed_paths;
use super::{Actor, ChangeAction, SnapshotKind, Status};
use crate::db::events::{self, NewEvent};
use crate::db::models::{Pop, PopContent, Snapshot};
use crate::db::queries::{self, NewChange, NewSnapshot};
use crate::db::versions::{self, NewVersion};
use crate::db::Conn;
use crate::error::AppError;
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{json, Value};

/// One changed field: its legacy name, the value before and the value after.
pub type FieldChange = (String, Value, Value);

/// What changes, once the caller's own rules have accepted it.
#[derive(Debug)]
pub enum Change<'a> {
    /// An autosave of the editor.
    Autosave {
        /// The content after the save.
        content: PopContent,
        /// The fields that changed (logged one row each).
        changes: Vec<FieldChange>,
        /// The form state sent with the save (`None`: keep the stored one).
        raw_payload: Option<&'a Value>,
        /// Largest accepted document, in bytes of its JSON.
        max_document_bytes: usize,
        /// Take an autosave snapshot when the new sequence is a multiple of this, unless the
        /// latest snapshot already holds the new document.
        snapshot_every: u32,
    },
    /// A snapshot's document applied to its POP.
    Restore {
        /// The snapshot applied.
        snapshot: &'a Snapshot,
        /// The content read from its document.
        content: PopContent,
    },
    /// Chosen parts of an older version applied to the current document (partial restore).
    PartialRestore {
        /// Where the parts came from, as logged: `{"snapshotId": …}` or `{"sequence": …}`, with
        /// `"paths"`.
        source: Value,
        /// The snapshot they came from, if any.
        snapshot_id: Option<i64>,
        /// The content after the restore.
        content: PopContent,
    },
    /// A step of the status workflow (already checked against the workflow's rules).
    Status {
        /// The new status (publication also bumps the version and takes a snapshot).
        to: Status,
        /// Why, when the step needs a reason.
        reason: Option<&'a str>,
    },
    /// A soft delete.
    Delete,
}

impl Change<'_> {
    /// The change-log action of this change (also the action of its change event).
    pub fn action(&self) -> ChangeAction {
        match self {
            Change::Autosave { .. } => ChangeAction::Autosave,
            Change::Restore { .. } | Change::PartialRestore { .. } => ChangeAction::Restore,
            Change::Status { .. } => ChangeAction::Status,
            Change::Delete => ChangeAction::Delete,
        }
    }
}

/// What [`apply`] wrote.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The POP as it is now.
    pub pop: Pop,
    /// The snapshot this change took, if any.
    pub snapshot: Option<Snapshot>,
}

/// The change log's pseudo-field of a full restore that changed nothing: its value is the
/// snapshot's row number.
pub const RESTORED_SNAPSHOT: &str = "snapshot";
/// The change log's pseudo-field that says where a partial restore restored from: its value is
/// `{snapshotId, paths}` (the snapshot's row number, as a string) or `{sequence, paths}`.
pub const RESTORE_SOURCE: &str = "restore_source";

/// Writes `pop`'s next state after `change` (see the module docs). `pop` must be locked by the
/// caller's transaction ([`crate::db::Db::write`]).
pub async fn apply(
    conn: &mut Conn<'_>,
    actor: &Actor,
    pop: Pop,
    mut change: Change<'_>,
    now: DateTime<Utc>,
) -> Result<Applied, AppError> {
    // Both databases keep microseconds: the state built here is exactly what a read returns.
    let now = now.trunc_subsecs(6);
    let before = pop;
    // The new content moves out of the change (nothing reads it there again); the rest of the
    // row is copied from the POP as it was.
    let content = match &mut change {
        Change::Autosave { content, .. }
        | Change::Restore { content, .. }
        | Change::PartialRestore { content, .. } => std::mem::take(content),
        Change::Status { .. } | Change::Delete => before.content.clone(),
    };
    let mut next = Pop {
        meta: before.meta.clone(),
        content,
    };
    next.meta.autosave_sequence += 1;
    next.meta.updated_at = now;
    next.meta.last_activity_at = now;
    let mut limit = None;
    match &change {
        Change::Autosave {
            raw_payload,
            max_document_bytes,
            ..
        } => {
            if let Some(raw) = raw_payload {
                next.meta.raw_payload = Some((*raw).clone());
            }
            next.meta.last_autosave_at = Some(now);
            limit = Some(*max_document_bytes);
        }
        Change::Restore { .. } | Change::PartialRestore { .. } => {
            // The editor's form state describes the content before the restore: a front end
            // rebuilding its form from it would undo the restore on its next save.
            next.meta.raw_payload = None;
        }
        Change::Status { to, .. } => {
            next.meta.status = *to;
            if *to == Status::Published {
                // One more than the POP's version, and than any version stored for it (imported
                // data may hold a number the POP never reached).
                let stored = versions::newest_number(conn, next.meta.id).await?;
                next.meta.versao = (next.meta.versao + 1).max(stored.map_or(0, |v| v + 1));
            }
        }
        Change::Delete => next.meta.deleted_at = Some(now),
    }

    if next.content.codigo_processo != before.content.codigo_processo {
        // A new code is this POP's own (see `codes`), once no other live POP holds it.
        next.meta.cap_duplicate = false;
        if next.meta.deleted_at.is_none() {
            let field = match &change {
                Change::Autosave { .. } => "input.content.codigoProcesso",
                _ => "codigoProcesso",
            };
            let code = next.content.codigo_processo.as_deref();
            codes::claim(conn, code, Some(next.meta.id), field).await?;
        }
    }
    let doc = document(&next.meta, &next.content);
    if let Some(limit) = limit {
        check_size(&doc, limit)?;
    }
    next.meta.integrity_hash = integrity_hash(&doc);
    let paths = changed_paths(&document(&before.meta, &before.content), &doc);
    let event = NewEvent {
        pop_id: next.meta.id,
        sequence: next.meta.autosave_sequence,
        integrity_hash: &next.meta.integrity_hash,
        user_id: actor.user_id,
        action: change.action(),
        paths: Value::from(paths),
        created_at: now,
    };
    // An autosave takes a snapshot every `snapshot_every` saves, unless the newest one already
    // holds this document.
    let snapshot_due = match &change {
        Change::Autosave { snapshot_every, .. } => {
            let every = i32::try_from(*snapshot_every).unwrap_or(i32::MAX).max(1);
            next.meta.autosave_sequence % every == 0
        }
        _ => false,
    };
    // A status change logs the snapshot it takes, so its rows wait for it; every other change's
    // rows are known now and go out with the row, the event and the newest snapshot's hash, in
    // one round trip (`pipelined!`): none of them reads what another writes.
    let (status, rows) = match change {
        status @ Change::Status { .. } => (Some(status), Vec::new()),
        other => (
            None,
            log_rows(actor, &next, history(&before, &next, other, None), now),
        ),
    };
    let ((), (), newest, ()) = crate::pipelined!(
        conn,
        |c| queries::update_pop(c, &before, &next),
        events::record(c, &event),
        async {
            if snapshot_due {
                queries::latest_snapshot_hash(c, next.meta.id).await
            } else {
                Ok(None)
            }
        },
        queries::insert_changes(c, &rows),
    )?;

    // The document moves into the snapshot taken, if any: a published version is written first.
    let snapshot = match &status {
        _ if snapshot_due && holding(newest, &next).is_none() => {
            let kind = SnapshotKind::Autosave;
            Some(take(conn, &next, doc, kind, None, actor, now).await?)
        }
        Some(Change::Status {
            to: Status::Published,
            reason,
        }) => {
            versions::insert_current(
                conn,
                &NewVersion {
                    pop_id: next.meta.id,
                    versao: next.meta.versao,
                    payload: &doc,
                    integrity_hash: &next.meta.integrity_hash,
                    published_by_id: actor.user_id,
                    published_at: now,
                    motivo: reason.unwrap_or_default(),
                },
            )
            .await?;
            let kind = SnapshotKind::StatusChange;
            Some(take(conn, &next, doc, kind, None, actor, now).await?)
        }
        Some(Change::Status {
            to: Status::Archived,
            ..
        }) => {
            versions::clear_current(conn, next.meta.id).await?;
            None
        }
        _ => None,
    };
    if let Some(status) = status {
        let rows = history(&before, &next, status, snapshot.as_ref());
        queries::insert_changes(conn, &log_rows(actor, &next, rows, now)).await?;
    }
    Ok(Applied {
        pop: next,
        snapshot,
    })
}

/// The change-log rows of `next`'s write by `actor`.
fn log_rows(actor: &Actor, next: &Pop, rows: Vec<LogRow>, now: DateTime<Utc>) -> Vec<NewChange> {
    rows.into_iter()
        .map(|(action, (field_name, old, new), snapshot_id)| NewChange {
            pop_id: next.meta.id,
            user_id: actor.user_id,
            action,
            field_name,
            old_value: old,
            new_value: new,
            autosave_sequence: next.meta.autosave_sequence,
            snapshot_id,
            created_at: now,
        })
        .collect()
}

/// A change-log row before it knows its POP: action, `(field, old, new)`, related snapshot.
type LogRow = (
    ChangeAction,
    (String, Option<Value>, Option<Value>),
    Option<i64>,
);

/// The `restore` rows of the fields a restore changed from `before` to `next` (old and new values).
fn restored_fields(before: &Pop, next: &Pop, snapshot: Option<i64>) -> Vec<LogRow> {
    let old = super::document::to_fields(&before.content);
    super::document::to_fields(&next.content)
        .into_iter()
        .filter(|(field, value)| old.get(field) != Some(value))
        .map(|(field, value)| {
            let previous = old.get(&field).cloned();
            (
                ChangeAction::Restore,
                (field, previous, Some(value)),
                snapshot,
            )
        })
        .collect()
}

/// The change-log rows of `change`, which took `before` to `next` (an autosave's changed values
/// move into its rows).
fn history(before: &Pop, next: &Pop, change: Change<'_>, taken: Option<&Snapshot>) -> Vec<LogRow> {
    let row = |action, field: &str, old: Option<Value>, new: Option<Value>, snapshot| {
        (action, (field.to_owned(), old, new), snapshot)
    };
    match change {
        Change::Autosave { changes, .. } => changes
            .into_iter()
            .map(|(field, old, new)| (ChangeAction::Autosave, (field, Some(old), Some(new)), None))
            .collect(),
        Change::Restore { snapshot, .. } => {
            let mut rows = restored_fields(before, next, Some(snapshot.id));
            if rows.is_empty() {
                // Nothing differed, but the restore still happened: say so in the history.
                rows.push(row(
                    ChangeAction::Restore,
                    RESTORED_SNAPSHOT,
                    None,
                    Some(json!(snapshot.id)),
                    Some(snapshot.id),
                ));
            }
            rows
        }
        Change::PartialRestore {
            source,
            snapshot_id,
            ..
        } => {
            let mut rows = restored_fields(before, next, snapshot_id);
            // Always say what was restored from where, even when nothing differed.
            rows.push(row(
                ChangeAction::Restore,
                RESTORE_SOURCE,
                None,
                Some(source),
                snapshot_id,
            ));
            rows
        }
        Change::Status { reason, .. } => {
            let taken = taken.map(|s| s.id);
            let mut rows = vec![row(
                ChangeAction::Status,
                "status",
                Some(json!(before.meta.status)),
                Some(json!(next.meta.status)),
                taken,
            )];
            if next.meta.versao != before.meta.versao {
                rows.push(row(
                    ChangeAction::Status,
                    "versao",
                    Some(json!(before.meta.versao)),
                    Some(json!(next.meta.versao)),
                    taken,
                ));
            }
            if let Some(reason) = reason {
                rows.push(row(
                    ChangeAction::Status,
                    "status_reason",
                    Some(Value::Null),
                    Some(json!(reason)),
                    taken,
                ));
            }
            rows
        }
        Change::Delete => vec![row(
            ChangeAction::Delete,
            "deleted_at",
            None,
            Some(json!(next.meta.updated_at.to_rfc3339())),
            None,
        )],
    }
}

/// `DOCUMENT_TOO_LARGE` when the JSON of `doc` exceeds `limit` bytes.
pub fn check_size(doc: &Value, limit: usize) -> Result<(), AppError> {
    let mut counted = ByteCount(0);
    serde_json::to_writer(&mut counted, doc).map_err(AppError::internal)?;
    let size = counted.0;
    if size > limit {
        return Err(AppError::DocumentTooLarge { size, limit });
    }
    Ok(())
}

/// A writer that only counts the bytes written to it: the size of a document's JSON text
/// without keeping the text.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Takes a snapshot of `pop`, whose document is `doc` (kept as the snapshot's payload).
pub async fn take(
    conn: &mut Conn<'_>,
    pop: &Pop,
    doc: Value,
    kind: SnapshotKind,
    label: Option<&str>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Snapshot, AppError> {
    // Both databases keep microseconds: the snapshot returned is exactly what a read returns.
    let created_at = now.trunc_subsecs(6);
    let (id, sequence) = queries::insert_snapshot(
        conn,
        &NewSnapshot {
            pop_id: pop.meta.id,
            kind,
            versao: pop.meta.versao,
            autosave_sequence: pop.meta.autosave_sequence,
            status: pop.meta.status,
            integrity_hash: &pop.meta.integrity_hash,
            payload: &doc,
            label,
            created_by_id: actor.user_id,
            created_at,
        },
    )
    .await?;
    Ok(Snapshot {
        id,
        legacy_id: None,
        pop_id: pop.meta.id,
        sequence,
        kind,
        versao: pop.meta.versao,
        autosave_sequence: pop.meta.autosave_sequence,
        status: pop.meta.status,
        integrity_hash: pop.meta.integrity_hash.clone(),
        payload: doc,
        milestone: false,
        milestone_label: None,
        label: label.map(str::to_owned),
        created_by_id: actor.user_id,
        created_at,
    })
}

/// The latest snapshot of `pop` if it already holds `pop`'s document `doc` (`false`), else a new
/// one of `kind` (`true`). The latest snapshot's payload is read only when it is returned.
pub async fn take_unless_current(
    conn: &mut Conn<'_>,
    pop: &Pop,
    doc: Value,
    kind: SnapshotKind,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(Snapshot, bool), AppError> {
    let newest = queries::latest_snapshot_hash(conn, pop.meta.id).await?;
    if let Some(id) = holding(newest, pop) {
        if let Some(latest) = queries::snapshot_by_id(conn, id).await? {
            return Ok((latest, false));
        }
    }
    Ok((take(conn, pop, doc, kind, None, actor, now).await?, true))
}

/// The id of the newest snapshot (`newest`: its id and hash, as
/// [`queries::latest_snapshot_hash`] reads them) when it already holds `pop`'s document.
fn holding(newest: Option<(i64, String)>, pop: &Pop) -> Option<i64> {
    newest
        .filter(|(_, hash)| *hash == pop.meta.integrity_hash)
        .map(|(id, _)| id)
}

/// Refuses writes to published, archived or deleted POPs.
pub fn ensure_editable(pop: &Pop) -> Result<(), AppError> {
    if pop.meta.deleted_at.is_some() {
        return Err(AppError::PopLocked {
            status: "deleted".into(),
        });
    }
    if pop.meta.status.is_editable() {
        Ok(())
    } else {
        Err(AppError::PopLocked {
            status: pop.meta.status.as_str().into(),
        })
    }
}

/// The `expectedHash` a write to an existing POP carries, and whether it must carry one.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExpectedHash<'a> {
    /// The `integrityHash` of the version the client saw.
    pub hash: Option<&'a str>,
    /// `REQUIRE_EXPECTED_HASH`: a write without a hash is refused.
    pub required: bool,
}

impl ExpectedHash<'_> {
    /// `EXPECTED_HASH_REQUIRED` (naming the input `field`) when a hash is required and missing.
    pub fn require(&self, field: &str) -> Result<(), AppError> {
        if self.required && self.hash.is_none() {
            return Err(AppError::ExpectedHashRequired {
                field: field.to_owned(),
            });
        }
        Ok(())
    }
}

/// `CONFLICT` when the client's hash is not the stored one, with the server's version: its hash,
/// sequence, time and who wrote it (read from the change log, inside the caller's transaction).
pub async fn check_expected_hash(
    conn: &mut Conn<'_>,
    pop: &Pop,
    expected: Option<&str>,
) -> Result<(), AppError> {
    match expected {
        Some(expected) if expected != pop.meta.integrity_hash => Err(AppError::Conflict {
            current_hash: pop.meta.integrity_hash.clone(),
            autosave_sequence: pop.meta.autosave_sequence,
            updated_at: pop.meta.updated_at,
            changed_by: queries::writer_of(conn, pop.meta.id, pop.meta.autosave_sequence).await?,
        }),
        _ => Ok(()),
    }
}
