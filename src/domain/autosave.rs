//! Autosave: the front end's write of a POP every few seconds, without losing a keystroke; and
//! `createPop`, the explicit creation of a POP.
//!
//! One transaction: find (and lock) the POP, claim the idempotency key, check the client's hash,
//! apply the fields sent, bump the sequence, recompute the hash, log each changed field, take a
//! snapshot every `SNAPSHOT_EVERY` autosaves unless the latest one already holds this document,
//! and record the key's result. An autosave that changes nothing writes nothing.
//!
//! Which POP an autosave writes: the one named by `popId`. Without `popId` (the legacy front
//! end's way), the caller's live POPs of the session decide: none, a new draft is created (as
//! `createPop` would); exactly one that can still be edited, that one; otherwise
//! `POP_ID_REQUIRED` (several POPs, or only a published or archived one): an autosave never
//! silently switches to another POP, and a new POP is only ever created on purpose.

use super::codes;
use super::document::{document, from_fields, to_fields};
use super::hash::integrity_hash;
use super::idempotency;
use super::pops::{lock_permitted, PopKey};
use super::rebase::{self, OnStale, Stale};
use super::steps;
use super::transition::{self, check_size, ensure_editable, Change, ExpectedHash, FieldChange};
use super::{Actor, Status};
use crate::db::models::{Pop, PopContent, PopMeta, Snapshot};
use crate::db::queries::{self, NewChange, NewPop};
use crate::db::types::DbUuid;
use crate::db::{Conn, Db};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use scoped_futures::ScopedFutureExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tracing::Instrument;

/// Longest accepted session id.
pub const MAX_SESSION_ID: usize = 255;
/// Longest accepted idempotency key.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

/// What the client sent.
#[derive(Debug, Clone, Default)]
pub struct AutosaveRequest {
    /// The POP to save, when the client knows it.
    pub pop_id: Option<uuid::Uuid>,
    /// The editing session (used to find the POP when `pop_id` is absent).
    pub session_id: String,
    /// The hash the client last saw; when the stored one differs, the autosave is merged (see
    /// [`rebase`]) or refused with `CONFLICT`.
    pub expected_hash: Option<String>,
    /// The `autosaveSequence` that came with `expected_hash` (needed to merge a stale autosave).
    pub base_sequence: Option<i32>,
    /// What to do when the POP changed since `expected_hash`.
    pub on_stale: OnStale,
    /// Content fields to change, by legacy column name; fields absent are left as they are.
    pub fields: Map<String, Value>,
    /// The front end's whole form state.
    pub raw_payload: Option<Value>,
    /// Makes retries safe: the same key and request return the first result.
    pub idempotency_key: Option<String>,
    /// `createPop` only: give the new POP the next free process code at this position
    /// (`MM.PP.SS`) of its area (see [`super::codes`]).
    pub cap_position: Option<String>,
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Intent {
    /// `autosavePop`: save into the POP named (or the session's, see the module docs).
    Save,
    /// `createPop`: always a new POP.
    Create,
}

/// What an autosave did.
#[derive(Debug, Clone)]
pub struct AutosaveOutcome {
    /// The POP as it is now.
    pub pop: Pop,
    /// Whether anything was written.
    pub changed: bool,
    /// The hash after this autosave.
    pub integrity_hash: String,
    /// The sequence after this autosave.
    pub autosave_sequence: i32,
    /// The snapshot taken by this autosave, if any.
    pub snapshot: Option<Snapshot>,
    /// Where this stale autosave's changes were merged into newer content (JSON Pointers).
    pub merged_paths: Vec<String>,
}

/// The part of an outcome kept for idempotent replays.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Recorded {
    pop_id: i64,
    /// The POP as this autosave left it (absent in records written before it was kept). Its
    /// `raw_payload` is left out when it is the one the request sent ([`Self::raw_from_request`]):
    /// a replay carries the same one (it is part of the request's fingerprint), so the record
    /// need not hold a second copy of the form state.
    #[serde(default)]
    pop: Option<Pop>,
    /// Whether the POP's `raw_payload` is the request's, restored from the replayed request.
    #[serde(default)]
    raw_from_request: bool,
    changed: bool,
    integrity_hash: String,
    autosave_sequence: i32,
    snapshot_id: Option<i64>,
    /// The outcome's `merged_paths` (absent in records written before merging existed).
    #[serde(default)]
    merged_paths: Vec<String>,
}

