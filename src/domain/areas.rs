//! Areas and sub-areas: what a valid area is, who may change them, and the list with its counts
//! of published POPs.
//!
//! A POP belongs to the area whose `codigo` its `area_codigo` holds (the code the legacy document
//! carries as `area.codigo`), so the document and its hash are the same whether or not the area
//! exists here. Staff create and change areas; everyone signed in reads them.

use super::{Actor, Status};
use crate::db::models::Area;
use crate::db::row::Assignments;
use crate::db::{Conn, Db};
use crate::error::AppError;
use crate::with_backend;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use scoped_futures::ScopedFutureExt;
use std::collections::HashMap;

/// Longest area code (the legacy column's limit).
pub const MAX_CODIGO: usize = 20;

/// What a staff member sends to create or change an area.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AreaInput {
    /// Unique code: letters, digits, `-`, `_` or `.`, at most [`MAX_CODIGO`].
    pub codigo: String,
    /// Full name.
    pub nome: String,
    /// Short name (empty: none).
    pub nome_curto: String,
    /// Unique slug: lowercase letters, digits and single hyphens.
    pub slug: String,
    /// Two-digit CAP prefix; `None` for a sub-area that uses its parent's.
    pub prefixo: Option<String>,
    /// Position in lists.
    pub ordem: i32,
    /// Offered for new POPs.
    pub ativo: bool,
    /// Free description.
    pub descricao: String,
    /// Code of the parent area, for a sub-area.
    pub parent_codigo: Option<String>,
}

/// An area as lists show it: the row, its parent's code, the CAP prefix its POPs take, and its
/// published POPs (its own, and with its sub-areas').
#[derive(Debug, Clone, PartialEq)]
pub struct AreaView {
    /// The stored area.
    pub area: Area,
    /// The parent's code, for a sub-area.
    pub parent_codigo: Option<String>,
    /// The prefix its POPs' CAP codes start with: its own, else the nearest ancestor's.
    pub cap_prefix: Option<String>,
    /// Live published POPs of this area.
    pub published_pops: i64,
    /// Live published POPs of this area and every sub-area below it.
    pub published_pops_with_subareas: i64,
}

fn valid_codigo(codigo: &str) -> bool {
    !codigo.is_empty()
        && codigo.chars().count() <= MAX_CODIGO
        && codigo
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 100
        && !slug.starts_with('-')
        && !slug.ends_with('-')
        && !slug.contains("--")
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn valid_prefixo(prefixo: &str) -> bool {
    prefixo.len() == 2 && prefixo.chars().all(|c| c.is_ascii_digit())
}

/// Checks an input's own values (not those that need the database), trimming text.
pub fn validate(input: &AreaInput) -> Result<AreaInput, AppError> {
    let trimmed = |s: &str| s.trim().to_owned();
    let out = AreaInput {
        codigo: trimmed(&input.codigo),
        nome: trimmed(&input.nome),
        nome_curto: trimmed(&input.nome_curto),
        slug: trimmed(&input.slug),
        prefixo: input
            .prefixo
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned),
        ordem: input.ordem,
        ativo: input.ativo,
        descricao: trimmed(&input.descricao),
        parent_codigo: input
            .parent_codigo
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned),
    };
    if !valid_codigo(&out.codigo) {
        return Err(AppError::bad_input(
            "input.codigo",
            format!(
                "an area code is 1 to {MAX_CODIGO} letters, digits, `-`, `_` or `.` (e.g. DIGEP-RO)"
            ),
        ));
    }
    if out.nome.is_empty() {
        return Err(AppError::bad_input("input.nome", "an area needs a name"));
    }
    if !valid_slug(&out.slug) {
        return Err(AppError::bad_input(
            "input.slug",
            "a slug is lowercase letters, digits and single hyphens (e.g. digep-ro)",
        ));
    }
    if let Some(prefixo) = &out.prefixo {
        if !valid_prefixo(prefixo) {
            return Err(AppError::bad_input(
                "input.prefixo",
                "a CAP prefix is two digits (e.g. 05)",
            ));
        }
    }
    if out.parent_codigo.is_none() && out.prefixo.is_none() {
        return Err(AppError::bad_input(
            "input.prefixo",
            "an area without a parent needs its own two-digit CAP prefix",
        ));
    }
    if out.parent_codigo.as_deref() == Some(out.codigo.as_str()) {
        return Err(AppError::bad_input(
            "input.parentCodigo",
            "an area cannot be its own parent",
        ));
    }
    Ok(out)
}

