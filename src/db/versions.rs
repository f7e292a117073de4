//! The statements of `pop_versions`: published versions, written by a publication and read by
//! the POP's history and the catalogue.

use super::models::PublishedVersion;
use super::types::DbUuid;
use super::Conn;
use crate::error::AppError;
use crate::with_backend;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;

crate::db_row! {
    /// A version to freeze.
    #[derive(Debug, Clone)]
    pub struct NewVersion<'a> into pop_versions {
        /// The POP (its row must be locked by the caller).
        pub pop_id: i64,
        /// Its version number.
        pub versao: i32,
        /// The document as published.
        pub payload: &'a Value,
        /// The document's legacy hash.
        pub integrity_hash: &'a str,
        /// Who published it.
        pub published_by_id: Option<i64>,
        /// When.
        pub published_at: DateTime<Utc>,
        /// Why (empty when no reason was given).
        pub motivo: &'a str,
    }
}

/// Inserts a version as its POP's current one (the previous current one stops being current).
pub async fn insert_current(
    conn: &mut Conn<'_>,
    new: &NewVersion<'_>,
) -> Result<PublishedVersion, AppError> {
    clear_current(conn, new.pop_id).await?;
    Ok(with_backend!(conn, |c| diesel::insert_into(
        schema::pop_versions::table
    )
    .values((new, schema::pop_versions::is_current.eq(true)))
    .returning(PublishedVersion::as_select())
    .get_result::<PublishedVersion>(c)
    .await)?)
}

/// Freezes the current document of every live published POP that has no version at all (POPs
/// published before versions were stored, or imported without them) as its current version:
/// publisher unknown, published at its last write. Returns how many were frozen.
pub async fn freeze_unversioned(conn: &mut Conn<'_>) -> Result<usize, AppError> {
    const SQL: &str = "INSERT INTO pop_versions \
         (pop_id, versao, payload, integrity_hash, published_at, is_current) \
         SELECT p.id, p.versao, p.document, p.integrity_hash, p.updated_at, TRUE FROM pops p \
         WHERE p.status = 'published' AND p.deleted_at IS NULL AND p.versao >= 1 \
         AND NOT EXISTS (SELECT 1 FROM pop_versions v WHERE v.pop_id = p.id)";
    Ok(with_backend!(conn, |c| diesel::sql_query(SQL)
        .execute(c)
        .await)?)
}

/// The highest version number stored for a POP, if any.
pub async fn newest_number(conn: &mut Conn<'_>, pop_id: i64) -> Result<Option<i32>, AppError> {
    Ok(with_backend!(conn, |c| schema::pop_versions::table
        .filter(schema::pop_versions::pop_id.eq(pop_id))
        .select(diesel::dsl::max(schema::pop_versions::versao))
        .first::<Option<i32>>(c)
        .await)?)
}

/// Makes none of a POP's versions current (an archived POP answers no version in the
/// catalogue; its versions stay listed on it).
pub async fn clear_current(conn: &mut Conn<'_>, pop_id: i64) -> Result<(), AppError> {
    with_backend!(conn, |c| diesel::update(
        schema::pop_versions::table
            .filter(schema::pop_versions::pop_id.eq(pop_id))
            .filter(schema::pop_versions::is_current.eq(true))
    )
    .set(schema::pop_versions::is_current.eq(false))
    .execute(c)
    .await)?;
    Ok(())
}

/// The published versions of the POPs `pop_ids`, newest first within each POP.
pub async fn of_pops(
    conn: &mut Conn<'_>,
    pop_ids: &[i64],
) -> Result<Vec<PublishedVersion>, AppError> {
    Ok(with_backend!(conn, |c| schema::pop_versions::table
        .filter(schema::pop_versions::pop_id.eq_any(pop_ids))
        .order((
            schema::pop_versions::pop_id,
            schema::pop_versions::versao.desc()
        ))
        .select(PublishedVersion::as_select())
        .load::<PublishedVersion>(c)
        .await)?)
}

/// Version `versao` of a POP, or its current version when `versao` is `None`.
pub async fn find(
    conn: &mut Conn<'_>,
    pop_id: i64,
    versao: Option<i32>,
) -> Result<Option<PublishedVersion>, AppError> {
    Ok(with_backend!(conn, |c| {
        let query = schema::pop_versions::table
            .filter(schema::pop_versions::pop_id.eq(pop_id))
            .into_boxed();
        let query = match versao {
            Some(versao) => query.filter(schema::pop_versions::versao.eq(versao)),
            None => query.filter(schema::pop_versions::is_current.eq(true)),
        };
        query
            .select(PublishedVersion::as_select())
            .first::<PublishedVersion>(c)
            .await
            .optional()
    })?)
}

/// The version whose row id is `id`, with its POP's public id, when the POP is live.
pub async fn by_id(
    conn: &mut Conn<'_>,
    id: i64,
) -> Result<Option<(uuid::Uuid, PublishedVersion)>, AppError> {
    let version = with_backend!(conn, |c| schema::pop_versions::table
        .find(id)
        .select(PublishedVersion::as_select())
        .first::<PublishedVersion>(c)
        .await
        .optional())?;
    let Some(version) = version else {
        return Ok(None);
    };
    let uuid = with_backend!(conn, |c| schema::pops::table
        .find(version.pop_id)
        .filter(schema::pops::deleted_at.is_null())
        .select(schema::pops::uuid)
        .first::<DbUuid>(c)
        .await
        .optional())?;
    Ok(uuid.map(|uuid| (uuid.0, version)))
}

/// The live POPs of the area whose slug is `area_slug` with process code `codigo`: the one that
/// holds the code first (see `domain::codes`), then any marked as duplicates, newest first:
/// `(id, uuid)`.
pub async fn pops_at_address(
    conn: &mut Conn<'_>,
    area_slug: &str,
    codigo: &str,
) -> Result<Vec<(i64, uuid::Uuid)>, AppError> {
    let rows = with_backend!(conn, |c| schema::pops::table
        .filter(
            schema::pops::area_codigo.nullable().eq_any(
                schema::areas::table
                    .filter(schema::areas::slug.eq(area_slug))
                    .select(schema::areas::codigo.nullable())
            )
        )
        .filter(schema::pops::codigo_processo.eq(codigo))
        .filter(schema::pops::deleted_at.is_null())
        .order((schema::pops::cap_duplicate, schema::pops::id.desc()))
        .select((schema::pops::id, schema::pops::uuid))
        .load::<(i64, DbUuid)>(c)
        .await)?;
    Ok(rows.into_iter().map(|(id, uuid)| (id, uuid.0)).collect())
}
