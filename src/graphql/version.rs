//! Published versions: the `PublishedVersion` type, `Pop.publishedVersions` (through
//! [`super::loaders::VersionsLoader`]) and the catalogue's `publishedVersion` query.

use super::catalogue_reader;
use super::scalars::DateTime;
use super::user::UserObject;
use crate::db::models::PublishedVersion;
use crate::db::Db;
use crate::domain::versions;
use crate::error::AppError;
use async_graphql::{Context, Json, Object, Result, SimpleObject, ID};
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
    /// Global id (opaque; see `Node`).
    pub(crate) async fn id(&self) -> ID {
        super::node::GlobalId::PublishedVersion(self.version.id).encode()
    }
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
    /// The content of `document`, typed, as `Pop.content`.
    async fn content(&self) -> super::content::PopContent {
        super::content::PopContent::of(&self.version.payload)
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

/// How many live POPs have one status.
#[derive(SimpleObject)]
pub struct StatusCount {
    /// The status.
    pub status: super::pop::PopStatus,
    /// How many live POPs have it.
    pub count: i64,
}

/// How many live published POPs one area has (its own, sub-areas not included).
#[derive(SimpleObject)]
pub struct AreaCount {
    /// The area's code.
    pub area_codigo: String,
    /// Its live published POPs.
    pub published: i64,
}

/// The catalogue's counts.
#[derive(SimpleObject)]
pub struct CatalogueStats {
    /// Live POPs per status.
    pub by_status: Vec<StatusCount>,
    /// Live published POPs per area (areas without any are left out).
    pub by_area: Vec<AreaCount>,
    /// Versions published in the last 30 days.
    pub published_last_30_days: i64,
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

    /// The catalogue: the current published version of every live published POP, of an area and its sub-areas when `areaCodigo` is given, matching `search` when given (at least 3 characters, over the process name, code, macroprocess, deliverable and the rest of the text; most relevant first), else newest POP first. Open as `publishedVersion` is. `BAD_USER_INPUT` for an unknown area or a short search.
    #[graphql(complexity = "super::pagination::cost(Some(first), None, child_complexity)")]
    async fn catalogue(
        &self,
        ctx: &Context<'_>,
        area_codigo: Option<String>,
        search: Option<String>,
        #[graphql(default = 50, desc = "How many versions, 1 to 100.")] first: i32,
    ) -> Result<Vec<VersionObject>> {
        catalogue_reader(ctx)?;
        if !(1..=100).contains(&first) {
            return Err(AppError::bad_input("first", "must be 1 to 100").into());
        }
        let db = ctx.data::<Db>()?;
        let found = versions::catalogue(
            db,
            area_codigo.as_deref().map(str::trim),
            search.as_deref(),
            first.into(),
        )
        .await?;
        Ok(found
            .into_iter()
            .map(|(pop_uuid, version)| VersionObject { pop_uuid, version })
            .collect())
    }

    /// The catalogue's counts: live POPs per status (published ones only for readers without a token), live published POPs per area, and versions published in the last 30 days. Open as `publishedVersion` is.
    async fn catalogue_stats(&self, ctx: &Context<'_>) -> Result<CatalogueStats> {
        catalogue_reader(ctx)?;
        let db = ctx.data::<Db>()?;
        let stats = versions::stats(db, chrono::Utc::now()).await?;
        // Readers without a token (CATALOGUE_PUBLIC) learn about published POPs only.
        let signed_in = super::auth_user(ctx).is_ok();
        let by_status = stats
            .by_status
            .into_iter()
            .filter(|(status, _)| signed_in || *status == crate::domain::Status::Published)
            .map(|(status, count)| StatusCount {
                status: status.into(),
                count,
            })
            .collect();
        Ok(CatalogueStats {
            by_status,
            by_area: stats
                .by_area
                .into_iter()
                .map(|(area_codigo, published)| AreaCount {
                    area_codigo,
                    published,
                })
                .collect(),
            published_last_30_days: stats.published_last_30_days,
        })
    }
}