/// Every area, ordered by `ordem` then `nome`.
pub async fn all(conn: &mut Conn<'_>) -> Result<Vec<Area>, AppError> {
    Ok(with_backend!(conn, |c| schema::areas::table
        .order((schema::areas::ordem, schema::areas::nome, schema::areas::id))
        .select(Area::as_select())
        .load::<Area>(c)
        .await)?)
}

/// Live (not deleted) published POPs per area code.
async fn published_counts(conn: &mut Conn<'_>) -> Result<HashMap<String, i64>, AppError> {
    let rows: Vec<(Option<String>, i64)> = with_backend!(conn, |c| schema::pops::table
        .filter(schema::pops::status.eq(Status::Published.as_str()))
        .filter(schema::pops::deleted_at.is_null())
        .filter(schema::pops::area_codigo.is_not_null())
        .group_by(schema::pops::area_codigo)
        .select((schema::pops::area_codigo, diesel::dsl::count_star()))
        .load(c)
        .await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(codigo, n)| codigo.map(|c| (c, n)))
        .collect())
}

/// Builds the views of `areas` (the whole table) with `counts` of published POPs per code.
pub fn views(areas: Vec<Area>, counts: &HashMap<String, i64>) -> Vec<AreaView> {
    let by_id: HashMap<i64, &Area> = areas.iter().map(|a| (a.id, a)).collect();
    // The chain from an area up to its root (bounded, so a damaged table cannot loop).
    let ancestors = |area: &Area| {
        let mut chain = Vec::new();
        let mut next = area.parent_id;
        while let Some(id) = next {
            match by_id.get(&id) {
                Some(parent) if chain.len() < by_id.len() => {
                    chain.push(*parent);
                    next = parent.parent_id;
                }
                _ => break,
            }
        }
        chain
    };
    let mut with_subareas: HashMap<i64, i64> = HashMap::new();
    for area in &areas {
        let own = counts.get(&area.codigo).copied().unwrap_or(0);
        *with_subareas.entry(area.id).or_default() += own;
        for ancestor in ancestors(area) {
            *with_subareas.entry(ancestor.id).or_default() += own;
        }
    }
    areas
        .iter()
        .map(|area| {
            let chain = ancestors(area);
            AreaView {
                parent_codigo: chain.as_slice().first().map(|p| p.codigo.clone()),
                cap_prefix: area
                    .prefixo
                    .clone()
                    .or_else(|| chain.iter().find_map(|a| a.prefixo.clone())),
                published_pops: counts.get(&area.codigo).copied().unwrap_or(0),
                published_pops_with_subareas: with_subareas.get(&area.id).copied().unwrap_or(0),
                area: area.clone(),
            }
        })
        .collect()
}

/// Every area with its counts, ordered by `ordem` then `nome`.
pub async fn list(db: &Db) -> Result<Vec<AreaView>, AppError> {
    let mut pooled = db.read().await?;
    let mut conn = pooled.conn();
    let areas = all(&mut conn).await?;
    let counts = published_counts(&mut conn).await?;
    Ok(views(areas, &counts))
}

