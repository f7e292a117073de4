//! Reading POPs.

use crate::db::models::Pop;
use crate::db::types::DbUuid;
use crate::db::Db;
use crate::error::AppError;
use crate::{pop_columns, with_backend};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// Parses a public POP id: a UUID with or without hyphens.
pub fn parse_public_id(raw: &str) -> Result<uuid::Uuid, AppError> {
    uuid::Uuid::parse_str(raw.trim())
        .map_err(|_| AppError::bad_input("id", "not a POP id (expected a UUID)"))
}

/// Finds a POP by its public id, deleted or not.
pub async fn find(db: &Db, id: uuid::Uuid) -> Result<Option<Pop>, AppError> {
    let mut pooled = db.get().await?;
    let pop = with_backend!(&mut pooled.conn(), |c| {
        schema::pops::table
            .filter(schema::pops::uuid.eq(DbUuid(id)))
            .select(pop_columns!())
            .first::<Pop>(c)
            .await
            .optional()
    })?;
    Ok(pop)
}
