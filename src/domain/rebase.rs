//! Stale autosaves: rebuilding the version a client edited from, and merging its changes into
//! the POP as it is now (with [`super::merge`]).
//!
//! An autosave says what it edited from with `expectedHash` and, to be merged when stale,
//! `baseSequence` (the `autosaveSequence` that came with that hash: a hash alone may name
//! several sequences, e.g. after an undo). Inside the autosave's transaction, after the POP's
//! lock:
//! - hash current (or no hash sent): the autosave applies as sent;
//! - stale, and the client chose `onStale: REFUSE` or sent no `baseSequence`: `CONFLICT`, as
//!   before merging existed;
//! - stale and mergeable: the base is rebuilt from the POP's current content by undoing, newest
//!   first, every change-log row written after `baseSequence` (each row keeps the field's value
//!   before the write; status rows give back the status and version). The rebuilt document must
//!   hash to `expectedHash`, so a base is only ever used when it is exact.
//!
//! How far back: at most [`MAX_REBASE_DISTANCE`] writes behind the current sequence, and only as
//! far as the change log is complete (rows are never deleted by retention; a legacy import
//! brings the rows Django wrote). Beyond that, or if the rebuilt document does not hash to
//! `expectedHash`, the answer is `BASE_UNAVAILABLE` (nothing written; reload and reapply).

use super::document::{document_parts, from_fields, to_fields};
use super::hash::integrity_hash;
use super::merge::{self, Conflict};
use super::steps;
use crate::db::models::{ChangeLogEntry, Pop, PopContent};
use crate::db::{queries, Conn};
use crate::error::AppError;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// How many writes behind the current one a base may be.
pub const MAX_REBASE_DISTANCE: i32 = 500;

/// What an autosave does when the POP changed since its base.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnStale {
    /// Merge the autosave's changes when they do not overlap (the default).
    #[default]
    Merge,
    /// Refuse with `CONFLICT`.
    Refuse,
}

/// What a stale autosave said it edited from, and what it sent.
#[derive(Debug, Clone, Copy)]
pub struct Stale<'a> {
    /// The hash of the version edited from.
    pub expected_hash: Option<&'a str>,
    /// The sequence of that version.
    pub base_sequence: Option<i32>,
    /// Merge or refuse.
    pub on_stale: OnStale,
    /// The fields sent, by legacy column name.
    pub fields: &'a Map<String, Value>,
}

/// The fields to apply to the POP, and where a merge applied them.
#[derive(Debug, Clone)]
pub struct Rebased {
    /// Field values by legacy column name (the request's, or the whole merged content).
    pub fields: Map<String, Value>,
    /// Where the client's changes were merged into newer content (empty when not stale).
    pub merged_paths: Vec<String>,
}

/// The fields an autosave applies to `pop` (locked by the caller); see the module docs.
pub async fn rebase(conn: &mut Conn<'_>, pop: &Pop, stale: Stale<'_>) -> Result<Rebased, AppError> {
    let current = || Rebased {
        fields: stale.fields.clone(),
        merged_paths: Vec::new(),
    };
    let Some(expected) = stale.expected_hash else {
        return Ok(current());
    };
    if expected == pop.meta.integrity_hash {
        return Ok(current());
    }
    let Some(base_sequence) = stale
        .base_sequence
        .filter(|_| stale.on_stale == OnStale::Merge)
    else {
        super::transition::check_expected_hash(conn, pop, Some(expected)).await?;
        return Ok(current());
    };
    let unavailable = |reason: String| AppError::BaseUnavailable {
        reason,
        current_hash: pop.meta.integrity_hash.clone(),
        autosave_sequence: pop.meta.autosave_sequence,
        updated_at: pop.meta.updated_at,
    };
    let distance = pop.meta.autosave_sequence - base_sequence;
    if base_sequence < 1 || distance <= 0 {
        return Err(unavailable(format!(
            "baseSequence {base_sequence} is not an earlier version of this POP (now at {})",
            pop.meta.autosave_sequence
        )));
    }
    if distance > MAX_REBASE_DISTANCE {
        return Err(unavailable(format!(
            "baseSequence {base_sequence} is more than {MAX_REBASE_DISTANCE} writes old"
        )));
    }
    // Rows per write are bounded by the number of fields; this bounds the read.
    let limit = i64::from(distance) * 32;
    let rows = queries::changes_after(conn, pop.meta.id, base_sequence, limit).await?;
    let base = rebuild(pop, &rows)
        .filter(|base| base_hash(pop, base) == expected)
        .ok_or_else(|| {
            unavailable(format!(
                "the version at baseSequence {base_sequence} cannot be rebuilt with expectedHash"
            ))
        })?;
    let base_fields = to_fields(&base.content);
    let server = to_fields(&pop.content);
    let mut client = base_fields.clone();
    for (name, value) in stale.fields {
        if !value.is_null() && client.contains_key(name) {
            client.insert(name.clone(), value.clone());
        }
    }
    if let Some(sent) = stale.fields.get("etapas").filter(|v| !v.is_null()) {
        client.insert(
            "etapas".into(),
            steps::identify(sent, &base_fields["etapas"]),
        );
    }
    match merge::merge(&base_fields, &server, &client) {
        Ok(merged) => Ok(Rebased {
            fields: merged.content,
            merged_paths: merged.merged_paths,
        }),
        Err(conflicts) => Err(conflict(conn, pop, conflicts, &rows).await?),
    }
}

