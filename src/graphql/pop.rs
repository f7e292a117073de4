//! POP queries and the `Pop` type.

use crate::db::models::Pop;
use crate::db::Db;
use crate::domain::{document, pops};
use async_graphql::{Context, Json, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};

/// A POP (Procedimento Operacional Padrão): the current state of one mapped procedure.
pub struct PopObject(pub Pop);

/// The organisational area a POP belongs to.
#[derive(SimpleObject)]
pub struct Area {
    /// Area code, e.g. `COATE`.
    pub codigo: Option<String>,
    /// Area name.
    pub nome: Option<String>,
}

#[Object(name = "Pop")]
impl PopObject {
    /// Public id (UUID); stable across imports and backends.
    async fn id(&self) -> ID {
        ID(self.0.meta.uuid.to_string())
    }
    /// Id of the row in the legacy Django system, for imported POPs.
    async fn legacy_id(&self) -> Option<i64> {
        self.0.meta.legacy_id
    }
    /// The front end's editing session that created or last found this POP.
    async fn session_id(&self) -> Option<&str> {
        self.0.meta.session_id.as_deref()
    }
    /// Workflow status: `draft`, `in_review`, `published` or `archived`.
    async fn status(&self) -> &str {
        &self.0.meta.status
    }
    /// Published version number (starts at 1, +1 on each publication).
    async fn versao(&self) -> i32 {
        self.0.meta.versao
    }
    /// Number of autosaves so far; +1 on every accepted write.
    async fn autosave_sequence(&self) -> i32 {
        self.0.meta.autosave_sequence
    }
    /// SHA-256 of the document (legacy rule); send it back as `expectedHash` on the next autosave.
    async fn integrity_hash(&self) -> &str {
        &self.0.meta.integrity_hash
    }
    /// Author name shown on the document.
    async fn nome_usuario(&self) -> &str {
        &self.0.content.nome_usuario
    }
    /// The area the POP belongs to.
    async fn area(&self) -> Area {
        Area {
            codigo: self.0.content.area_codigo.clone(),
            nome: self.0.content.area_nome.clone(),
        }
    }
    /// The legacy document: exactly the object the integrity hash covers (plus `uuid`).
    async fn document(&self) -> Json<serde_json::Value> {
        Json(document::document(&self.0.meta, &self.0.content))
    }
    /// When the POP was created (UTC).
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.meta.created_at
    }
    /// When the POP was last written (UTC).
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.meta.updated_at
    }
    /// When the POP was soft-deleted, if it was.
    async fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.0.meta.deleted_at
    }
}

/// POP queries.
#[derive(Default)]
pub struct PopQuery;

#[Object]
impl PopQuery {
    /// One POP by its public id (UUID, with or without hyphens); `null` when there is none.
    async fn pop(&self, ctx: &Context<'_>, id: ID) -> Result<Option<PopObject>> {
        let db = ctx.data::<Db>()?;
        let id = pops::parse_public_id(&id)?;
        Ok(pops::find(db, id).await?.map(PopObject))
    }
}