/// Settings of autosave.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A snapshot every this many autosaves.
    pub snapshot_every: u32,
    /// Largest accepted document, in bytes of its JSON.
    pub max_document_bytes: usize,
    /// `REQUIRE_EXPECTED_HASH`: a write to an existing POP must carry `expectedHash`.
    pub require_expected_hash: bool,
}

/// Runs one autosave (see the module docs).
///
/// The write runs on a task of its own: once it has started, it finishes (commits or fails) even
/// if the request is cancelled meanwhile (`REQUEST_TIMEOUT`, the client went away), so a request
/// answered `TIMEOUT` may still have saved, and a retry with the same idempotency key learns the
/// outcome (see [`super::idempotency`]).
pub async fn autosave(
    db: &Db,
    actor: &Actor,
    request: AutosaveRequest,
    limits: Limits,
) -> Result<AutosaveOutcome, AppError> {
    run(db, actor, request, limits, Intent::Save).await
}

/// Creates a POP in the request's session with the fields given (`createPop`); `pop_id` and
/// `expected_hash` are ignored. Idempotent with a key, like [`autosave`].
pub async fn create_pop(
    db: &Db,
    actor: &Actor,
    mut request: AutosaveRequest,
    limits: Limits,
) -> Result<AutosaveOutcome, AppError> {
    request.pop_id = None;
    request.expected_hash = None;
    run(db, actor, request, limits, Intent::Create).await
}

async fn run(
    db: &Db,
    actor: &Actor,
    mut request: AutosaveRequest,
    limits: Limits,
    intent: Intent,
) -> Result<AutosaveOutcome, AppError> {
    validate(&request)?;
    let owner = actor.user_id.ok_or(AppError::Unauthenticated)?;
    // Keys are per user: one user's key can never replay another user's result.
    request.idempotency_key = request.idempotency_key.map(|key| format!("{owner}:{key}"));
    // Only a keyed request is looked up or recorded by its fingerprint.
    let request_hash =
        (request.idempotency_key.as_ref()).map(|_| request_fingerprint(&request, intent));
    if let (Some(key), Some(request_hash)) = (&request.idempotency_key, &request_hash) {
        if let Some(response) = idempotency::lookup(db, key, request_hash).await? {
            let mut pooled = db.get().await?;
            return replay(&mut pooled.conn(), response, &request.raw_payload).await;
        }
    }
    let (db, actor) = (db.clone(), actor.clone());
    let write = async move {
        let (request, request_hash, actor) = (&request, request_hash.as_deref(), &actor);
        db.write(|mut conn| {
            async move { write(&mut conn, actor, request, request_hash, limits, intent).await }
                .scope_boxed()
        })
        .await
    };
    tokio::spawn(write.instrument(tracing::Span::current()))
        .await
        .map_err(AppError::internal)?
}

fn validate(request: &AutosaveRequest) -> Result<(), AppError> {
    let session = request.session_id.trim();
    if session.is_empty() {
        return Err(AppError::bad_input("input.sessionId", "must not be empty"));
    }
    if session.chars().count() > MAX_SESSION_ID {
        return Err(AppError::bad_input(
            "input.sessionId",
            format!("must be at most {MAX_SESSION_ID} characters"),
        ));
    }
    if let Some(key) = &request.idempotency_key {
        if key.trim().is_empty() || key.chars().count() > MAX_IDEMPOTENCY_KEY {
            return Err(AppError::bad_input(
                "input.idempotencyKey",
                format!("must be 1 to {MAX_IDEMPOTENCY_KEY} characters"),
            ));
        }
    }
    // Type-check the fields now, so a bad one is reported before anything is locked.
    from_fields(request.fields.clone()).map_err(|err| match err {
        AppError::BadUserInput { message, .. } => AppError::bad_input("input.content", message),
        other => other,
    })?;
    Ok(())
}

