//! `snapshotDiff`'s diff on any two JSON documents: it never panics, its RFC 6902 patch, applied
//! to the first document by an independent implementation (`json-patch`), gives the second,
//! and it reports no change between a document and itself.
#![no_main]

mod json;

use libfuzzer_sys::fuzz_target;
use mapagov::domain::diff::diff_documents;

fuzz_target!(|pair: (json::Json, json::Json)| {
    let (from, to) = (pair.0.value(), pair.1.value());
    let diff = diff_documents(&from, &to);
    let patch: json_patch::Patch =
        serde_json::from_value(diff.patch.clone()).expect("the patch is RFC 6902");
    let mut patched = from.clone();
    json_patch::patch(&mut patched, &patch).expect("the patch applies to the first document");
    assert_eq!(patched, to, "patch {}", diff.patch);
    let same = diff_documents(&from, &from);
    assert!(same.changes.is_empty() && same.changed_fields.is_empty());
});
