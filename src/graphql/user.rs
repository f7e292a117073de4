//! The `User` type.

use super::loaders::UserLoader;
use crate::db::models::User;
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Object, Result, ID};

/// Loads the user with this id, if any (batched with the other lookups of the same request).
pub async fn load(ctx: &Context<'_>, id: Option<i64>) -> Result<Option<UserObject>> {
    let Some(id) = id else {
        return Ok(None);
    };
    let loader = ctx.data::<DataLoader<UserLoader>>()?;
    Ok(loader.load_one(id).await?.map(UserObject))
}

/// A person who can sign in, create POPs and appear in their history.
pub struct UserObject(pub User);

#[Object(name = "User")]
impl UserObject {
    /// Internal id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Unique login name.
    async fn username(&self) -> &str {
        &self.0.username
    }
    /// Staff see and act on every POP.
    async fn is_staff(&self) -> bool {
        self.0.is_staff
    }
    /// Code of the area this user reviews, if any.
    async fn area_codigo(&self) -> Option<&str> {
        self.0.area_codigo.as_deref()
    }
}
