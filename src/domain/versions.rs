//! Published versions: what publishing freezes, how a version's hash is checked, and how the
//! catalogue finds a POP's published version by area and process code (CAP).
//!
//! Publishing (see [`super::transition::apply`]) writes the document as published to
//! `pop_versions`, in the same transaction as the status change, and makes it the POP's current
//! version; archiving leaves the POP with no current version. Versions are never rewritten: the
//! database refuses any update of a version but its `is_current` flag.
//!
//! The legacy system stored a version's `payload` without `status` and `versao`, and hashed it
//! with both added back (`status` is `published`, `versao` the version's number).
//! [`version_hash`] and [`document`] apply that rule to every version, so versions published
//! here (whose payload already holds both) and imported ones are read and verified alike.

use super::Status;
use crate::db::models::{Pop, PublishedVersion};
use crate::db::queries::{self, Page, PopFilter, Visibility};
use crate::db::{versions, Db};
use crate::error::AppError;
use crate::with_backend;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};

/// The document a version froze: its payload with `status` (`published`) and `versao` set.
pub fn document(payload: &Value, versao: i32) -> Value {
    let mut doc = payload.clone();
    if let Value::Object(map) = &mut doc {
        map.insert("status".into(), json!(Status::Published.as_str()));
        map.insert("versao".into(), json!(versao));
    }
    doc
}

/// The legacy hash a version must have: that of [`document`].
pub fn version_hash(payload: &Value, versao: i32) -> String {
    super::hash::integrity_hash(&document(payload, versao))
}

/// Whether a stored version still matches its stored hash.
pub fn verifies(version: &PublishedVersion) -> bool {
    version_hash(&version.payload, version.versao) == version.integrity_hash
}

/// The published version a catalogue address names: the POP of area `area_slug` whose process
/// code is `codigo` (a live one; if the legacy data holds several, the newest), and its version
/// `versao`, else its current version. `None` when there is none: a draft is never answered.
pub async fn by_address(
    db: &Db,
    area_slug: &str,
    codigo: &str,
    versao: Option<i32>,
) -> Result<Option<(uuid::Uuid, PublishedVersion)>, AppError> {
    let mut pooled = db.read().await?;
    let mut conn = pooled.conn();
    let candidates = versions::pops_at_address(&mut conn, area_slug, codigo).await?;
    for (pop_id, uuid) in candidates {
        if let Some(version) = versions::find(&mut conn, pop_id, versao).await? {
            return Ok(Some((uuid, version)));
        }
    }
    Ok(None)
}

/// The published version with row id `id` and its POP's public id, while the POP is live (as
/// the catalogue answers it); `None` otherwise.
pub async fn by_id(db: &Db, id: i64) -> Result<Option<(uuid::Uuid, PublishedVersion)>, AppError> {
    let mut pooled = db.read().await?;
    versions::by_id(&mut pooled.conn(), id).await
}

/// Longest catalogue page.
pub const MAX_CATALOGUE_PAGE: i64 = 100;

/// The catalogue: the current published versions of live POPs, of the area `area` and its
/// sub-areas when given, matching `search` when given (most relevant first; else newest POP
/// first), at most `limit`. `BAD_USER_INPUT` for an unknown area or a search under 3 characters.
pub async fn catalogue(
    db: &Db,
    area: Option<&str>,
    search: Option<&str>,
    limit: i64,
) -> Result<Vec<(uuid::Uuid, PublishedVersion)>, AppError> {
    let mut pooled = db.read().await?;
    let mut conn = pooled.conn();
    let area_in = match area {
        Some(codigo) => {
            let all = super::areas::all(&mut conn).await?;
            let codes = super::areas::with_descendants(&all, codigo);
            if codes.is_empty() {
                return Err(AppError::bad_input(
                    "areaCodigo",
                    format!("there is no area `{codigo}`"),
                ));
            }
            Some(codes)
        }
        None => None,
    };
    let search = match search.map(str::trim) {
        Some(text) if text.chars().count() < 3 => {
            return Err(AppError::bad_input("search", "give at least 3 characters"))
        }
        Some(text) => Some(super::search::parse("search", text)?),
        None => None,
    };
    let filter = PopFilter {
        visible: Visibility::All,
        status: Some(Status::Published),
        area_in,
        search,
        ..Default::default()
    };
    let page = Page {
        limit: limit.clamp(1, MAX_CATALOGUE_PAGE),
        ..Default::default()
    };
    let pops: Vec<Pop> = if filter.search.is_some() {
        queries::search_pops(&mut conn, &filter, &page)
            .await?
            .into_iter()
            .map(|(pop, _)| pop)
            .collect()
    } else {
        queries::list_pops(&mut conn, &filter, &page).await?
    };
    let ids: Vec<i64> = pops.iter().map(|p| p.meta.id).collect();
    let mut current: std::collections::HashMap<i64, PublishedVersion> =
        versions::of_pops(&mut conn, &ids)
            .await?
            .into_iter()
            .filter(|v| v.is_current)
            .map(|v| (v.pop_id, v))
            .collect();
    Ok(pops
        .into_iter()
        .filter_map(|pop| {
            current
                .remove(&pop.meta.id)
                .map(|version| (pop.meta.uuid.0, version))
        })
        .collect())
}

/// Counts for the catalogue's front page.
#[derive(Debug, Clone, Default)]
pub struct CatalogueStats {
    /// Live POPs per status, every status present.
    pub by_status: Vec<(Status, i64)>,
    /// Live published POPs per area code (POPs without an area left out).
    pub by_area: Vec<(String, i64)>,
    /// Versions published in the last 30 days.
    pub published_last_30_days: i64,
}

/// The catalogue's counts (see [`CatalogueStats`]), as of `now`.
pub async fn stats(db: &Db, now: DateTime<Utc>) -> Result<CatalogueStats, AppError> {
    let mut pooled = db.read().await?;
    let mut conn = pooled.conn();
    let by_status: Vec<(Status, i64)> = with_backend!(&mut conn, |c| schema::pops::table
        .filter(schema::pops::deleted_at.is_null())
        .group_by(schema::pops::status)
        .select((schema::pops::status, diesel::dsl::count_star()))
        .order(schema::pops::status)
        .load(c)
        .await)?;
    let by_area: Vec<(Option<String>, i64)> = with_backend!(&mut conn, |c| schema::pops::table
        .filter(schema::pops::deleted_at.is_null())
        .filter(schema::pops::status.eq(Status::Published.as_str()))
        .filter(schema::pops::area_codigo.is_not_null())
        .group_by(schema::pops::area_codigo)
        .select((schema::pops::area_codigo, diesel::dsl::count_star()))
        .order(schema::pops::area_codigo)
        .load(c)
        .await)?;
    let since = now - chrono::TimeDelta::days(30);
    let recent: i64 = with_backend!(&mut conn, |c| schema::pop_versions::table
        .filter(schema::pop_versions::published_at.ge(since))
        .count()
        .get_result(c)
        .await)?;
    Ok(CatalogueStats {
        by_status,
        by_area: by_area
            .into_iter()
            .filter_map(|(area, n)| area.map(|a| (a, n)))
            .collect(),
        published_last_30_days: recent,
    })
}
