//! Partial restore: chosen parts of an older version (a snapshot, or the state after a given
//! autosave sequence) applied to a POP's current document, as one new change.
//!
//! Parts are JSON Pointers (RFC 6901) into the legacy document, e.g. `/pontos_atencao`,
//! `/area/nome` or `/etapas/2/descricao`. An array element may be addressed by its `"id"` instead
//! of its index (`/etapas/<id>`), which survives steps being inserted or moved later; elements
//! without an id are addressed by index. The first token must be a content key (not
//! `data_criacao`, `status`, `versao` or `uuid`). Each path must exist in the source; in the
//! current document its parent must exist, and a step found by id only in the source is put back
//! at its old index (or at the end). Everything outside the paths stays as it is now, so later
//! changes to other steps are kept.
//!
//! The state after a sequence is rebuilt from the change log: each field's value is the old value
//! of its first change after that sequence, or its current value when it has not changed since.
//!
//! Like a whole restore: a safety snapshot (kind `pre_restore`) of the state before is taken
//! unless the latest snapshot already holds it, so the change can be undone; `expectedHash`
//! guards it; the history gets one `restore` row per changed field and a `restore_source` row
//! naming the source and the paths.

use super::autosave::MAX_IDEMPOTENCY_KEY;
use super::document::{content_from_document, document, document_parts, from_fields, to_fields};
use super::hash::integrity_hash;
use super::idempotency;
use super::pops::{lock_permitted, PopKey};
use super::transition::{
    self, check_expected_hash, ensure_editable, take_unless_current, Change, ExpectedHash,
};
use super::{Actor, SnapshotKind};
use crate::db::history::field_value_at;
use crate::db::models::{Pop, Snapshot};
use crate::db::queries;
use crate::db::{Conn, Db};
use crate::error::AppError;
use chrono::Utc;
use scoped_futures::ScopedFutureExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Most paths one partial restore takes.
pub const MAX_PATHS: usize = 100;

/// Document keys that are not content (never restored).
const NOT_CONTENT: [&str; 4] = ["data_criacao", "status", "versao", "uuid"];

/// Where the restored parts come from.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// A snapshot of the POP.
    Snapshot(i64),
    /// The state right after the write with this autosave sequence.
    Sequence(i32),
}

/// What a partial restore did.
#[derive(Debug, Clone)]
pub struct PartiallyRestored {
    /// The POP after the restore.
    pub pop: Pop,
    /// The snapshot holding the state before (restoring it undoes this change).
    pub safety: Snapshot,
}

