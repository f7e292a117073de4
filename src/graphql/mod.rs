//! The GraphQL schema: one module per domain, merged into the `Query` and `Mutation` roots.
//!
//! [`schema_builder`] needs no runtime data, so the SDL can be exported without a database
//! (`mapagov schema`); the server adds the [`crate::db::Db`] handle as context data.

pub mod pop;

use async_graphql::{EmptyMutation, EmptySubscription, MergedObject, Schema, SchemaBuilder};

/// The query root.
#[derive(MergedObject, Default)]
pub struct Query(pop::PopQuery);

/// The schema type served at `/graphql`.
pub type AppSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// The schema's shape, without runtime data.
pub fn schema_builder() -> SchemaBuilder<Query, EmptyMutation, EmptySubscription> {
    Schema::build(Query::default(), EmptyMutation, EmptySubscription)
}

/// The SDL checked in as `schema.graphql`: types, fields and arguments sorted.
pub fn sdl() -> String {
    let options = async_graphql::SDLExportOptions::new()
        .sorted_fields()
        .sorted_arguments()
        .sorted_enum_items();
    schema_builder().finish().sdl_with_options(options)
}
