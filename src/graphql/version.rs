//! Published versions: the `PublishedVersion` type, `Pop.publishedVersions` (through
//! [`super::loaders::VersionsLoader`]) and the catalogue's `publishedVersion` query.

use super::catalogue_reader;
use super::scalars::DateTime;
use super::user::UserObject;
use crate::db::models::PublishedVersion;
use crate::db::Db;
use crate::domain::versions;
use crate::error::AppError;
use async_graphql::{Context, Json, Object, Result, ID};
use serde_json::Value;

/// A published version of a POP: its document frozen at publication, never changed afterwards. Every signed-in user may read every POP's published versions (drafts stay private).
pub struct VersionObject {
    /// The POP's public id.
    pub pop_uuid: uuid::Uuid,
    /// The version.
    pub version: PublishedVersion,
}

impl VersionObject {
    fn text(&self, key: &str) -> Option<&str> {
        self.version.payload.get(key).and_then(Value::as_str)
    }
}

#[Object(name = "PublishedVersion")]
impl VersionObject {
    /// The POP's public id (its `Pop.id`).
    async fn pop_id(&self) -> ID {
        ID(self.pop_uuid.to_string())
    }
    /// The version number: the POP's `versao` once published (each publication adds 1 to it).
    async fn versao(&self) -> i32 {
        self.version.versao
    }
    /// The process code (CAP) the POP had when this version was published.
    async fn codigo_processo(&self) -> Option<&str> {
        self.text("codigo_processo")
    }
    /// The process name the POP had when this version was published.
    async fn nome_processo(&self) -> Option<&str> {
        self.text("nome_processo")
    }
    /// The document as published (the legacy document, with `status` `published` and this `versao`).
    async fn document(&self) -> Json<Value> {
        Json(versions::document(
            &self.version.payload,
            self.version.versao,
        ))
    }
    /// SHA-256 of `document` by the legacy rule; `mapagov verify` checks it.
    async fn integrity_hash(&self) -> &str {
        &self.version.integrity_hash
    }
    /// When it was published.
    async fn published_at(&self) -> DateTime {
        DateTime(self.version.published_at)
    }
    /// Who published it; `null` for versions whose publisher is unknown or was removed, and for readers without a token (`CATALOGUE_PUBLIC`).
    async fn published_by(&self, ctx: &Context<'_>) -> Result<Option<UserObject>> {
        if super::auth_user(ctx).is_err() {
            return Ok(None);
        }
        super::user::load(ctx, self.version.published_by_id).await
    }
    /// Why it was published, as the publisher said; `null` when no reason was given.
    async fn reason(&self) -> Option<&str> {
        Some(self.version.motivo.as_str()).filter(|m| !m.is_empty())
    }
    /// Whether this is the version the catalogue answers for the POP: its newest publication, while the POP is published (an archived POP has none).
    async fn is_current(&self) -> bool {
        self.version.is_current
    }
}

/// Catalogue queries.
#[derive(Default)]
pub struct VersionQuery;

#[Object]
impl VersionQuery {
    /// A published version by its catalogue address: the area's slug and the POP's process code (CAP), then version `versao`, else the current published version. `null` when the address names no published POP (drafts are never answered). Open to every signed-in user, and to readers without a token when the server sets `CATALOGUE_PUBLIC`.
    async fn published_version(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The area's slug, as in `area(slug:)`.")] area_slug: String,
        #[graphql(desc = "The POP's process code (CAP), e.g. `05.01.02.03.004`.")] codigo: String,
        #[graphql(desc = "A version number; the current published version when left out.")]
        versao: Option<i32>,
    ) -> Result<Option<VersionObject>> {
        catalogue_reader(ctx)?;
        if versao.is_some_and(|v| v < 1) {
            return Err(AppError::bad_input("versao", "version numbers start at 1").into());
        }
        let db = ctx.data::<Db>()?;
        let found = versions::by_address(db, area_slug.trim(), codigo.trim(), versao).await?;
        Ok(found.map(|(pop_uuid, version)| VersionObject { pop_uuid, version }))
    }
}
