//! The documents a client repeats, kept checked and validated between requests.
//!
//! An editor sends the same few operations over and over (its autosave, the POP it reads, a
//! list page). [`DocumentCache`] keeps each document that passed the guard's checks and
//! async-graphql's validation, keyed by its text, so the next request with that text is neither
//! parsed nor costed again.
//!
//! Validation depends on the request's variables as well as on the document: async-graphql checks
//! each variable's value where the variable is used as an argument, and a connection's complexity
//! reads its `first`/`last`. So an entry also keeps the validation results it has seen, each
//! under the [`Signature`] of the variables it ran with, and only where that signature fixes the
//! outcome: every variable of the operation is declared `String` or `ID` (nullable or not, not a
//! list). For those two types the value's check depends only on its JSON kind (`String` takes a
//! string; `ID` a string or a 64-bit integer; both take `null` unless non-null), and no complexity
//! function of the schema reads them ([`super::pagination::cost`] reads `Int`s). A document with
//! any other variable (an input object, an enum, an `Int`, a `Boolean` that may skip fields) is
//! validated on every request, as is any request whose variable kinds were not seen yet.

use async_graphql::parser::types::{BaseType, DocumentOperations, ExecutableDocument};
use async_graphql::{ValidationResult, Variables};
use async_graphql_value::ConstValue;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

/// Most bytes of query text the [`DocumentCache`] holds in all: a parsed document takes a few
/// times its text, so this bounds the cache's memory whatever is sent.
pub const MAX_CACHED_BYTES: usize = 1024 * 1024;

/// Longest query text kept in the [`DocumentCache`]: the documents clients repeat are small.
pub const MAX_CACHED_QUERY_BYTES: usize = 16 * 1024;

/// Most validation results one entry keeps (variable kinds seen with its document).
const MAX_RESULTS_PER_DOCUMENT: usize = 8;

/// Valid documents by query text, least recently used evicted first (`GRAPHQL_DOCUMENT_CACHE`
/// entries, [`MAX_CACHED_BYTES`] of text; zero entries turns it off).
pub struct DocumentCache(Option<Mutex<Cached>>);

struct Cached {
    documents: lru::LruCache<String, Arc<Entry>>,
    bytes: usize,
}

/// A document that passed the guard's checks and validation, with the validation results of the
/// variable signatures it was run with.
pub struct Entry {
    /// The parsed, checked document.
    pub document: ExecutableDocument,
    results: Mutex<Vec<(Signature, ValidationResult)>>,
}

impl Entry {
    /// An entry for `document`, with no validation results yet.
    pub fn new(document: ExecutableDocument) -> Arc<Entry> {
        Arc::new(Entry {
            document,
            results: Mutex::default(),
        })
    }

    /// The validation result of a request with `signature`, if one was seen.
    pub fn result(&self, signature: &Signature) -> Option<ValidationResult> {
        let results = self.results.lock().unwrap_or_else(|p| p.into_inner());
        results
            .iter()
            .find(|(seen, _)| seen == signature)
            .map(|(_, result)| *result)
    }

    /// Keeps the validation result of a request with `signature`.
    pub fn remember(&self, signature: Signature, result: ValidationResult) {
        let mut results = self.results.lock().unwrap_or_else(|p| p.into_inner());
        if results.len() < MAX_RESULTS_PER_DOCUMENT && !results.iter().any(|(s, _)| *s == signature)
        {
            results.push((signature, result));
        }
    }
}

impl DocumentCache {
    /// A cache of at most `entries` documents.
    pub fn new(entries: usize) -> Self {
        Self(NonZeroUsize::new(entries).map(|n| {
            Mutex::new(Cached {
                documents: lru::LruCache::new(n),
                bytes: 0,
            })
        }))
    }

    /// Whether documents of `query`'s length are kept at all.
    pub fn keeps(&self, query: &str) -> bool {
        self.0.is_some() && query.len() <= MAX_CACHED_QUERY_BYTES
    }