/// The codes of an area and of every sub-area below it (for lists "by area, sub-areas included").
pub fn with_descendants(areas: &[Area], codigo: &str) -> Vec<String> {
    let Some(root) = areas.iter().find(|a| a.codigo == codigo) else {
        return Vec::new();
    };
    let mut out = vec![root.codigo.clone()];
    let mut frontier = vec![root.id];
    while let Some(id) = frontier.pop() {
        for child in areas.iter().filter(|a| a.parent_id == Some(id)) {
            if !out.contains(&child.codigo) {
                out.push(child.codigo.clone());
                frontier.push(child.id);
            }
        }
    }
    out
}

/// The area whose code is `codigo`, locked for the caller's write transaction (on PostgreSQL; the
/// SQLite write lock already serializes writers): an update compares the input with this row and
/// writes only what differs, so the row must not change under it.
async fn lock_by_codigo(conn: &mut Conn<'_>, codigo: &str) -> Result<Option<Area>, AppError> {
    Ok(with_backend!(conn, |c| for_update!(schema::areas::table
        .filter(schema::areas::codigo.eq(codigo))
        .select(Area::as_select()))
    .first::<Area>(c)
    .await
    .optional())?)
}

/// Resolves the parent of `input` and refuses taken codes and slugs (other than `keep`'s own).
async fn check_against_table(
    conn: &mut Conn<'_>,
    input: &AreaInput,
    keep: Option<i64>,
) -> Result<Option<i64>, AppError> {
    let areas = all(conn).await?;
    let other = |a: &&Area| Some(a.id) != keep;
    if areas.iter().filter(other).any(|a| a.codigo == input.codigo) {
        return Err(AppError::bad_input(
            "input.codigo",
            format!("the area code {} is taken", input.codigo),
        ));
    }
    if areas.iter().filter(other).any(|a| a.slug == input.slug) {
        return Err(AppError::bad_input(
            "input.slug",
            format!("the slug {} is taken", input.slug),
        ));
    }
    let Some(parent_codigo) = &input.parent_codigo else {
        return Ok(None);
    };
    let parent = areas
        .iter()
        .find(|a| &a.codigo == parent_codigo)
        .ok_or_else(|| {
            AppError::bad_input(
                "input.parentCodigo",
                format!("there is no area {parent_codigo}"),
            )
        })?;
    if let Some(id) = keep {
        // The new parent may not be the area itself or one of its sub-areas.
        let current = areas.iter().find(|a| a.id == id).map(|a| a.codigo.clone());
        if let Some(codigo) = current {
            if with_descendants(&areas, &codigo).contains(&parent.codigo) {
                return Err(AppError::bad_input(
                    "input.parentCodigo",
                    "an area cannot be placed under itself or one of its sub-areas",
                ));
            }
        }
    }
    Ok(Some(parent.id))
}

crate::db_row! {
    /// An area to insert: from a validated input here, from a legacy area by `import-django`.
    #[derive(Debug, Clone)]
    pub struct NewArea<'a> into areas {
        /// Unique code.
        pub codigo: &'a str,
        /// Full name.
        pub nome: &'a str,
        /// Short name.
        pub nome_curto: &'a str,
        /// Unique slug.
        pub slug: &'a str,
        /// The two-digit CAP prefix.
        pub prefixo: Option<&'a str>,
        /// Position in lists.
        pub ordem: i32,
        /// Offered for new POPs and reviewers.
        pub ativo: bool,
        /// Free description.
        pub descricao: &'a str,
        /// The parent area of a sub-area.
        pub parent_id: Option<i64>,
        /// Creation time.
        pub created_at: DateTime<Utc>,
        /// Last change.
        pub updated_at: DateTime<Utc>,
    }
}

/// Creates an area (staff only).
pub async fn create(db: &Db, actor: &Actor, input: &AreaInput) -> Result<Area, AppError> {
    if !actor.is_staff {
        return Err(AppError::Forbidden);
    }
    let input = validate(input)?;
    db.write(|mut conn| {
        async move {
            let parent_id = check_against_table(&mut conn, &input, None).await?;
            let now = Utc::now();
            let new = NewArea {
                codigo: &input.codigo,
                nome: &input.nome,
                nome_curto: &input.nome_curto,
                slug: &input.slug,
                prefixo: input.prefixo.as_deref(),
                ordem: input.ordem,
                ativo: input.ativo,
                descricao: &input.descricao,
                parent_id,
                created_at: now,
                updated_at: now,
            };
            Ok(with_backend!(&mut conn, |c| diesel::insert_into(
                schema::areas::table
            )
            .values(&new)
            .returning(Area::as_returning())
            .get_result::<Area>(c)
            .await)?)
        }
        .scope_boxed()
    })
    .await
}

