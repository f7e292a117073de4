//! Reading users.

use crate::db::models::User;
use crate::db::queries;
use crate::db::Db;
use crate::error::AppError;

/// A user by username.
pub async fn find_by_username(db: &Db, username: &str) -> Result<Option<User>, AppError> {
    let mut pooled = db.get().await?;
    queries::user_by_username(&mut pooled.conn(), username).await
}