    fn lock(&self) -> Option<std::sync::MutexGuard<'_, Cached>> {
        let cache = self.0.as_ref()?;
        Some(cache.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The entry of `query`, if it is kept.
    pub fn get(&self, query: &str) -> Option<Arc<Entry>> {
        self.lock()?.documents.get(query).cloned()
    }

    /// Keeps `entry` as the validated document of `query`.
    pub fn put(&self, query: &str, entry: Arc<Entry>) {
        if !self.keeps(query) {
            return;
        }
        let Some(mut cache) = self.lock() else {
            return;
        };
        if let Some((evicted, _)) = cache.documents.push(query.to_owned(), entry) {
            cache.bytes -= evicted.len();
        }
        cache.bytes += query.len();
        while cache.bytes > MAX_CACHED_BYTES {
            match cache.documents.pop_lru() {
                Some((evicted, _)) => cache.bytes -= evicted.len(),
                None => break,
            }
        }
    }
}

/// What fixes a validation's outcome for one document: the operation run and the JSON kind of
/// each of its variables, in the order they are declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    operation: Option<String>,
    kinds: Vec<Kind>,
}

/// The JSON kind of a variable's value, as far as a `String` or `ID` check can tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Absent,
    Null,
    Boolean,
    String,
    Integer,
    OtherNumber,
    List,
    Object,
    Other,
}

impl Kind {
    fn of(value: Option<&ConstValue>) -> Kind {
        match value {
            None => Kind::Absent,
            Some(ConstValue::Null) => Kind::Null,
            Some(ConstValue::Boolean(_)) => Kind::Boolean,
            Some(ConstValue::String(_)) => Kind::String,
            Some(ConstValue::Number(n)) if n.is_i64() => Kind::Integer,
            Some(ConstValue::Number(_)) => Kind::OtherNumber,
            Some(ConstValue::List(_)) => Kind::List,
            Some(ConstValue::Object(_)) => Kind::Object,
            Some(ConstValue::Enum(_) | ConstValue::Binary(_)) => Kind::Other,
        }
    }
}

