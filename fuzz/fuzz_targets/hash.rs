//! The legacy hash serializer (`python_json_dumps`, `integrity_hash`) on any JSON document in the
//! canonical number form the server stores: it never panics, its output is JSON that reads back
//! as the same document, and serializing that again gives the same text (so the hash of a
//! document does not depend on how its keys or numbers were written).
#![no_main]

mod json;

use libfuzzer_sys::fuzz_target;
use mapagov::domain::hash::{integrity_hash, python_json_dumps};
use mapagov::domain::number::canonical_value;

fuzz_target!(|input: json::Json| {
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
});
