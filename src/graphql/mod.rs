//! The GraphQL schema: one module per domain, merged into the `Query` and `Mutation` roots.
//!
//! [`schema_builder`] needs no runtime data, so the SDL can be exported without a database
//! (`mapagov schema`); [`build`] adds the database handle, the settings and the data loaders.

pub mod auth;
pub mod budget;
pub mod guard;
pub mod history;
pub mod input;
pub mod loaders;
pub mod pagination;
pub mod pop;
pub mod snapshot;
pub mod user;

use crate::auth::limiter::LoginLimiter;
use crate::auth::AuthUser;
use crate::config::HttpConfig;
use crate::db::Db;
use crate::domain::Actor;
use crate::error::AppError;
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, EmptySubscription, MergedObject, Schema, SchemaBuilder};
use std::sync::Arc;

/// The query root.
#[derive(MergedObject, Default)]
pub struct Query(
    auth::AuthQuery,
    pop::PopQuery,
    snapshot::SnapshotQuery,
    history::HistoryQuery,
);

/// The mutation root.
#[derive(MergedObject, Default)]
pub struct Mutation(
    auth::AuthMutation,
    pop::PopMutation,
    snapshot::SnapshotMutation,
);

/// The schema type served at `/graphql`.
pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

/// Settings resolvers need.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Autosave limits.
    pub autosave: crate::domain::autosave::Limits,
}

/// The schema's shape, without runtime data.
pub fn schema_builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
}

/// The schema with everything resolvers need, the configured limits, and the notifier that tells
/// authors about status changes.
pub fn build(
    db: Db,
    settings: Settings,
    http: &HttpConfig,
    notifier: crate::notify::Notifier,
) -> AppSchema {
    let limits = guard::Limits {
        max_query_bytes: http.max_query_bytes,
        max_selections: http.max_selections as u64,
        max_aliases: http.max_aliases as u64,
        max_depth: http.max_depth,
        max_complexity: http.max_complexity,
        reveal_schema: http.introspection,
    };
    // The guard bounds every document before async-graphql walks it; depth and complexity are
    // compared with their limits in the guard's validation hook, so the errors carry their codes.
    let mut builder = schema_builder()
        .extension(crate::telemetry::operation::ObserveExtension)
        .extension(guard::GuardExtension::new(limits))
        .extension(budget::BudgetExtension::new(http.max_response_bytes))
        .extension(input::InputGuard)
        .limit_recursive_depth(guard::MAX_NESTING);
    if !http.introspection {
        builder = builder.disable_introspection();
    }
    builder
        .data(Arc::new(LoginLimiter::new(http.login_attempts_per_minute)))
        .data(DataLoader::new(
            loaders::UserLoader(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::PopLoader(db.clone()),
            tokio::spawn,
        ))
        .data(db)
        .data(settings)
        .data(notifier)
        .finish()
}

/// The SDL checked in as `schema.graphql`: types, fields and arguments sorted.
pub fn sdl() -> String {
    let options = async_graphql::SDLExportOptions::new()
        .sorted_fields()
        .sorted_arguments()
        .sorted_enum_items();
    schema_builder().finish().sdl_with_options(options)
}

/// The authenticated user of the request, or `UNAUTHENTICATED`.
pub(crate) fn auth_user<'c>(ctx: &Context<'c>) -> async_graphql::Result<&'c AuthUser> {
    Ok(ctx
        .data_opt::<AuthUser>()
        .ok_or(AppError::Unauthenticated)?)
}

/// The authenticated user as the domain sees it, or `UNAUTHENTICATED`.
pub(crate) fn actor(ctx: &Context<'_>) -> async_graphql::Result<Actor> {
    let user = auth_user(ctx)?;
    Ok(Actor {
        user_id: Some(user.id),
        is_staff: user.is_staff,
        area_codigo: user.area_codigo.clone(),
    })
}

/// The resolvers' settings.
pub(crate) fn settings(ctx: &Context<'_>) -> async_graphql::Result<Settings> {
    Ok(*ctx.data::<Settings>()?)
}
