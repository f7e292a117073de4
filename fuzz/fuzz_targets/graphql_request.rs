//! The GraphQL request path on any bytes sent as a request body: read as the HTTP endpoint reads
//! a JSON body, then run through the served schema's guards (document bounds, response budget,
//! input checks, deadline) with the default limits. Nothing may panic, every request error (one
//! without a `path`: unparsable, invalid, over a limit) must carry an `extensions.code`, and the
//! answer must stay within the response budget. Resolvers run without a database here, so they
//! answer errors of their own (with a `path`): the point is everything before them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn schema() -> &'static mapagov::graphql::AppSchema {
    static SCHEMA: OnceLock<mapagov::graphql::AppSchema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let config = mapagov::config::Config::from_lookup(|_| None).expect("default config");
        mapagov::graphql::guarded(&config.http).finish()
    })
}

fuzz_target!(|body: &[u8]| {
    let Ok(batch) = serde_json::from_slice::<async_graphql::BatchRequest>(body) else {
        return; // the endpoint answers 400 before the schema sees it
    };
    let response = futures_executor::block_on(schema().execute_batch(batch));
    let responses = match &response {
        async_graphql::BatchResponse::Single(one) => std::slice::from_ref(one),
        async_graphql::BatchResponse::Batch(many) => many.as_slice(),
    };
    for error in responses
        .iter()
        .flat_map(|r| &r.errors)
        .filter(|e| e.path.is_empty())
    {
        let code = error.extensions.as_ref().and_then(|e| e.get("code"));
        assert!(code.is_some(), "a request error without a code: {error:?}");
    }
    let size = serde_json::to_vec(&response).map(|v| v.len()).unwrap_or(0);
    assert!(size <= 16 * 1024 * 1024 + 64 * 1024, "{size} bytes");
});
