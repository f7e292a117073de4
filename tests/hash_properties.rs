//! Properties of the legacy hash serializer and of the canonical number form, on random JSON:
//! hashing is deterministic and its text parses back to the value, canonicalising is a fixed
//! point, and a canonical document stored in PostgreSQL's `jsonb` and read back hashes as before.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use diesel::sql_types::Jsonb;
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use mapagov::domain::hash::{integrity_hash, python_json_dumps};
use mapagov::domain::number::canonical_value;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Map, Number, Value};

/// Any finite float, any integer of either 64-bit type, and the awkward ones by name.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(vec![
            -0.0,
            0.0,
            1.0,
            1e16,
            1.5e16,
            -1e16,
            1.5e-7,
            5e-324,
            1e15,
            9_999_999_999_999_998.0,
            0.1,
            1e-7,
            123.456,
            1e19,
            -9.2e18,
        ])
        .prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
    ]
}

/// Text with what the serializer escapes, non-ASCII and (for keys) duplicates-prone short names;
/// no NUL, which the server refuses and PostgreSQL cannot store.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 \"\\\\/\\n\\t\\r\u{1}\u{1f}\u{7f}ãçé中😀\u{2028}\u{feff}]{0,12}"
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #[test]
    fn hashing_is_deterministic_and_its_text_parses_back(value in json()) {
        let copy: Value = serde_json::from_str(&serde_json::to_string(&value).unwrap()).unwrap();
        prop_assert_eq!(integrity_hash(&value), integrity_hash(&copy));
        let text = python_json_dumps(&value);
        prop_assert_eq!(&text, &python_json_dumps(&value));
        let parsed: Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(parsed, value);
    }

    #[test]
    fn the_canonical_form_is_a_fixed_point(value in json()) {
        if let Ok(canonical) = canonical_value(&value) {
            prop_assert_eq!(canonical_value(&canonical), Ok(canonical.clone()));
            prop_assert_eq!(integrity_hash(&canonical), integrity_hash(&canonical.clone()));
        }
    }
}

#[derive(QueryableByName)]
struct Stored {
    #[diesel(sql_type = Jsonb)]
    value: Value,
}

/// Cases sent through PostgreSQL (each is one round trip).
const DATABASE_CASES: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canonical_document_hashes_the_same_after_a_trip_through_jsonb() {
    let url = common::fresh_pg_database().await;
    let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
    let mut runner = TestRunner::deterministic();
    let strategy = json();
    let mut checked = 0;
    while checked < DATABASE_CASES {
        let value = strategy.new_tree(&mut runner).unwrap().current();
        let Ok(canonical) = canonical_value(&value) else {
            continue;
        };
        let document = Value::Object(Map::from_iter([("etapas".to_owned(), canonical)]));
        let stored: Stored = diesel::sql_query("SELECT $1::jsonb AS value")
            .bind::<Jsonb, _>(&document)
            .get_result(&mut conn)
            .await
            .unwrap();
        assert_eq!(
            integrity_hash(&stored.value),
            integrity_hash(&document),
            "sent {document}, PostgreSQL gave back {}",
            stored.value
        );
        assert_eq!(stored.value, document);
        checked += 1;
    }
}
