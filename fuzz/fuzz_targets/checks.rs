//! What each fuzz target checks, shared by the targets (`cargo fuzz`, nightly) and by
//! `tests/fuzz_replay.rs`, which runs every committed input through the same checks on the
//! stable toolchain in CI. A failed check panics.
// Each target uses part of this module.
#![allow(dead_code)]

use crate::json::{self, Json};
use mapagov::domain::diff::diff_documents;
use mapagov::domain::hash::{integrity_hash, python_json_dumps};
use mapagov::domain::number::canonical_value;

/// The legacy hash serializer on a document in the canonical number form the server stores:
/// it writes JSON that reads back as the same document, and serializing that again gives the
/// same text (so a document's hash does not depend on how its keys or numbers were written).
pub fn hash(input: &Json) {
    let Ok(document) = canonical_value(&input.value()) else {
        return; // out of range: refused with BAD_USER_INPUT before anything is hashed
    };
    if json::depth(&document) > json::READABLE_DEPTH {
        return; // deeper than serde_json reads: no request or stored row can carry it
    }
    let text = python_json_dumps(&document);
    let read: serde_json::Value = serde_json::from_str(&text).expect("the serializer wrote JSON");
    let read = canonical_value(&read).expect("a canonical document reads back in range");
    assert_eq!(read, document, "{text}");
    assert_eq!(python_json_dumps(&read), text);
    assert_eq!(integrity_hash(&read), integrity_hash(&document));
}

/// `snapshotDiff`'s diff of two documents: its RFC 6902 patch, applied to the first by an
/// independent implementation (`json-patch`), gives the second, and a document has no change
/// from itself.
pub fn diff_patch(pair: &(Json, Json)) {
    let (from, to) = (pair.0.value(), pair.1.value());
    let diff = diff_documents(&from, &to);
    let patch: json_patch::Patch =
        serde_json::from_value(diff.patch.clone()).expect("the patch is RFC 6902");
    let mut patched = from.clone();
    json_patch::patch(&mut patched, &patch).expect("the patch applies to the first document");
    assert_eq!(patched, to, "patch {}", diff.patch);
    let same = diff_documents(&from, &from);
    assert!(same.changes.is_empty() && same.changed_fields.is_empty());
}

/// The schema every request goes through, with the default limits and no database.
pub fn schema() -> mapagov::graphql::AppSchema {
    let config = mapagov::config::Config::from_lookup(|_| None).expect("default config");
    mapagov::graphql::guarded(&config.http).finish()
}

/// Any bytes as a request body, read as the HTTP endpoint reads a JSON body and run through the
/// served schema's guards: every request error (one without a `path`: unparsable, invalid, over
/// a limit) carries an `extensions.code`, and the answer stays within the response budget.
pub async fn graphql_request(schema: &mapagov::graphql::AppSchema, body: &[u8]) {
    let Ok(batch) = serde_json::from_slice::<async_graphql::BatchRequest>(body) else {
        return; // the endpoint answers 400 before the schema sees it
    };
    let response = schema.execute_batch(batch).await;
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
}
