//! The GraphQL schema: one module per domain, merged into the `Query` and `Mutation` roots.
//!
//! [`schema_builder`] needs no runtime data, so the SDL can be exported without a database
//! (`mapagov schema`); [`build`] adds the database handle, the settings and the data loaders.

pub mod history;
pub mod loaders;
pub mod pagination;
pub mod pop;
pub mod snapshot;
pub mod user;

use crate::db::Db;
use crate::domain::Actor;
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, EmptySubscription, MergedObject, Schema, SchemaBuilder};

/// The query root.
#[derive(MergedObject, Default)]
pub struct Query(
    pop::PopQuery,
    snapshot::SnapshotQuery,
    history::HistoryQuery,
);

/// The mutation root.
#[derive(MergedObject, Default)]
pub struct Mutation(pop::PopMutation, snapshot::SnapshotMutation);

/// The schema type served at `/graphql`.
pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

/// Settings resolvers need.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Autosaves between snapshots.
    pub snapshot_every: u32,
}

/// The schema's shape, without runtime data.
pub fn schema_builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
}

/// The schema with everything resolvers need.
pub fn build(db: Db, settings: Settings) -> AppSchema {
    schema_builder()
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

/// Who is making the request.
pub(crate) fn actor(ctx: &Context<'_>) -> async_graphql::Result<Actor> {
    Ok(ctx.data_opt::<Actor>().copied().unwrap_or_default())
}

/// The resolvers' settings.
pub(crate) fn settings(ctx: &Context<'_>) -> async_graphql::Result<Settings> {
    Ok(*ctx.data::<Settings>()?)
}
