//! DataLoaders: one batched query per key type for relations resolved on many nodes.

use crate::db::models::{Pop, User};
use crate::db::queries;
use crate::db::Db;
use async_graphql::dataloader::Loader;
use std::collections::HashMap;

/// Loads users by id (for `createdBy` and `actor`).
pub struct UserLoader(pub Db);

impl Loader<i64> for UserLoader {
    type Value = User;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, User>, Self::Error> {
        let mut pooled = self.0.get().await?;
        let users = queries::users_by_ids(&mut pooled.conn(), keys).await?;
        Ok(users.into_iter().map(|u| (u.id, u)).collect())
    }
}

/// Loads POPs by internal id (for `Snapshot.pop`).
pub struct PopLoader(pub Db);

impl Loader<i64> for PopLoader {
    type Value = Pop;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Pop>, Self::Error> {
        let mut pooled = self.0.get().await?;
        let pops = queries::pops_by_ids(&mut pooled.conn(), keys).await?;
        Ok(pops.into_iter().map(|p| (p.meta.id, p)).collect())
    }
}