impl Signature {
    /// The signature of running `operation` of `document` with `variables`, or `None` when an
    /// outcome cannot be reused: an unknown operation, or a variable not declared `String` or
    /// `ID` (see the module docs).
    pub fn of(
        document: &ExecutableDocument,
        operation: Option<&str>,
        variables: &Variables,
    ) -> Option<Signature> {
        let definition = match (&document.operations, operation) {
            (DocumentOperations::Single(op), None) => op,
            (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
            (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
            _ => return None,
        };
        let kinds = definition
            .node
            .variable_definitions
            .iter()
            .map(|variable| {
                let variable = &variable.node;
                match &variable.var_type.node.base {
                    BaseType::Named(name) if matches!(name.as_str(), "String" | "ID") => {
                        Some(Kind::of(variables.get(&variable.name.node)))
                    }
                    _ => None,
                }
            })
            .collect::<Option<Vec<Kind>>>()?;
        Some(Signature {
            operation: operation.map(str::to_owned),
            kinds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    fn signature(query: &str, operation: Option<&str>, variables: &str) -> Option<Signature> {
        let document = parse_query(query).unwrap();
        let variables = Variables::from_json(serde_json::from_str(variables).unwrap());
        Signature::of(&document, operation, &variables)
    }

    #[test]
    fn only_string_and_id_variables_give_a_signature() {
        let by_id = "query($id: ID!) { pop(id: $id) { id } }";
        assert!(signature(by_id, None, r#"{"id": "a"}"#).is_some());
        assert!(signature("{ me { id } }", None, "{}").is_some());
        for query in [
            "query($n: Int) { pops(first: $n) { totalCount } }",
            "query($b: Boolean!) { me { id @skip(if: $b) } }",
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            "mutation($input: AutosavePopInput!) { autosavePop(input: $input) { changed } }",
        ] {
            assert_eq!(signature(query, None, "{}"), None, "{query}");
        }
    }

    #[test]
    fn a_signature_tells_apart_what_a_string_or_id_check_tells_apart() {
        let by_id = "query($id: ID!) { pop(id: $id) { id } }";
        let of = |variables| signature(by_id, None, variables).unwrap();
        assert_eq!(of(r#"{"id": "a"}"#), of(r#"{"id": "b"}"#));
        assert_eq!(of(r#"{"id": 1}"#), of(r#"{"id": 2}"#));
        let distinct = [
            of("{}"),
            of(r#"{"id": null}"#),
            of(r#"{"id": true}"#),
            of(r#"{"id": "a"}"#),
            of(r#"{"id": 1}"#),
            of(r#"{"id": 1.5}"#),
            of(r#"{"id": []}"#),
            of(r#"{"id": {}}"#),
        ];
        for (i, a) in distinct.iter().enumerate() {
            for b in &distinct[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // Beyond `i64`, `ID` refuses an integer as it refuses a fraction.
        assert_eq!(of(r#"{"id": 18446744073709551615}"#), of(r#"{"id": 1.5}"#));
    }

    #[test]
    fn the_operation_is_part_of_the_signature() {
        let two = "query A($id: ID!) { pop(id: $id) { id } } query B { me { id } }";
        let a = signature(two, Some("A"), r#"{"id": "x"}"#).unwrap();
        let b = signature(two, Some("B"), r#"{"id": "x"}"#).unwrap();
        assert_ne!(a, b);
        assert_eq!(signature(two, None, "{}"), None);
        assert_eq!(signature(two, Some("C"), "{}"), None);
        let named = "query ReadPop($id: ID!) { pop(id: $id) { id } }";
        assert!(signature(named, None, r#"{"id": "x"}"#).is_some());
    }

    #[test]
    fn results_are_kept_per_signature_and_bounded() {
        let cache = DocumentCache::new(4);
        let query = "query($id: ID!) { pop(id: $id) { id } }";
        let entry = Entry::new(parse_query(query).unwrap());
        cache.put(query, Arc::clone(&entry));
        let result = ValidationResult {
            cache_control: Default::default(),
            complexity: 3,
            depth: 2,
        };
        let string = signature(query, None, r#"{"id": "a"}"#).unwrap();
        let number = signature(query, None, r#"{"id": 1}"#).unwrap();
        entry.remember(string.clone(), result);
        let again = cache.get(query).unwrap();
        assert_eq!(again.result(&string).map(|r| r.complexity), Some(3));
        assert!(again.result(&number).is_none());
        for n in 0..2 * MAX_RESULTS_PER_DOCUMENT {
            let operation = Some(format!("Op{n}"));
            again.remember(
                Signature {
                    operation,
                    kinds: Vec::new(),
                },
                result,
            );
        }
        assert_eq!(
            again.results.lock().unwrap().len(),
            MAX_RESULTS_PER_DOCUMENT
        );
    }

    #[test]
    fn the_cache_is_bounded_in_entries_and_in_bytes() {
        let doc = |q: &str| Entry::new(parse_query(q).unwrap());
        let cache = DocumentCache::new(2);
        for q in ["{ a }", "{ b }", "{ c }"] {
            cache.put(q, doc(q));
        }
        assert!(
            cache.get("{ a }").is_none(),
            "the least recently used goes first"
        );
        assert!(cache.get("{ c }").is_some());
        let large = format!("{{ a }} # {}", "x".repeat(MAX_CACHED_QUERY_BYTES));
        cache.put(&large, doc(&large));
        assert!(cache.get(&large).is_none(), "too long to keep");
        // Many entries of the longest kept size stay within the byte budget.
        let many = DocumentCache::new(10_000);
        for i in 0..(2 * MAX_CACHED_BYTES / MAX_CACHED_QUERY_BYTES) {
            let q = format!("{{ a }} # {i} {}", "x".repeat(MAX_CACHED_QUERY_BYTES - 20));
            many.put(&q, doc(&q));
        }
        let held = many.lock().unwrap();
        assert!(held.bytes <= MAX_CACHED_BYTES, "{} bytes held", held.bytes);
        assert!(held.documents.len() >= MAX_CACHED_BYTES / MAX_CACHED_QUERY_BYTES - 1);
        assert!(DocumentCache::new(0).lock().is_none(), "zero entries: off");
    }
}