/// A stable fingerprint of everything in the request but its idempotency key (an autosave's is
/// what it was before `createPop` existed, so keys recorded then still replay).
fn request_fingerprint(request: &AutosaveRequest, intent: Intent) -> String {
    let mut fingerprint = json!({
        "pop_id": request.pop_id.map(|id| id.to_string()),
        "session_id": request.session_id,
        "expected_hash": request.expected_hash,
        "fields": request.fields,
        "raw_payload": request.raw_payload,
    });
    if intent == Intent::Create {
        fingerprint["create"] = Value::Bool(true);
    }
    // Only when sent, so records written before these existed keep matching their retries.
    if let Some(sequence) = request.base_sequence {
        fingerprint["base_sequence"] = json!(sequence);
    }
    if request.on_stale == OnStale::Refuse {
        fingerprint["on_stale"] = json!("refuse");
    }
    if let Some(position) = &request.cap_position {
        fingerprint["cap_position"] = json!(position);
    }
    integrity_hash(&fingerprint)
}

/// The first result of a keyed autosave, from its stored `response`.
async fn replay(
    conn: &mut Conn<'_>,
    response: Value,
    raw_payload: &Option<Value>,
) -> Result<AutosaveOutcome, AppError> {
    let recorded: Recorded = serde_json::from_value(response).map_err(AppError::internal)?;
    let pop = match recorded.pop {
        Some(mut pop) => {
            if recorded.raw_from_request {
                pop.meta.raw_payload.clone_from(raw_payload);
            }
            pop
        }
        None => queries::pops_by_ids(conn, &[recorded.pop_id])
            .await?
            .into_iter()
            .next()
            .ok_or(AppError::NotFound("POP"))?,
    };
    let snapshot = match recorded.snapshot_id {
        Some(id) => queries::snapshot_by_id(conn, id).await?,
        None => None,
    };
    Ok(AutosaveOutcome {
        pop,
        changed: recorded.changed,
        integrity_hash: recorded.integrity_hash,
        autosave_sequence: recorded.autosave_sequence,
        snapshot,
        merged_paths: recorded.merged_paths,
    })
}

/// What a keyed autosave stores for its replays.
fn recorded(outcome: &AutosaveOutcome, request: &AutosaveRequest) -> Result<Value, AppError> {
    let mut kept = outcome.pop.clone();
    let raw_from_request =
        request.raw_payload.is_some() && kept.meta.raw_payload == request.raw_payload;
    if raw_from_request {
        kept.meta.raw_payload = None;
    }
    serde_json::to_value(Recorded {
        pop_id: outcome.pop.meta.id,
        pop: Some(kept),
        raw_from_request,
        changed: outcome.changed,
        integrity_hash: outcome.integrity_hash.clone(),
        autosave_sequence: outcome.autosave_sequence,
        snapshot_id: outcome.snapshot.as_ref().map(|s| s.id),
        merged_paths: outcome.merged_paths.clone(),
    })
    .map_err(AppError::internal)
}

async fn write(
    conn: &mut Conn<'_>,
    actor: &Actor,
    request: &AutosaveRequest,
    request_hash: Option<&str>,
    limits: Limits,
    intent: Intent,
) -> Result<AutosaveOutcome, AppError> {
    let now = Utc::now();
    let session = request.session_id.trim();
    let owner = actor.user_id.ok_or(AppError::Unauthenticated)?;
    let named = match (intent, request.pop_id) {
        (Intent::Save, Some(id)) => Some(
            lock_permitted(conn, PopKey::Public(id), "POP", |pop| {
                actor.may_edit(pop, "POP")
            })
            .await?,
        ),
        (Intent::Save, None) => {
            queries::lock_session(conn, session).await?;
            None
        }
        (Intent::Create, _) => None,
    };
    // After the lock, before any rule that reads the current state: a retry that waited for
    // the lock while its original wrote finds the original's result here.
    if let (Some(key), Some(request_hash)) = (&request.idempotency_key, request_hash) {
        if let Some(response) = idempotency::claim(conn, key, request_hash, now).await? {
            return replay(conn, response, &request.raw_payload).await;
        }
    }
    let target = match (named, intent) {
        (Some(pop), _) => Some(pop),
        (None, Intent::Save) => session_pop(conn, session, owner).await?,
        (None, Intent::Create) => None,
    };
    let outcome = match target {
        Some(pop) => {
            let expected = ExpectedHash {
                hash: request.expected_hash.as_deref(),
                required: limits.require_expected_hash,
            };
            expected.require("input.expectedHash")?;
            update(conn, actor, pop, request, limits, now).await?
        }
        None => create(conn, actor, session, request, limits, now, intent).await?,
    };
    if let Some(key) = &request.idempotency_key {
        idempotency::record(conn, key, &recorded(&outcome, request)?).await?;
    }
    Ok(outcome)
}

