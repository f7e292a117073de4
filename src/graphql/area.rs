//! Areas: the `CatalogueArea` type, the `areas`/`area` queries and the staff's `createArea` and
//! `updateArea` mutations.

use super::scalars::DateTime;
use super::{actor, catalogue_reader};
use crate::db::Db;
use crate::domain::areas::{self, AreaInput, AreaView};
use crate::error::AppError;
use async_graphql::{Context, InputObject, Object, Result, ID};

/// An area or sub-area of the organisation: POPs belong to one (by `codigo`, the POP's
/// `area.codigo`), reviewers review one, and the catalogue lists POPs by them.
pub struct CatalogueArea(pub AreaView);

#[Object]
impl CatalogueArea {
    /// Internal id.
    async fn id(&self) -> ID {
        ID(self.0.area.id.to_string())
    }
    /// Unique code (`DIGEP`, `DIGEP-RO`).
    async fn codigo(&self) -> &str {
        &self.0.area.codigo
    }
    /// Full name.
    async fn nome(&self) -> &str {
        &self.0.area.nome
    }
    /// Short name (empty when none).
    async fn nome_curto(&self) -> &str {
        &self.0.area.nome_curto
    }
    /// Unique slug, used in catalogue addresses.
    async fn slug(&self) -> &str {
        &self.0.area.slug
    }
    /// The area's own two-digit CAP prefix (`null` for a sub-area using its parent's).
    async fn prefixo(&self) -> Option<&str> {
        self.0.area.prefixo.as_deref()
    }
    /// The prefix its POPs' CAP codes start with: its own, else its nearest ancestor's.
    async fn cap_prefix(&self) -> Option<&str> {
        self.0.cap_prefix.as_deref()
    }
    /// Position in lists (ascending).
    async fn ordem(&self) -> i32 {
        self.0.area.ordem
    }
    /// Whether the area is in use (inactive areas keep their POPs).
    async fn ativo(&self) -> bool {
        self.0.area.ativo
    }
    /// Free description.
    async fn descricao(&self) -> &str {
        &self.0.area.descricao
    }
    /// The parent area's code, for a sub-area.
    async fn parent_codigo(&self) -> Option<&str> {
        self.0.parent_codigo.as_deref()
    }
    /// Live published POPs of this area.
    async fn published_pop_count(&self) -> i64 {
        self.0.published_pops
    }
    /// Live published POPs of this area and of every sub-area below it.
    async fn published_pop_count_with_subareas(&self) -> i64 {
        self.0.published_pops_with_subareas
    }
    /// When the area was created here (or in the legacy system).
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.area.created_at)
    }
    /// Last change.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.area.updated_at)
    }
}

/// An area as staff create or change it.
#[derive(InputObject, Debug)]
pub struct CatalogueAreaInput {
    /// Unique code: 1–20 letters, digits, `-`, `_` or `.`.
    pub codigo: String,
    /// Full name.
    pub nome: String,
    /// Short name.
    #[graphql(default)]
    pub nome_curto: String,
    /// Unique slug: lowercase letters, digits and single hyphens.
    pub slug: String,
    /// Two-digit CAP prefix; required unless `parentCodigo` is given.
    pub prefixo: Option<String>,
    /// Position in lists.
    #[graphql(default)]
    pub ordem: i32,
    /// Whether the area is in use.
    #[graphql(default = true)]
    pub ativo: bool,
    /// Free description.
    #[graphql(default)]
    pub descricao: String,
    /// Code of the parent area, for a sub-area.
    pub parent_codigo: Option<String>,
}

impl From<CatalogueAreaInput> for AreaInput {
    fn from(i: CatalogueAreaInput) -> AreaInput {
        AreaInput {
            codigo: i.codigo,
            nome: i.nome,
            nome_curto: i.nome_curto,
            slug: i.slug,
            prefixo: i.prefixo,
            ordem: i.ordem,
            ativo: i.ativo,
            descricao: i.descricao,
            parent_codigo: i.parent_codigo,
        }
    }
}

async fn view_of(db: &Db, codigo: &str) -> Result<CatalogueArea> {
    areas::list(db)
        .await?
        .into_iter()
        .find(|v| v.area.codigo == codigo)
        .map(CatalogueArea)
        .ok_or_else(|| AppError::internal("the area just written is missing").into())
}

/// Area queries.
#[derive(Default)]
pub struct AreaQuery;

#[Object]
impl AreaQuery {
    /// Every area, ordered by `ordem` then name, each with its counts of published POPs. Inactive areas only with `includeInactive`. Open to every signed-in user (and without a token with `CATALOGUE_PUBLIC`).
    async fn areas(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] include_inactive: bool,
    ) -> Result<Vec<CatalogueArea>> {
        catalogue_reader(ctx)?;
        let db = ctx.data::<Db>()?;
        Ok(areas::list(db)
            .await?
            .into_iter()
            .filter(|v| include_inactive || v.area.ativo)
            .map(CatalogueArea)
            .collect())
    }

    /// One area by its code or by its slug (give one of them); `null` if there is none. Open to every signed-in user (and without a token with `CATALOGUE_PUBLIC`).
    async fn area(
        &self,
        ctx: &Context<'_>,
        codigo: Option<String>,
        slug: Option<String>,
    ) -> Result<Option<CatalogueArea>> {
        catalogue_reader(ctx)?;
        if codigo.is_some() == slug.is_some() {
            return Err(AppError::bad_input("codigo", "give either `codigo` or `slug`").into());
        }
        let db = ctx.data::<Db>()?;
        Ok(areas::list(db)
            .await?
            .into_iter()
            .find(|v| {
                Some(&v.area.codigo) == codigo.as_ref() || Some(&v.area.slug) == slug.as_ref()
            })
            .map(CatalogueArea))
    }
}

/// Area mutations (staff only).
#[derive(Default)]
pub struct AreaMutation;

#[Object]
impl AreaMutation {
    /// Creates an area or sub-area. Staff only (`FORBIDDEN` otherwise); a malformed or taken code or slug, a bad prefix or an unknown parent is `BAD_USER_INPUT` naming the field.
    async fn create_area(
        &self,
        ctx: &Context<'_>,
        input: CatalogueAreaInput,
    ) -> Result<CatalogueArea> {
        let actor = actor(ctx)?;
        let db = ctx.data::<Db>()?;
        let area = areas::create(db, &actor, &input.into()).await?;
        view_of(db, &area.codigo).await
    }

    /// Replaces every field of the area whose code is `codigo` (staff only). The code of an area that POPs or users name cannot change; a parent may not be the area or one of its sub-areas.
    async fn update_area(
        &self,
        ctx: &Context<'_>,
        codigo: String,
        input: CatalogueAreaInput,
    ) -> Result<CatalogueArea> {
        let actor = actor(ctx)?;
        let db = ctx.data::<Db>()?;
        let area = areas::update(db, &actor, &codigo, &input.into()).await?;
        view_of(db, &area.codigo).await
    }
}