/// Changes the area whose code is `codigo` (staff only). Changing the code of an area that POPs
/// or users name is refused: their documents carry it.
pub async fn update(
    db: &Db,
    actor: &Actor,
    codigo: &str,
    input: &AreaInput,
) -> Result<Area, AppError> {
    if !actor.is_staff {
        return Err(AppError::Forbidden);
    }
    let input = validate(input)?;
    db.write(|mut conn| {
        async move {
            let current = lock_by_codigo(&mut conn, codigo)
                .await?
                .ok_or(AppError::NotFound("area"))?;
            let parent_id = check_against_table(&mut conn, &input, Some(current.id)).await?;
            if input.codigo != current.codigo && in_use(&mut conn, &current.codigo).await? {
                return Err(AppError::bad_input(
                    "input.codigo",
                    format!(
                        "POPs or users belong to {}; its code cannot change",
                        current.codigo
                    ),
                ));
            }
            let next = Area {
                codigo: input.codigo.clone(),
                nome: input.nome.clone(),
                nome_curto: input.nome_curto.clone(),
                slug: input.slug.clone(),
                prefixo: input.prefixo.clone(),
                ordem: input.ordem,
                ativo: input.ativo,
                descricao: input.descricao.clone(),
                parent_id,
                updated_at: Utc::now(),
                ..current.clone()
            };
            Ok(with_backend!(&mut conn, |c| diesel::update(
                schema::areas::table.filter(schema::areas::id.eq(current.id))
            )
            .set(Assignments::<schema::areas::table>::changed_from(
                &next, &current
            ))
            .returning(Area::as_returning())
            .get_result::<Area>(c)
            .await)?)
        }
        .scope_boxed()
    })
    .await
}

async fn in_use(conn: &mut Conn<'_>, codigo: &str) -> Result<bool, AppError> {
    let pops: i64 = with_backend!(conn, |c| schema::pops::table
        .filter(schema::pops::area_codigo.eq(codigo))
        .count()
        .get_result(c)
        .await)?;
    let users: i64 = with_backend!(conn, |c| schema::users::table
        .filter(schema::users::area_codigo.eq(codigo))
        .count()
        .get_result(c)
        .await)?;
    Ok(pops + users > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> AreaInput {
        AreaInput {
            codigo: "DIGEP".into(),
            nome: "Diretoria de Gestão de Pessoas".into(),
            slug: "digep".into(),
            prefixo: Some("05".into()),
            ativo: true,
            ..Default::default()
        }
    }

    #[test]
    fn validation_names_the_field_at_fault() {
        assert!(validate(&input()).is_ok());
        let field = |i: AreaInput| match validate(&i) {
            Err(AppError::BadUserInput { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let mut bad = input();
        bad.codigo = "DIGEP RO".into();
        assert_eq!(field(bad).as_deref(), Some("input.codigo"));
        let mut bad = input();
        bad.slug = "Digep".into();
        assert_eq!(field(bad).as_deref(), Some("input.slug"));
        let mut bad = input();
        bad.prefixo = Some("5".into());
        assert_eq!(field(bad).as_deref(), Some("input.prefixo"));
        let mut bad = input();
        bad.prefixo = None;
        assert_eq!(field(bad).as_deref(), Some("input.prefixo"));
        let mut sub = input();
        sub.prefixo = None;
        sub.parent_codigo = Some("DIGEP".into());
        assert_eq!(field(sub).as_deref(), Some("input.parentCodigo"));
    }
}
