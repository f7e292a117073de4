//! Cloning: a new draft activity made from a published or in-review POP (`clonePop`), as the
//! legacy system's "clone a sibling activity" did.
//!
//! The clone belongs to whoever clones, in the source's area, with the source's content but its
//! own name, fresh step ids, `versao` 0 (a clone never published, as the legacy system wrote it),
//! and — when the source has a process code — the next free code among the source's siblings
//! (see [`super::codes`]). Its history starts with the `create` rows of its fields and a
//! `cloned_from` row naming the source (public id, version and code).

use super::autosave::{changed_fields, insert_draft, with_changes, Draft, MAX_SESSION_ID};
use super::document::to_fields;
use super::pops::{lock_permitted, PopKey};
use super::{codes, steps, Actor, Status};
use crate::db::models::{Pop, PopContent};
use crate::db::Db;
use crate::error::AppError;
use chrono::Utc;
use scoped_futures::ScopedFutureExt;
use serde_json::{json, Value};

/// Shortest name of a clone, in characters (the legacy rule).
pub const MIN_NAME: usize = 5;
/// Longest name of a clone, in characters.
pub const MAX_NAME: usize = 500;

/// What `clonePop` asks for.
#[derive(Debug, Clone)]
pub struct CloneRequest {
    /// The POP to clone (published or in review).
    pub source: uuid::Uuid,
    /// The clone's activity name (`nome_processo`).
    pub name: String,
    /// The clone's editing session; a new one when `None`.
    pub session_id: Option<String>,
}

/// Clones a POP (see the module docs). `NOT_FOUND` when the actor may not see the source (a
/// published POP is visible to every signed-in user); `BAD_USER_INPUT` for a name out of bounds
/// or a source that is neither published nor in review.
pub async fn clone_pop(
    db: &Db,
    actor: &Actor,
    request: &CloneRequest,
    max_document_bytes: usize,
) -> Result<Pop, AppError> {
    actor.user_id.ok_or(AppError::Unauthenticated)?;
    let name = request.name.trim().to_owned();
    let length = name.chars().count();
    if !(MIN_NAME..=MAX_NAME).contains(&length) {
        return Err(AppError::bad_input(
            "name",
            format!("must be {MIN_NAME} to {MAX_NAME} characters"),
        ));
    }
    let session = match request.session_id.as_deref().map(str::trim) {
        Some("") => return Err(AppError::bad_input("sessionId", "must not be empty")),
        Some(s) if s.chars().count() > MAX_SESSION_ID => {
            return Err(AppError::bad_input(
                "sessionId",
                format!("must be at most {MAX_SESSION_ID} characters"),
            ))
        }
        Some(s) => s.to_owned(),
        None => format!("clone-{}", uuid::Uuid::new_v4()),
    };
    db.write(|mut conn| {
        let (name, session) = (&name, &session);
        async move {
            let now = Utc::now();
            let source = lock_permitted(&mut conn, PopKey::Public(request.source), "POP", |pop| {
                let published = pop.status == Status::Published;
                if actor.can_read(pop) || (published && pop.deleted_at.is_none()) {
                    Ok(())
                } else {
                    Err(AppError::NotFound("POP"))
                }
            })
            .await?;
            if source.meta.deleted_at.is_some()
                || !matches!(source.meta.status, Status::Published | Status::InReview)
            {
                return Err(AppError::bad_input(
                    "popId",
                    format!(
                        "only a published or in-review POP can be cloned (this one is {})",
                        if source.meta.deleted_at.is_some() {
                            "deleted"
                        } else {
                            source.meta.status.as_str()
                        }
                    ),
                ));
            }
            let mut content = source.content.clone();
            content.nome_processo = Some(name.clone());
            content.codigo_processo = match source.content.codigo_processo.as_deref() {
                Some(code) if codes::is_cap(code) => {
                    Some(codes::next_free(&mut conn, &code[..2], &code[3..11], "popId").await?)
                }
                _ => None,
            };
            content.etapas = fresh_step_ids(&content.etapas).into();
            let blank = PopContent::default();
            let changes = changed_fields(&blank, &to_fields(&content));
            let content = with_changes(&blank, &changes)?;
            let origin = json!({
                "popId": source.meta.uuid.0.to_string(),
                "versao": source.meta.versao,
                "codigoProcesso": source.content.codigo_processo,
            });
            insert_draft(
                &mut conn,
                actor,
                &Draft {
                    session,
                    content: &content,
                    versao: 0,
                    changes,
                    origin: Some(origin),
                    raw_payload: None,
                    max_document_bytes,
                    now,
                },
            )
            .await
        }
        .scope_boxed()
    })
    .await
}

/// The steps without their ids, given new ones (a clone's steps are its own).
fn fresh_step_ids(etapas: &Value) -> Value {
    let stripped = match etapas {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| match item {
                    Value::Object(step) => {
                        let mut step = step.clone();
                        step.remove("id");
                        Value::Object(step)
                    }
                    other => other.clone(),
                })
                .collect(),
        ),
        other => other.clone(),
    };
    steps::identify(&stripped, &Value::Array(Vec::new()))
}
