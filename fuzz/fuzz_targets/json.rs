//! Arbitrary JSON documents for the targets: built from the fuzzer's bytes as a tree, so every
//! input is a JSON value (numbers of every kind, deep nesting, any strings and keys).
// Each target uses part of this module.
#![allow(dead_code)]

use arbitrary::Arbitrary;
use serde_json::{Map, Number, Value};

/// A JSON value the fuzzer builds.
#[derive(Debug, Arbitrary)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Unsigned(u64),
    Float(f64),
    Text(String),
    List(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The `serde_json` value (a float that JSON cannot hold, NaN or infinite, becomes null).
    pub fn value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Int(i) => Value::from(*i),
            Json::Unsigned(u) => Value::from(*u),
            Json::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Json::Text(s) => Value::String(s.clone()),
            Json::List(items) => Value::Array(items.iter().map(Json::value).collect()),
            Json::Object(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.value()))
                    .collect::<Map<String, Value>>(),
            ),
        }
    }
}

/// How deep serde_json reads JSON (its recursion limit, 128, less a margin): every request body
/// and every stored document the server reads goes through it, so nothing deeper reaches the
/// hash (the first run of the `hash` target found that a deeper document is written but cannot
/// be read back).
pub const READABLE_DEPTH: usize = 120;

/// The nesting depth of `value` (a scalar is 0).
pub fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}
