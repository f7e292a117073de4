//! The GraphQL request path on any bytes sent as a request body (see `checks::graphql_request`).
//! Resolvers run without a database here, so they answer errors of their own (with a `path`):
//! the point is everything before them.
#![no_main]

mod checks;
mod json;

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fuzz_target!(|body: &[u8]| {
    static SCHEMA: OnceLock<mapagov::graphql::AppSchema> = OnceLock::new();
    let schema = SCHEMA.get_or_init(checks::schema);
    futures_executor::block_on(checks::graphql_request(schema, body));
});
