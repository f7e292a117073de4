//! What `pops(search:)` and `pops(documentContains:)` accept and mean, independent of the database.
//!
//! - A search is plain words: every word must occur in the POP's searchable text (process name,
//!   expected deliverable, legal basis, points of attention, step descriptions). Nothing the user
//!   types is an operator: quotes, `OR`, `-`, `*`, parentheses are ordinary characters (separators
//!   or words). A search without a single letter or digit is `BAD_USER_INPUT`.
//! - Containment has the semantics of PostgreSQL's `jsonb @>` ([`json_contains`]); PostgreSQL runs
//!   the real operator, SQLite calls [`json_contains`] as a registered SQL function.

use crate::error::AppError;
use serde_json::Value;

/// Longest search text accepted, in characters.
pub const MAX_SEARCH_CHARS: usize = 500;

/// A validated full-text search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// The text as typed (trimmed), for PostgreSQL's `plainto_tsquery`, which never reads
    /// operators.
    pub text: String,
    /// The same words as an FTS5 expression in which every word is a quoted string, so FTS5
    /// reads no operator either (implicit AND between them).
    pub fts5: String,
}

impl SearchQuery {
    /// Checks a search argument; `field` names it in errors.
    pub fn parse(field: &str, raw: &str) -> Result<SearchQuery, AppError> {
        let text = raw.trim();
        if text.chars().count() > MAX_SEARCH_CHARS {
            return Err(AppError::bad_input(
                field,
                format!("a search has at most {MAX_SEARCH_CHARS} characters"),
            ));
        }
        // FTS5's unicode61 tokenizer splits on everything but letters and digits; splitting the
        // same way leaves words of letters and digits only, which are safe inside quotes.
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(|w| format!("\"{w}\""))
            .collect();
        if words.is_empty() {
            return Err(AppError::bad_input(
                field,
                "a search needs at least one word (letters or digits)",
            ));
        }
        Ok(SearchQuery {
            text: text.to_owned(),
            fts5: words.join(" "),
        })
    }
}

/// Checks a `documentContains` argument: a JSON object (the document is one).
pub fn parse_needle(field: &str, needle: Value) -> Result<Value, AppError> {
    if needle.is_object() {
        Ok(needle)
    } else {
        Err(AppError::bad_input(
            field,
            "documentContains must be a JSON object, e.g. {\"area\": {\"codigo\": \"CGBEN\"}}",
        ))
    }
}

/// Whether `doc` contains `needle`, as PostgreSQL's `jsonb @>` decides it: an object contains an
/// object whose every key it has with a contained value; an array contains an array whose every
/// element some element of it contains (any order, duplicates allowed); scalars must be equal
/// (numbers by value, `1` = `1.0`); and, at the top level only, an array contains a scalar it
/// holds.
pub fn json_contains(doc: &Value, needle: &Value) -> bool {
    match (doc, needle) {
        (Value::Array(items), scalar) if !scalar.is_array() && !scalar.is_object() => {
            items.iter().any(|item| scalar_eq(item, scalar))
        }
        _ => contains(doc, needle),
    }
}

fn contains(doc: &Value, needle: &Value) -> bool {
    match (doc, needle) {
        (Value::Object(d), Value::Object(n)) => n
            .iter()
            .all(|(key, value)| d.get(key).is_some_and(|have| contains(have, value))),
        (Value::Array(d), Value::Array(n)) => n.iter().all(|want| {
            d.iter().any(|have| {
                if want.is_array() || want.is_object() {
                    contains(have, want)
                } else {
                    scalar_eq(have, want)
                }
            })
        }),
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => false,
        (a, b) => scalar_eq(a, b),
    }
}

fn scalar_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(_) | Value::Object(_), _) => false,
        (a, b) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn words_are_quoted_and_operators_are_not_operators() {
        let q = SearchQuery::parse("search", "  \"foo\" OR bar* -baz (x) NEAR ").unwrap();
        assert_eq!(q.fts5, "\"foo\" \"OR\" \"bar\" \"baz\" \"x\" \"NEAR\"");
        assert_eq!(q.text, "\"foo\" OR bar* -baz (x) NEAR");
        let q = SearchQuery::parse("search", "pensão'); DROP TABLE pops;--").unwrap();
        assert_eq!(q.fts5, "\"pensão\" \"DROP\" \"TABLE\" \"pops\"");
    }

    #[test]
    fn empty_and_operator_only_searches_are_rejected() {
        for raw in ["", "   ", "\t\n", "\"\" * - ( ) ^ :", "'\"'"] {
            assert!(
                matches!(
                    SearchQuery::parse("search", raw),
                    Err(AppError::BadUserInput { .. })
                ),
                "{raw:?}"
            );
        }
        assert!(SearchQuery::parse("search", &"a".repeat(MAX_SEARCH_CHARS + 1)).is_err());
    }

    #[test]
    fn containment_follows_jsonb() {
        let doc = json!({"a": {"b": [1, 2, {"c": "x", "d": true}]}, "n": 1.0, "s": null});
        assert!(json_contains(&doc, &json!({})));
        assert!(json_contains(&doc, &json!({"a": {"b": [2, 1]}})));
        assert!(json_contains(
            &doc,
            &json!({"a": {"b": [{"c": "x"}, 1, 1]}})
        ));
        assert!(json_contains(&doc, &json!({"n": 1, "s": null})));
        assert!(!json_contains(&doc, &json!({"a": {"b": 1}})));
        assert!(!json_contains(&doc, &json!({"a": {"b": [3]}})));
        assert!(!json_contains(&doc, &json!({"n": "1"})));
        assert!(!json_contains(&doc, &json!({"z": null})));
        assert!(json_contains(&json!([1, "x"]), &json!("x")));
        assert!(!json_contains(&json!([[1, "x"]]), &json!(["x"])));
    }
}