/// The POP an autosave without `popId` writes (see the module docs): `None` to create one.
async fn session_pop(
    conn: &mut Conn<'_>,
    session: &str,
    owner: i64,
) -> Result<Option<Pop>, AppError> {
    let mut live = queries::lock_session_pops(conn, session, owner, 2).await?;
    match (live.pop(), live.is_empty()) {
        (None, _) => Ok(None),
        (Some(pop), true) => match ensure_editable(&pop) {
            Ok(()) => Ok(Some(pop)),
            Err(_) => Err(AppError::PopIdRequired {
                message: format!(
                    "this session's POP is {}: call createPop to start a new POP, or send the \
                     popId of the POP to save",
                    pop.meta.status
                ),
            }),
        },
        (Some(_), false) => Err(AppError::PopIdRequired {
            message: "this session has several POPs: send the popId of the POP to save, or call \
                      createPop to start a new one"
                .into(),
        }),
    }
}

/// The changed fields: `(name, old, new)`, steps with their ids ([`steps::identify`]).
pub(super) fn changed_fields(before: &PopContent, fields: &Map<String, Value>) -> Vec<FieldChange> {
    let mut old = to_fields(before);
    fields
        .iter()
        .filter(|(_, new)| !new.is_null())
        .filter_map(|(name, new)| {
            let previous = old.remove(name)?;
            (previous != *new).then(|| (name.clone(), previous, new.clone()))
        })
        .collect()
}

async fn create(
    conn: &mut Conn<'_>,
    actor: &Actor,
    session: &str,
    request: &AutosaveRequest,
    limits: Limits,
    now: DateTime<Utc>,
    intent: Intent,
) -> Result<AutosaveOutcome, AppError> {
    let fields = process_code(conn, request, intent).await?;
    let blank = PopContent::default();
    let mut changes = changed_fields(&blank, &fields);
    steps::identify_change(&blank.etapas, &mut changes);
    let content = with_changes(&blank, &changes)?;
    let pop = insert_draft(
        conn,
        actor,
        &Draft {
            session,
            content: &content,
            versao: 1,
            changes,
            origin: None,
            raw_payload: request.raw_payload.as_ref(),
            max_document_bytes: limits.max_document_bytes,
            now,
        },
    )
    .await?;
    Ok(AutosaveOutcome {
        integrity_hash: pop.meta.integrity_hash.clone(),
        autosave_sequence: pop.meta.autosave_sequence,
        pop,
        changed: true,
        snapshot: None,
        merged_paths: Vec::new(),
    })
}

/// A new draft POP, before it is written.
pub(super) struct Draft<'a> {
    /// Its editing session.
    pub session: &'a str,
    /// Its content (codes already claimed, steps with their ids).
    pub content: &'a PopContent,
    /// Its version: 1, or 0 for a clone never published (as the legacy system wrote them).
    pub versao: i32,
    /// The fields set, from empty (one `create` row each in the history).
    pub changes: Vec<FieldChange>,
    /// Where it comes from, logged as a `create` row `cloned_from` (clones).
    pub origin: Option<Value>,
    /// The front end's form state.
    pub raw_payload: Option<&'a Value>,
    /// Largest accepted document, in bytes of its JSON.
    pub max_document_bytes: usize,
    /// When.
    pub now: DateTime<Utc>,
}