/// Restores `paths` of the POP `pop` from `source`.
pub async fn restore_paths(
    db: &Db,
    actor: &Actor,
    pop: uuid::Uuid,
    source: Source,
    paths: &[String],
    expected: ExpectedHash<'_>,
    idempotency_key: Option<&str>,
) -> Result<PartiallyRestored, AppError> {
    expected.require("expectedHash")?;
    if paths.is_empty() || paths.len() > MAX_PATHS {
        return Err(AppError::bad_input(
            "paths",
            format!("give 1 to {MAX_PATHS} paths"),
        ));
    }
    let owner = actor.user_id.ok_or(AppError::Unauthenticated)?;
    let key = match idempotency_key {
        Some(key) if key.trim().is_empty() || key.chars().count() > MAX_IDEMPOTENCY_KEY => {
            return Err(AppError::bad_input(
                "idempotencyKey",
                format!("must be 1 to {MAX_IDEMPOTENCY_KEY} characters"),
            ))
        }
        // Keys are per user, as an autosave's: one user's key never replays another's result.
        Some(key) => Some(format!("{owner}:{key}")),
        None => None,
    };
    let fingerprint = integrity_hash(&json!({
        "restore_paths": pop.to_string(),
        "source": match source {
            Source::Snapshot(id) => json!({ "snapshot": id }),
            Source::Sequence(sequence) => json!({ "sequence": sequence }),
        },
        "paths": paths,
        "expected_hash": expected.hash,
    }));
    if let Some(key) = &key {
        if let Some(response) = idempotency::lookup(db, key, &fingerprint).await? {
            let mut pooled = db.get().await?;
            return replay(&mut pooled.conn(), response).await;
        }
    }
    let (key, fingerprint) = (key.as_deref(), fingerprint.as_str());
    let parsed: Vec<Vec<String>> = paths
        .iter()
        .map(|p| parse_pointer(p))
        .collect::<Result<_, _>>()?;
    db.write(|mut conn| {
        async move {
            let now = Utc::now();
            let pop = lock_permitted(&mut conn, PopKey::Public(pop), "POP", |pop| {
                actor.may_edit(pop, "POP")
            })
            .await?;
            // After the lock, before the state is read: a retry that waited for the lock while
            // its original wrote finds the original's result here.
            if let Some(key) = key {
                if let Some(response) = idempotency::claim(&mut conn, key, fingerprint, now).await?
                {
                    return replay(&mut conn, response).await;
                }
            }
            ensure_editable(&pop)?;
            check_expected_hash(&mut conn, &pop, expected.hash).await?;
            let current = document(&pop.meta, &pop.content);
            let (source_doc, snapshot_id, described) = match source {
                Source::Snapshot(id) => {
                    let snapshot = queries::snapshot_by_id(&mut conn, id)
                        .await?
                        .filter(|s| s.pop_id == pop.meta.id)
                        .ok_or(AppError::NotFound("snapshot"))?;
                    (
                        snapshot.payload,
                        Some(id),
                        json!({ "snapshotId": id.to_string() }),
                    )
                }
                Source::Sequence(sequence) => {
                    if !(1..=pop.meta.autosave_sequence).contains(&sequence) {
                        return Err(AppError::bad_input(
                            "sequence",
                            format!("must be between 1 and {}", pop.meta.autosave_sequence),
                        ));
                    }
                    let mut fields = to_fields(&pop.content);
                    for (field, value) in fields.iter_mut() {
                        if let Some(Some(then)) =
                            field_value_at(&mut conn, pop.meta.id, field, sequence).await?
                        {
                            *value = then;
                        }
                    }
                    let content = from_fields(fields)?;
                    let doc = document_parts(
                        &content,
                        pop.meta.status.as_str(),
                        pop.meta.versao,
                        pop.meta.created_at,
                        &pop.meta.uuid.to_string(),
                    );
                    (doc, None, json!({ "sequence": sequence }))
                }
            };
            let mut next = current.clone();
            for (raw, tokens) in paths.iter().zip(&parsed) {
                let value = lookup(&source_doc, tokens)
                    .ok_or_else(|| bad(raw, "not found in the source version"))?
                    .clone();
                place(&mut next, &source_doc, tokens, value).map_err(|m| bad(raw, m))?;
            }
            let mut content = content_from_document(&next)?;
            // Restored steps keep (or get) their stable ids, as every written step does.
            content.etapas = super::steps::identify(&content.etapas, &pop.content.etapas).into();
            let safety_doc = current;
            let (safety, _) = take_unless_current(
                &mut conn,
                &pop,
                safety_doc,
                SnapshotKind::PreRestore,
                actor,
                now,
            )
            .await?;
            let mut source = described;
            source["paths"] = json!(paths);
            let change = Change::PartialRestore {
                source,
                snapshot_id,
                content,
            };
            let applied = transition::apply(&mut conn, actor, pop, change, now).await?;
            let done = PartiallyRestored {
                pop: applied.pop,
                safety,
            };
            if let Some(key) = key {
                idempotency::record(&mut conn, key, &recorded(&done)?).await?;
            }
            Ok(done)
        }
        .scope_boxed()
    })
    .await
}

/// What a keyed partial restore keeps for its retries: the POP as it left it and the safety
/// snapshot's id.
#[derive(Serialize, Deserialize)]
struct Recorded {
    pop: Pop,
    safety_snapshot_id: i64,
}

fn recorded(done: &PartiallyRestored) -> Result<Value, AppError> {
    serde_json::to_value(Recorded {
        pop: done.pop.clone(),
        safety_snapshot_id: done.safety.id,
    })
    .map_err(AppError::internal)
}

/// The first result of a keyed partial restore, answered to its retry.
async fn replay(conn: &mut Conn<'_>, response: Value) -> Result<PartiallyRestored, AppError> {
    let recorded: Recorded = serde_json::from_value(response).map_err(AppError::internal)?;
    let safety = queries::snapshot_by_id(conn, recorded.safety_snapshot_id)
        .await?
        .ok_or(AppError::NotFound("snapshot"))?;
    Ok(PartiallyRestored {
        pop: recorded.pop,
        safety,
    })
}

