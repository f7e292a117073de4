//! The GraphQL schema: one module per domain, merged into the `Query`, `Mutation` and
//! `Subscription` roots.
//!
//! [`schema_builder`] needs no runtime data, so the SDL can be exported without a database
//! (`mapagov schema`); [`build`] adds the database handle, the settings and the data loaders.

pub mod area;
pub mod auth;
pub mod budget;
pub mod content;
pub mod deadline;
pub mod documents;
pub mod guard;
pub mod history;
pub mod input;
pub mod live;
pub mod loaders;
pub mod node;
pub mod pagination;
pub mod partial_restore;
pub mod pop;
pub mod presence;
pub mod reads;
pub mod review;
pub mod scalars;
pub mod sessions;
pub mod snapshot;
pub mod user;
pub mod version;

use crate::auth::limiter::LoginLimiter;
use crate::auth::AuthUser;
use crate::config::HttpConfig;
use crate::db::Db;
use crate::domain::Actor;
use crate::error::AppError;
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, MergedObject, MergedSubscription, Schema, SchemaBuilder};
use std::sync::Arc;

/// The query root.
#[derive(MergedObject, Default)]
pub struct Query(
    auth::AuthQuery,
    pop::PopQuery,
    snapshot::SnapshotQuery,
    history::HistoryQuery,
    sessions::SessionQuery,
    area::AreaQuery,
    version::VersionQuery,
    review::ReviewQuery,
    node::NodeQuery,
    presence::PresenceQuery,
);

/// The mutation root.
#[derive(MergedObject, Default)]
pub struct Mutation(
    auth::AuthMutation,
    pop::PopMutation,
    snapshot::SnapshotMutation,
    partial_restore::PartialRestoreMutation,
    area::AreaMutation,
    presence::PresenceMutation,
);

/// The subscription root (over WebSocket, `graphql-transport-ws`).
#[derive(MergedSubscription, Default)]
pub struct Subscription(live::LiveSubscription);

/// The schema type served at `/graphql`.
pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// Settings resolvers need.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Autosave limits.
    pub autosave: crate::domain::autosave::Limits,
    /// Default idle time that ends an editing session (`HISTORY_SESSION_IDLE_MINUTES`).
    pub session_idle: chrono::TimeDelta,
    /// `CATALOGUE_PUBLIC`: the catalogue answers readers without a token.
    pub catalogue_public: bool,
    /// `PRESENCE_TTL`: how long a tab's heartbeat counts.
    pub presence_ttl: std::time::Duration,
}

/// The schema's shape, without runtime data.
pub fn schema_builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
}

/// The schema's shape with the request guards every served schema runs: the document bounds
/// (size, nesting, selections, aliases, depth, complexity), the response budget, the input
/// checks, the request deadline and the operation metrics, and introspection as configured.
/// Resolvers still need [`build`]'s data; without it they answer errors, never panics (the fuzz
/// target `graphql_request` runs arbitrary requests through this).
pub fn guarded(http: &HttpConfig) -> SchemaBuilder<Query, Mutation, Subscription> {
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
    let builder = schema_builder()
        .extension(crate::telemetry::operation::ObserveExtension)
        .extension(guard::GuardExtension::new(limits, http.document_cache))
        .extension(budget::BudgetExtension::new(http.max_response_bytes))
        .extension(input::InputGuard)
        .extension(deadline::DeadlineExtension)
        .extension(reads::ReadRouting)
        .limit_recursive_depth(guard::MAX_NESTING);
    if http.introspection {
        builder
    } else {
        builder.disable_introspection()
    }
}

/// The schema with everything resolvers need, the configured limits, the live feed, and the
/// notifier that tells authors about status changes.
pub fn build(
    db: Db,
    settings: Settings,
    http: &HttpConfig,
    live: live::Live,
    notifier: crate::notify::Notifier,
) -> AppSchema {
    guarded(http)
        .data(Arc::new(LoginLimiter::new(http.login_attempts_per_minute)))
        .data(DataLoader::new(
            loaders::UserLoader(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::PopLoader(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::StatusReasonLoader(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::VersionsLoader(db.clone()),
            tokio::spawn,
        ))
        .data(db)
        .data(settings)
        .data(live)
        .data(notifier)
        .finish()
}

/// The SDL checked in as `schema.graphql`: types, fields and arguments sorted, custom scalars
/// with their `@specifiedBy` URL.
pub fn sdl() -> String {
    let options = async_graphql::SDLExportOptions::new()
        .sorted_fields()
        .sorted_arguments()
        .sorted_enum_items()
        .include_specified_by();
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
    Ok(Actor::from(auth_user(ctx)?))
}

/// `UNAUTHENTICATED` unless the request is signed in or the catalogue is public
/// (`CATALOGUE_PUBLIC`): the check of the catalogue's queries.
pub(crate) fn catalogue_reader(ctx: &Context<'_>) -> async_graphql::Result<()> {
    if ctx.data_opt::<AuthUser>().is_some() || settings(ctx)?.catalogue_public {
        Ok(())
    } else {
        Err(AppError::Unauthenticated.into())
    }
}

/// The resolvers' settings.
pub(crate) fn settings(ctx: &Context<'_>) -> async_graphql::Result<Settings> {
    Ok(*ctx.data::<Settings>()?)
}

#[cfg(test)]
mod tests {
    /// Doc comments become descriptions, which GraphiQL shows line by line: a paragraph
    /// hard-wrapped in the source would break mid-sentence there.
    #[test]
    fn descriptions_are_not_hard_wrapped() {
        let sdl = super::sdl();
        let mut wrapped = Vec::new();
        for block in sdl.split("\"\"\"").skip(1).step_by(2) {
            let lines: Vec<&str> = block.lines().map(str::trim).collect();
            for pair in lines.windows(2) {
                let continues = !pair[0].is_empty()
                    && !pair[1].is_empty()
                    && !pair[1].starts_with(['-', '*', '|', '#'])
                    && !pair[1].chars().next().is_some_and(|c| c.is_ascii_digit());
                if continues {
                    wrapped.push(pair[0].to_owned());
                }
            }
        }
        assert!(
            wrapped.is_empty(),
            "hard-wrapped descriptions: {wrapped:#?}"
        );
    }
}