/// A POP's content, status and version at an earlier sequence.
struct Base {
    content: PopContent,
    status: String,
    versao: i32,
}

/// Undoes `rows` (newest first) on `pop`; `None` when a row cannot be undone.
fn rebuild(pop: &Pop, rows: &[ChangeLogEntry]) -> Option<Base> {
    let mut fields = to_fields(&pop.content);
    let mut status = pop.meta.status.as_str().to_owned();
    let mut versao = pop.meta.versao;
    for row in rows {
        match row.field_name.as_str() {
            "status" => status = row.old_value.as_ref()?.as_str()?.to_owned(),
            "versao" => versao = i32::try_from(row.old_value.as_ref()?.as_i64()?).ok()?,
            name if fields.contains_key(name) => {
                fields.insert(name.to_owned(), row.old_value.clone()?);
            }
            // Pseudo-fields that are not part of the document (`status_reason`, `snapshot`...).
            _ => {}
        }
    }
    Some(Base {
        content: from_fields(fields).ok()?,
        status,
        versao,
    })
}

fn base_hash(pop: &Pop, base: &Base) -> String {
    integrity_hash(&document_parts(
        &base.content,
        &base.status,
        base.versao,
        pop.meta.created_at,
        &pop.meta.uuid.to_string(),
    ))
}

/// The `CONFLICT` of a merge: each path with who last changed its field since the base, and when.
async fn conflict(
    conn: &mut Conn<'_>,
    pop: &Pop,
    conflicts: Vec<Conflict>,
    rows: &[ChangeLogEntry],
) -> Result<AppError, AppError> {
    let user_ids: Vec<i64> = rows.iter().filter_map(|r| r.user_id).collect();
    let names: HashMap<i64, String> = queries::users_by_ids(conn, &user_ids)
        .await?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect();
    let reports = conflicts
        .into_iter()
        .map(|c| {
            let column = column_of(&c.path);
            // `rows` is newest first: the first row of the field is the last change.
            let last = rows.iter().find(|r| r.field_name == column);
            json!({
                "path": c.path,
                "base": c.base,
                "server": c.server,
                "client": c.client,
                "changedBy": last.and_then(|r| r.user_id).map(|id| json!({
                    "id": id.to_string(),
                    "username": names.get(&id),
                })),
                "changedAt": last.map(|r| r.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                "changedAtSequence": last.map(|r| r.autosave_sequence),
            })
        })
        .collect();
    Ok(AppError::MergeConflict {
        current_hash: pop.meta.integrity_hash.clone(),
        autosave_sequence: pop.meta.autosave_sequence,
        updated_at: pop.meta.updated_at,
        conflicts: reports,
    })
}

/// The legacy column a document path falls in.
fn column_of(path: &str) -> String {
    let mut tokens = path.trim_start_matches('/').split('/');
    match (tokens.next(), tokens.next()) {
        (Some("sistemas"), _) => "sistemas_utilizados".into(),
        (Some("area"), Some("codigo")) => "area_codigo".into(),
        (Some("area"), Some("nome")) => "area_nome".into(),
        (Some(first), _) => first.replace("~1", "/").replace("~0", "~"),
        (None, _) => String::new(),
    }
}