fn bad(path: &str, message: &str) -> AppError {
    AppError::BadPath {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

/// The tokens of an RFC 6901 pointer whose first token is a content key.
pub fn parse_pointer(raw: &str) -> Result<Vec<String>, AppError> {
    let rest = raw
        .strip_prefix('/')
        .ok_or_else(|| bad(raw, "a JSON Pointer starts with `/`"))?;
    let tokens: Vec<String> = rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    match tokens.first().map(String::as_str) {
        Some("") | None => Err(bad(raw, "name a field of the document")),
        Some(key) if NOT_CONTENT.contains(&key) => Err(bad(
            raw,
            "only content can be restored (not data_criacao, status, versao or uuid)",
        )),
        _ => Ok(tokens),
    }
}

/// The index `token` addresses in `items`: an element whose `"id"` is the token, else a plain
/// index.
fn find(items: &[Value], token: &str) -> Option<usize> {
    items
        .iter()
        .position(|item| item.get("id").and_then(Value::as_str) == Some(token))
        .or_else(|| {
            token
                .parse::<usize>()
                .ok()
                .filter(|i| *i < items.len() && !token.starts_with('+'))
        })
}

fn step<'v>(value: &'v Value, token: &str) -> Option<&'v Value> {
    match value {
        Value::Object(map) => map.get(token),
        Value::Array(items) => find(items, token).map(|i| &items[i]),
        _ => None,
    }
}

fn lookup<'v>(doc: &'v Value, tokens: &[String]) -> Option<&'v Value> {
    tokens
        .iter()
        .try_fold(doc, |value, token| step(value, token))
}

/// Puts `value` at `tokens` in `doc` (see the module docs).
fn place(
    doc: &mut Value,
    source: &Value,
    tokens: &[String],
    value: Value,
) -> Result<(), &'static str> {
    let (last, parents) = tokens.split_last().ok_or("name a field of the document")?;
    let mut parent = &mut *doc;
    for token in parents {
        parent = match parent {
            Value::Object(map) => map.get_mut(token.as_str()),
            Value::Array(items) => match find(items, token) {
                Some(i) => items.get_mut(i),
                None => None,
            },
            _ => None,
        }
        .ok_or("its parent does not exist in the current document")?;
    }
    match parent {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(items) => {
            if let Some(i) = find(items, last) {
                items[i] = value;
                return Ok(());
            }
            // A step by id that exists only in the source: back at its old index.
            let old_index = lookup(source, parents)
                .and_then(Value::as_array)
                .and_then(|old| find(old, last));
            let by_id = value.get("id").and_then(Value::as_str) == Some(last.as_str());
            match old_index {
                Some(i) if by_id => {
                    items.insert(i.min(items.len()), value);
                    Ok(())
                }
                _ => Err("this index does not exist in the current document"),
            }
        }
        _ => Err("its parent is not an object or an array"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(raw: &str) -> Vec<String> {
        parse_pointer(raw).unwrap()
    }

    #[test]
    fn steps_are_found_by_id_or_index() {
        let source =
            json!({ "etapas": [{ "id": "a", "d": 1 }, { "id": "b", "d": 2 }, { "d": 3 }] });
        let mut now =
            json!({ "etapas": [{ "id": "x", "d": 0 }, { "id": "b", "d": 9 }, { "d": 8 }] });
        let value = lookup(&source, &tokens("/etapas/b")).unwrap().clone();
        place(&mut now, &source, &tokens("/etapas/b"), value).unwrap();
        let value = lookup(&source, &tokens("/etapas/2/d")).unwrap().clone();
        place(&mut now, &source, &tokens("/etapas/2/d"), value).unwrap();
        let value = lookup(&source, &tokens("/etapas/a")).unwrap().clone();
        place(&mut now, &source, &tokens("/etapas/a"), value).unwrap();
        assert_eq!(
            now,
            json!({ "etapas": [{ "id": "a", "d": 1 }, { "id": "x", "d": 0 }, { "id": "b", "d": 2 }, { "d": 3 }] })
        );
    }

    #[test]
    fn bad_pointers_name_the_path() {
        for raw in ["etapas", "/", "/status", "/uuid"] {
            match parse_pointer(raw) {
                Err(AppError::BadPath { path, .. }) => assert_eq!(path, raw),
                other => panic!("{raw}: {other:?}"),
            }
        }
        assert_eq!(tokens("/a~1b/c~0d"), vec!["a/b", "c~d"]);
    }
}