/// Writes a new draft POP and its `create` history (a POP created empty still gets one row, so
/// its history says when and by whom), in the caller's transaction.
pub(super) async fn insert_draft(
    conn: &mut Conn<'_>,
    actor: &Actor,
    draft: &Draft<'_>,
) -> Result<Pop, AppError> {
    let uuid = uuid::Uuid::new_v4();
    let mut meta = draft_meta(uuid, draft.now);
    meta.versao = draft.versao;
    let doc = document(&meta, draft.content);
    check_size(&doc, draft.max_document_bytes)?;
    let hash = integrity_hash(&doc);
    let pop = queries::insert_pop(
        conn,
        &NewPop {
            uuid: DbUuid(uuid),
            session_id: Some(draft.session),
            created_by_id: actor.user_id,
            status: Status::Draft,
            versao: draft.versao,
            integrity_hash: &hash,
            autosave_sequence: 1,
            raw_payload: draft.raw_payload,
            created_at: draft.now,
            updated_at: draft.now,
            last_autosave_at: Some(draft.now),
            last_activity_at: draft.now,
        },
        draft.content,
    )
    .await?;
    let mut rows: Vec<(String, Option<Value>, Value)> = draft
        .changes
        .iter()
        .map(|(field, old, new)| (field.clone(), Some(old.clone()), new.clone()))
        .collect();
    if let Some(origin) = &draft.origin {
        rows.push(("cloned_from".into(), None, origin.clone()));
    }
    if rows.is_empty() {
        rows.push(("status".into(), None, json!(pop.meta.status)));
    }
    let log: Vec<NewChange> = rows
        .into_iter()
        .map(|(field, old, new)| NewChange {
            pop_id: pop.meta.id,
            user_id: actor.user_id,
            action: super::ChangeAction::Create,
            field_name: field,
            old_value: old,
            new_value: Some(new),
            autosave_sequence: pop.meta.autosave_sequence,
            snapshot_id: None,
            created_at: draft.now,
        })
        .collect();
    queries::insert_changes(conn, &log).await?;
    Ok(pop)
}

