//! Signing in and out: `login`, `logout`, `me`.

use super::{auth_user, user::UserObject};
use crate::auth::{self, limiter::LoginLimiter};
use crate::db::Db;
use crate::error::AppError;
use async_graphql::{Context, Object, Result, SimpleObject};
use std::net::IpAddr;
use std::sync::Arc;

/// The client's network address, as the server saw it.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// The result of `login`.
#[derive(SimpleObject)]
pub struct LoginPayload {
    /// A new API token, shown this once: send it as `Authorization: Bearer <token>`.
    pub token: String,
    /// Who signed in.
    pub user: UserObject,
}

/// Account queries.
#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>) -> Result<UserObject> {
        let user = auth_user(ctx)?;
        let db = ctx.data::<Db>()?;
        let found = crate::domain::users::signed_in(db, &user.username).await?;
        Ok(UserObject(found.ok_or(AppError::Unauthenticated)?))
    }
}

/// Account mutations.
#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Exchanges a username and password for a new API token (the one operation that needs no token). Users imported from the legacy system sign in with their old password. Wrong credentials are `BAD_USER_INPUT`; too many attempts for one user or from one address are `TOO_MANY_REQUESTS`.
    async fn login(
        &self,
        ctx: &Context<'_>,
        username: String,
        password: String,
    ) -> Result<LoginPayload> {
        let db = ctx.data::<Db>()?;
        let limiter = ctx.data::<Arc<LoginLimiter>>()?;
        let address = ctx.data_opt::<ClientAddr>().map(|a| a.0);
        if !limiter.allow(&username, address) {
            return Err(AppError::Limit {
                code: "TOO_MANY_REQUESTS",
                message: "too many login attempts; wait a minute and try again".into(),
            }
            .into());
        }
        let (token, user) = auth::login(db, &username, &password).await?;
        tracing::info!(user = %user.username, "login");
        Ok(LoginPayload {
            token,
            user: UserObject(user),
        })
    }

    /// Revokes the token this request was made with. Returns whether it was active.
    async fn logout(&self, ctx: &Context<'_>) -> Result<bool> {
        let user = auth_user(ctx)?;
        let db = ctx.data::<Db>()?;
        Ok(auth::logout(db, user).await?)
    }
}
