//! What `pops(search:)` and `pops(documentContains:)` accept and mean, independent of the database.
//!
//! - A search is plain words: every word must occur in the POP's searchable text (process name,
//!   expected deliverable, legal basis, points of attention, step descriptions). Nothing the user
//!   types is an operator: quotes, `OR`, `-`, `*`, parentheses are ordinary characters (separators
//!   or words). A search without a single letter or digit is `BAD_USER_INPUT`.
//! - Containment has the semantics of PostgreSQL's `jsonb @>` ([`json_contains`]); PostgreSQL runs
//!   the real operator, SQLite calls [`json_contains`] as a registered SQL function.

pub use crate::db::search::{json_contains, SearchQuery};
use crate::error::AppError;
use serde_json::Value;

/// Longest search text accepted, in characters.
pub const MAX_SEARCH_CHARS: usize = 500;

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn words_are_quoted_and_operators_are_not_operators() {
        let q = parse("search", "  \"foo\" OR bar* -baz (x) NEAR ").unwrap();
        assert_eq!(q.fts5, "\"foo\" \"OR\" \"bar\" \"baz\" \"x\" \"NEAR\"");
        assert_eq!(q.text, "\"foo\" OR bar* -baz (x) NEAR");
        let q = parse("search", "pensão'); DROP TABLE pops;--").unwrap();
        assert_eq!(q.fts5, "\"pensão\" \"DROP\" \"TABLE\" \"pops\"");
    }

    #[test]
    fn empty_and_operator_only_searches_are_rejected() {
        for raw in ["", "   ", "\t\n", "\"\" * - ( ) ^ :", "'\"'"] {
            assert!(
                matches!(parse("search", raw), Err(AppError::BadUserInput { .. })),
                "{raw:?}"
            );
        }
        assert!(parse("search", &"a".repeat(MAX_SEARCH_CHARS + 1)).is_err());
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
