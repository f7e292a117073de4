//! DataLoaders: one batched query per key type for relations resolved on many nodes.

use crate::db::models::{Pop, PublishedVersion, User};
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

/// Loads the reason given with each POP's last status change (for `Pop.statusReason`): the
/// change that set the current status wrote its `status` row, then its `status_reason` row when
/// it had a reason, so the newest of those rows tells.
pub struct StatusReasonLoader(pub Db);

impl Loader<i64> for StatusReasonLoader {
    type Value = String;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, String>, Self::Error> {
        let mut pooled = self.0.get().await?;
        let rows = queries::status_change_rows(&mut pooled.conn(), keys).await?;
        let mut newest: HashMap<i64, (i64, String, Option<serde_json::Value>)> = HashMap::new();
        for (pop_id, id, field, value) in rows {
            if newest.get(&pop_id).is_none_or(|(seen, _, _)| id > *seen) {
                newest.insert(pop_id, (id, field, value));
            }
        }
        Ok(newest
            .into_iter()
            .filter_map(
                |(pop_id, (_, field, value))| match (field.as_str(), value) {
                    ("status_reason", Some(serde_json::Value::String(reason))) => {
                        Some((pop_id, reason))
                    }
                    _ => None,
                },
            )
            .collect())
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

/// Loads each POP's published versions, newest first (for `Pop.publishedVersions`).
pub struct VersionsLoader(pub Db);

impl Loader<i64> for VersionsLoader {
    type Value = Vec<PublishedVersion>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Vec<PublishedVersion>>, Self::Error> {
        let mut pooled = self.0.get().await?;
        let versions = crate::db::versions::of_pops(&mut pooled.conn(), keys).await?;
        let mut by_pop: HashMap<i64, Vec<PublishedVersion>> = HashMap::new();
        for version in versions {
            by_pop.entry(version.pop_id).or_default().push(version);
        }
        Ok(by_pop)
    }
}