/// The content fields of a new POP, with its process code settled (see [`super::codes`]): the
/// next free one at `cap_position` of its area when asked, else the one given, which
/// `createPop` requires in CAP form under the area's prefix; a CAP code must be free.
async fn process_code(
    conn: &mut Conn<'_>,
    request: &AutosaveRequest,
    intent: Intent,
) -> Result<Map<String, Value>, AppError> {
    const FIELD: &str = "input.content.codigoProcesso";
    let mut fields = request.fields.clone();
    let text = |key: &str| {
        fields
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let (area, given) = (text("area_codigo"), text("codigo_processo"));
    // What is checked is what is stored: the code and area without surrounding blanks.
    for (key, value) in [("area_codigo", &area), ("codigo_processo", &given)] {
        if let Some(value) = value {
            fields.insert(key.into(), json!(value));
        }
    }
    if let Some(position) = &request.cap_position {
        if given.is_some() {
            return Err(AppError::bad_input(
                "input.processPosition",
                "give either `processPosition` or `content.codigoProcesso`, not both",
            ));
        }
        let Some(prefix) = area_prefix(conn, area).await? else {
            return Err(AppError::bad_input(
                "input.content.area.codigo",
                "a code by position needs the POP's area, one with a CAP prefix",
            ));
        };
        let code =
            codes::next_free(conn, &prefix, position.trim(), "input.processPosition").await?;
        fields.insert("codigo_processo".into(), json!(code));
    } else if let (Intent::Create, Some(code)) = (intent, &given) {
        if !codes::is_cap(code) {
            return Err(AppError::bad_input(
                FIELD,
                "must be a process code `AA.MM.PP.SS.III` (area prefix, macroprocess, process and \
                 sub-process in two digits each, then the activity in three)",
            ));
        }
        if let Some(prefix) = area_prefix(conn, area).await? {
            if !code.starts_with(&format!("{prefix}.")) {
                return Err(AppError::bad_input(
                    FIELD,
                    format!("must start with the area's prefix {prefix}"),
                ));
            }
        }
    }
    let code = fields.get("codigo_processo").and_then(Value::as_str);
    codes::claim(conn, code, None, FIELD).await?;
    Ok(fields)
}

/// The CAP prefix of the area `codigo` (its own, else its nearest ancestor's), when the area
/// exists and has one.
async fn area_prefix(
    conn: &mut Conn<'_>,
    codigo: Option<String>,
) -> Result<Option<String>, AppError> {
    let Some(codigo) = codigo else {
        return Ok(None);
    };
    let areas = super::areas::all(conn).await?;
    Ok(
        super::areas::views(areas, &std::collections::HashMap::new())
            .into_iter()
            .find(|view| view.area.codigo == codigo)
            .and_then(|view| view.cap_prefix),
    )
}

/// The control fields a new draft will have, for hashing before the insert.
fn draft_meta(uuid: uuid::Uuid, now: DateTime<Utc>) -> PopMeta {
    PopMeta {
        id: 0,
        uuid: crate::db::types::DbUuid(uuid),
        legacy_id: None,
        session_id: None,
        created_by_id: None,
        versao: 1,
        mes_ano: None,
        data_aprovacao: None,
        status: super::Status::Draft,
        is_completo: false,
        integrity_hash: String::new(),
        autosave_sequence: 1,
        raw_payload: None,
        created_at: now,
        updated_at: now,
        last_autosave_at: Some(now),
        last_activity_at: now,
        deleted_at: None,
        cap_duplicate: false,
    }
}

async fn update(
    conn: &mut Conn<'_>,
    actor: &Actor,
    pop: Pop,
    request: &AutosaveRequest,
    limits: Limits,
    now: DateTime<Utc>,
) -> Result<AutosaveOutcome, AppError> {
    ensure_editable(&pop)?;
    let stale = Stale {
        expected_hash: request.expected_hash.as_deref(),
        base_sequence: request.base_sequence,
        on_stale: request.on_stale,
        fields: &request.fields,
    };
    let rebased = rebase::rebase(conn, &pop, stale).await?;
    let mut changes = changed_fields(&pop.content, &rebased.fields);
    let raw_changed = request
        .raw_payload
        .as_ref()
        .is_some_and(|raw| pop.meta.raw_payload.as_ref() != Some(raw));
    if !changes.is_empty() || raw_changed {
        steps::identify_change(&pop.content.etapas, &mut changes);
    }
    if changes.is_empty() && !raw_changed {
        return Ok(AutosaveOutcome {
            integrity_hash: pop.meta.integrity_hash.clone(),
            autosave_sequence: pop.meta.autosave_sequence,
            pop,
            changed: false,
            snapshot: None,
            merged_paths: rebased.merged_paths,
        });
    }
    let content = with_changes(&pop.content, &changes)?;
    let change = Change::Autosave {
        content,
        changes,
        raw_payload: request.raw_payload.as_ref(),
        max_document_bytes: limits.max_document_bytes,
        snapshot_every: limits.snapshot_every,
    };
    let applied = transition::apply(conn, actor, pop, change, now).await?;
    Ok(AutosaveOutcome {
        integrity_hash: applied.pop.meta.integrity_hash.clone(),
        autosave_sequence: applied.pop.meta.autosave_sequence,
        pop: applied.pop,
        changed: true,
        snapshot: applied.snapshot,
        merged_paths: rebased.merged_paths,
    })
}

/// `content` with the new values of `changes`.
pub(super) fn with_changes(
    content: &PopContent,
    changes: &[FieldChange],
) -> Result<PopContent, AppError> {
    let mut fields = to_fields(content);
    for (name, _, new) in changes {
        fields.insert(name.clone(), new.clone());
    }
    from_fields(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_ignores_the_key_but_not_the_content() {
        let mut a = AutosaveRequest {
            session_id: "s".into(),
            idempotency_key: Some("k1".into()),
            ..Default::default()
        };
        let mut b = a.clone();
        b.idempotency_key = Some("k2".into());
        let save = |r: &AutosaveRequest| request_fingerprint(r, Intent::Save);
        assert_eq!(save(&a), save(&b));
        assert_ne!(save(&a), request_fingerprint(&a, Intent::Create));
        a.fields.insert("macroprocesso".into(), json!("x"));
        assert_ne!(save(&a), save(&b));
    }

    #[test]
    fn null_fields_are_not_changes() {
        let mut request = AutosaveRequest::default();
        request.fields.insert("macroprocesso".into(), Value::Null);
        request
            .fields
            .insert("pontos_atencao".into(), json!("novo"));
        let changes = changed_fields(&PopContent::default(), &request.fields);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].0, "pontos_atencao");
    }
}
