//! Properties of the structural diff on random JSON (proptest, which shrinks a failure to the
//! smallest pair of documents): the RFC 6902 patch it reports, applied by an independent
//! implementation (the `json-patch` crate), turns the first document into the second; a document
//! compared with itself has no changes; and every change's path points at the value it reports.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use mapagov::domain::diff::{diff_documents, ChangeKind};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Short strings from a small alphabet, so equal elements (and keys needing `~0`/`~1`) are common.
fn text() -> impl Strategy<Value = String> {
    "[ab~/ãç]{0,3}"
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (0..5i64).prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..5)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A document and a second one made from it by a few edits (both shapes a POP's history has:
/// small edits of one document, and unrelated documents).
fn pair() -> impl Strategy<Value = (Value, Value)> {
    prop_oneof![
        (json(), json()),
        (json(), json(), any::<prop::sample::Index>()).prop_map(|(from, graft, at)| {
            let mut to = from.clone();
            edit(&mut to, graft, at.index(16));
            (from, to)
        }),
    ]
}

/// Replaces, inserts or removes something at a place chosen by `at`.
fn edit(value: &mut Value, graft: Value, at: usize) {
    match value {
        Value::Array(items) if !items.is_empty() => {
            let i = at % items.len();
            match at % 3 {
                0 => items.insert(i, graft),
                1 => {
                    items.remove(i);
                }
                _ => edit(&mut items[i], graft, at / 3),
            }
        }
        Value::Object(map) if !map.is_empty() => {
            let key = map.keys().nth(at % map.len()).cloned().unwrap();
            match at % 3 {
                0 => {
                    map.insert(format!("{key}~n"), graft);
                }
                1 => {
                    map.remove(&key);
                }
                _ => edit(map.get_mut(&key).unwrap(), graft, at / 3),
            }
        }
        other => *other = graft,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_patch_turns_the_first_document_into_the_second((from, to) in pair()) {
        let diff = diff_documents(&from, &to);
        let patch: json_patch::Patch = serde_json::from_value(diff.patch.clone()).unwrap();
        let mut patched = from.clone();
        json_patch::patch(&mut patched, &patch).unwrap();
        prop_assert_eq!(patched, to.clone());
        prop_assert_eq!(diff.changes.is_empty(), from == to);
        for change in &diff.changes {
            match change.kind {
                ChangeKind::Added => prop_assert_eq!(to.pointer(&change.path), change.new.as_ref()),
                ChangeKind::Removed | ChangeKind::Changed => {
                    prop_assert_eq!(from.pointer(&change.path), change.old.as_ref())
                }
            }
        }
    }

    #[test]
    fn a_document_compared_with_itself_has_no_changes(doc in json()) {
        let diff = diff_documents(&doc, &doc);
        prop_assert!(diff.changes.is_empty());
        prop_assert_eq!(diff.patch, Value::Array(Vec::new()));
    }
}
