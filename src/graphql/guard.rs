//! Bounds every GraphQL document before async-graphql parses, validates or runs it.
//!
//! async-graphql expands fragment spreads wherever it walks a document (its recursion-depth check,
//! validation, complexity, execution), so a 1 KB document whose fragments each spread the next one
//! twice selects a field 2^N times: its own checks take exponential time and memory before any
//! limit answers. [`GuardExtension`] measures the document first, in time and memory linear in its
//! size, and refuses it with a stable code before anything else sees it:
//!
//! 1. the query text is at most [`Limits::max_query_bytes`] (`QUERY_TOO_LARGE`), and its brackets
//!    nest at most [`MAX_NESTING`] deep (`QUERY_TOO_DEEP`), so the recursive-descent parser
//!    cannot exhaust the stack;
//! 2. it parses (`GRAPHQL_PARSE_FAILED`);
//! 3. `operationName`, when given, names an operation of the document (`BAD_REQUEST`, without
//!    echoing the name);
//! 4. each fragment's cost is computed once, in dependency order (a fragment that spreads itself,
//!    directly or not, is `GRAPHQL_VALIDATION_FAILED`), so the cost of the expanded document —
//!    selections, aliases, nesting — is known without expanding it (`QUERY_TOO_COMPLEX`,
//!    `TOO_MANY_ALIASES`, `QUERY_TOO_DEEP`);
//! 5. no location carries more than [`MAX_DIRECTIVES_PER_LOCATION`] directives
//!    (`TOO_MANY_DIRECTIVES`);
//! 6. a request that came by `GET` (marked [`ReadOnly`]) runs a query, never a mutation
//!    (`METHOD_NOT_ALLOWED`, which the HTTP layer answers with 405).
//!
//! The parsed document is handed to async-graphql, which does not parse it again. Documents that
//! passed these checks and async-graphql's validation are kept in a small LRU cache keyed by their
//! text ([`DocumentCache`], bounded in entries and in bytes of text), so a client sending the same
//! operations over and over (an editor's autosave, a list page) skips the parse and the cost
//! analysis; only the per-request checks (3 and 6) run again. Validation is skipped too when the
//! cache saw the document validate with variables of the same kinds
//! ([`super::documents::Signature`]). After its
//! validation, the extension compares the validation's complexity and depth with the configured
//! limits (`QUERY_TOO_COMPLEX`, `QUERY_TOO_DEEP`) and gives validation errors their code
//! (`GRAPHQL_VALIDATION_FAILED`) where they arise; when introspection is off it also replaces
//! their text, which names types, fields and arguments and suggests others, with one message that
//! reveals nothing of the schema.

use super::documents::{DocumentCache, Entry, Signature};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextValidation,
};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::parser::{parse_query, Positioned};
use async_graphql::{Name, Request, ServerError, ServerResult, ValidationResult};
use std::any::TypeId;
use std::collections::HashMap;
use std::sync::Arc;

/// Deepest bracket nesting (`{`, `[`, `(`) the parser is given; also async-graphql's recursion
/// limit (selection sets entered through fields and fragments).
pub const MAX_NESTING: usize = 48;
/// Most directives on one field, fragment, operation or variable.
pub const MAX_DIRECTIVES_PER_LOCATION: usize = 8;
/// Most validation errors returned for one document.
pub const MAX_VALIDATION_ERRORS: usize = 10;

/// Request data marking a request that may only read: one that came by `GET`, which HTTP
/// caches and prefetchers may repeat, so only queries run (`METHOD_NOT_ALLOWED` otherwise).
#[derive(Debug, Clone, Copy)]
pub struct ReadOnly;

/// The code of a mutation sent by `GET`.
pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";

/// What a document may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest query text, in bytes (`GRAPHQL_MAX_QUERY_BYTES`).
    pub max_query_bytes: usize,
    /// Most selections (fields, fragment spreads, inline fragments) once fragments are expanded,
    /// over all operations of the document (`GRAPHQL_MAX_SELECTIONS`).
    pub max_selections: u64,
    /// Most aliased fields once fragments are expanded (`GRAPHQL_MAX_ALIASES`).
    pub max_aliases: u64,
    /// Deepest field nesting (`GRAPHQL_MAX_DEPTH`).
    pub max_depth: usize,
    /// Highest complexity as async-graphql computes it (`GRAPHQL_MAX_COMPLEXITY`).
    pub max_complexity: usize,
    /// Whether validation messages may name schema elements (introspection on).
    pub reveal_schema: bool,
}

/// Request data: a document to validate whose outcome is kept once it passes: the entry enters
/// the cache under `keep_as` (a document parsed now), and the result is kept under `signature`.
struct Pending {
    entry: Arc<Entry>,
    keep_as: Option<String>,
    signature: Option<Signature>,
}

/// Request data: the validation result a cached document had with these variable kinds.
struct Validated(ValidationResult);

/// Installs the guard on every request.
#[derive(Clone)]
pub struct GuardExtension(Arc<Guard>);

impl GuardExtension {
    /// A guard enforcing `limits`, remembering up to `cached_documents` checked documents.
    pub fn new(limits: Limits, cached_documents: usize) -> Self {
        Self(Arc::new(Guard {
            limits,
            cache: DocumentCache::new(cached_documents),
        }))
    }
}

impl ExtensionFactory for GuardExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::clone(&self.0) as Arc<dyn Extension>
    }
}

struct Guard {
    limits: Limits,
    cache: DocumentCache,
}

/// A request's document once the guard has checked it.
enum Checked {
    /// Kept from an earlier request: checked and validated then.
    Cached(Arc<Entry>),
    /// Parsed and checked now; not validated yet.
    Parsed(ExecutableDocument),
}

impl Guard {
    /// The checked document of `query`: its cache entry, or the document parsed now by
    /// [`check`].
    fn document(&self, query: &str, operation_name: Option<&str>) -> ServerResult<Checked> {
        if let Some(entry) = self.cache.get(query) {
            check_operation_name(&entry.document, operation_name)?;
            return Ok(Checked::Cached(entry));
        }
        Ok(Checked::Parsed(check(&self.limits, query, operation_name)?))
    }
}

#[async_trait::async_trait]
impl Extension for Guard {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let checked = self.document(&request.query, request.operation_name.as_deref())?;
        let document = match &checked {
            Checked::Cached(entry) => &entry.document,
            Checked::Parsed(document) => document,
        };
        if request.data.contains_key(&TypeId::of::<ReadOnly>())
            && operation_type(document, request.operation_name.as_deref())
                == Some(OperationType::Mutation)
        {
            return Err(coded(
                METHOD_NOT_ALLOWED,
                "only queries run over GET: send mutations with POST",
            ));
        }
        let (entry, keep_as) = match checked {
            Checked::Cached(entry) => (entry, None),
            Checked::Parsed(document) if self.cache.keeps(&request.query) => {
                (Entry::new(document), Some(request.query.clone()))
            }
            Checked::Parsed(document) => {
                request.set_parsed_query(document);
                return next.run(ctx, request).await;
            }
        };
        request.set_parsed_query(entry.document.clone());
        // The variables as the later extensions leave them (numbers in their canonical form) are
        // the ones validation sees.
        let mut request = next.run(ctx, request).await?;
        let signature = Signature::of(
            &entry.document,
            request.operation_name.as_deref(),
            &request.variables,
        );
        match signature
            .as_ref()
            .and_then(|signature| entry.result(signature))
        {
            Some(result) => request.data.insert(Validated(result)),
            None if keep_as.is_some() || signature.is_some() => request.data.insert(Pending {
                entry,
                keep_as,
                signature,
            }),
            // A kept document whose outcome depends on more than variable kinds: nothing to keep.
            None => {}
        }
        Ok(request)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        // Outcomes seen with the same document and variable kinds are not computed again.
        if let Some(Validated(result)) = ctx.data_opt::<Validated>() {
            return Ok(*result);
        }
        let limits = &self.limits;
        match next.run(ctx).await {
            Ok(result) if result.complexity > limits.max_complexity => Err(vec![coded(
                "QUERY_TOO_COMPLEX",
                format!(
                    "the query's complexity is {}; the limit is {} (a connection's `first` or \
                     `last` multiplies the cost of what it selects)",
                    result.complexity, limits.max_complexity
                ),
            )]),
            Ok(result) if result.depth > limits.max_depth => Err(vec![coded(
                "QUERY_TOO_DEEP",
                format!(
                    "the query nests fields {} deep; the limit is {}",
                    result.depth, limits.max_depth
                ),
            )]),
            Ok(result) => {
                if let Some(pending) = ctx.data_opt::<Pending>() {
                    if let Some(signature) = &pending.signature {
                        pending.entry.remember(signature.clone(), result);
                    }
                    if let Some(query) = &pending.keep_as {
                        self.cache.put(query, Arc::clone(&pending.entry));
                    }
                }
                Ok(result)
            }
            Err(errors) => Err(validation_errors(errors, limits.reveal_schema)),
        }
    }
}

/// Codes async-graphql's validation errors; without introspection, one message that names
/// nothing of the schema.
fn validation_errors(errors: Vec<ServerError>, reveal_schema: bool) -> Vec<ServerError> {
    const CODE: &str = "GRAPHQL_VALIDATION_FAILED";
    if !reveal_schema {
        return vec![coded(
            CODE,
            "the document is not valid for this API (details are not given while introspection \
             is off)",
        )];
    }
    let total = errors.len();
    let mut kept: Vec<ServerError> = errors
        .into_iter()
        .take(MAX_VALIDATION_ERRORS)
        .map(|mut error| {
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", CODE);
            error
        })
        .collect();
    if total > MAX_VALIDATION_ERRORS {
        kept.push(coded(
            CODE,
            format!(
                "{} more validation errors were left out",
                total - MAX_VALIDATION_ERRORS
            ),
        ));
    }
    kept
}

/// A request-level error with its code.
fn coded(code: &'static str, message: impl Into<String>) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
    error
}

/// Measures `query` against `limits` and returns its parsed document.
pub fn check(
    limits: &Limits,
    query: &str,
    operation_name: Option<&str>,
) -> ServerResult<ExecutableDocument> {
    if query.len() > limits.max_query_bytes {
        return Err(coded(
            "QUERY_TOO_LARGE",
            format!(
                "the query text is {} bytes; the limit is {} (send large values as variables)",
                query.len(),
                limits.max_query_bytes
            ),
        ));
    }
    if nesting(query) > MAX_NESTING {
        return Err(too_deep());
    }
    let document = parse_query(query).map_err(|error| match error {
        async_graphql::parser::Error::RecursionLimitExceeded => too_deep(),
        other => {
            let positions = other.positions().collect();
            let mut error = coded("GRAPHQL_PARSE_FAILED", other.to_string());
            error.locations = positions;
            error
        }
    })?;
    check_operation_name(&document, operation_name)?;
    let cost = Costs::of(&document)?;
    if cost.selections > limits.max_selections {
        return Err(coded(
            "QUERY_TOO_COMPLEX",
            format!(
                "the document selects {} fields once its fragments are expanded; the limit is {}",
                cost.selections, limits.max_selections
            ),
        ));
    }
    if cost.aliases > limits.max_aliases {
        return Err(coded(
            "TOO_MANY_ALIASES",
            format!(
                "the document uses {} aliases once its fragments are expanded; the limit is {}",
                cost.aliases, limits.max_aliases
            ),
        ));
    }
    if cost.nesting > MAX_NESTING as u64 {
        return Err(too_deep());
    }
    Ok(document)
}

fn too_deep() -> ServerError {
    coded(
        "QUERY_TOO_DEEP",
        format!("the document nests deeper than {MAX_NESTING} levels"),
    )
}

fn check_operation_name(doc: &ExecutableDocument, name: Option<&str>) -> ServerResult<()> {
    let found = match (&doc.operations, name) {
        (DocumentOperations::Single(_), None) => true,
        (DocumentOperations::Multiple(ops), None) => {
            if ops.len() > 1 {
                return Err(coded(
                    "BAD_REQUEST",
                    "the document has several operations: say which in `operationName`",
                ));
            }
            true
        }
        (DocumentOperations::Single(_), Some(_)) => false,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.contains_key(name),
    };
    if found {
        Ok(())
    } else {
        Err(coded(
            "BAD_REQUEST",
            "no operation of the document has the requested `operationName`",
        ))
    }
}

/// The type of the operation `name` selects (the only one when `name` is `None`).
/// Whether `query` asks for a subscription (its operation `name`, or its only or first one);
/// `false` for a document the guard would refuse as too deeply nested, or that does not parse
/// (execution then answers why).
pub fn is_subscription(query: &str, name: Option<&str>) -> bool {
    nesting(query) <= MAX_NESTING
        && parse_query(query)
            .is_ok_and(|doc| operation_type(&doc, name) == Some(OperationType::Subscription))
}

/// The type of the operation `name` of `doc` (its only or first one when `name` is `None`).
pub(crate) fn operation_type(
    doc: &ExecutableDocument,
    name: Option<&str>,
) -> Option<OperationType> {
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) => ops.values().next().map(|op| op.node.ty),
    }
}

/// How deeply brackets nest in `query`, outside strings and comments: a bound on the parser's
/// recursion, computed without recursing.
fn nesting(query: &str) -> usize {
    let bytes = query.as_bytes();
    let (mut depth, mut max, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    // `\"""` is an escaped triple quote inside a block string.
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    max
}

/// The cost of a selection set with its fragments expanded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Cost {
    /// Fields, fragment spreads and inline fragments.
    selections: u64,
    /// Aliased fields.
    aliases: u64,
    /// Selection sets entered below this one, through fields and fragments (async-graphql's
    /// recursion depth).
    nesting: u64,
}

impl Cost {
    fn add(self, other: Cost) -> Cost {
        Cost {
            selections: self.selections.saturating_add(other.selections),
            aliases: self.aliases.saturating_add(other.aliases),
            nesting: self.nesting.max(other.nesting),
        }
    }

    /// This cost one selection set further down, reached through one selection.
    fn below(self, aliased: bool) -> Cost {
        Cost {
            selections: self.selections.saturating_add(1),
            aliases: self.aliases.saturating_add(u64::from(aliased)),
            nesting: self.nesting.saturating_add(1),
        }
    }
}

/// Every fragment's cost, computed once each, and the whole document's.
struct Costs<'d> {
    doc: &'d ExecutableDocument,
    fragments: HashMap<&'d Name, Cost>,
}

impl<'d> Costs<'d> {
    /// The cost of all operations of `doc`, fragments expanded.
    fn of(doc: &'d ExecutableDocument) -> ServerResult<Cost> {
        let mut costs = Costs {
            doc,
            fragments: HashMap::with_capacity(doc.fragments.len()),
        };
        for name in costs.dependency_order()? {
            let cost = costs.selection_set(&doc.fragments[name].node.selection_set)?;
            costs.fragments.insert(name, cost);
        }
        let mut total = Cost::default();
        for (_, operation) in doc.operations.iter() {
            total = total.add(costs.selection_set(&operation.node.selection_set)?);
            directives(operation.node.directives.len())?;
            for variable in &operation.node.variable_definitions {
                directives(variable.node.directives.len())?;
            }
        }
        Ok(total)
    }

    /// Fragments ordered so that each comes after every fragment it spreads (Kahn's algorithm,
    /// no recursion); a fragment left over is part of a cycle.
    fn dependency_order(&self) -> ServerResult<Vec<&'d Name>> {
        let mut spreads: HashMap<&'d Name, Vec<&'d Name>> = HashMap::new();
        let mut waiting_on: HashMap<&'d Name, usize> = HashMap::new();
        for (name, fragment) in &self.doc.fragments {
            directives(fragment.node.directives.len())?;
            let mut used = Vec::new();
            spread_names(&fragment.node.selection_set, &mut used);
            used.sort_unstable();
            used.dedup();
            used.retain(|dep| self.doc.fragments.contains_key(*dep));
            waiting_on.insert(name, used.len());
            for dep in used {
                spreads.entry(dep).or_default().push(name);
            }
        }
        let mut ready: Vec<&'d Name> = waiting_on
            .iter()
            .filter(|(_, count)| **count == 0)
            .map(|(name, _)| *name)
            .collect();
        let mut order = Vec::with_capacity(waiting_on.len());
        while let Some(name) = ready.pop() {
            order.push(name);
            for user in spreads.get(name).into_iter().flatten() {
                if let Some(count) = waiting_on.get_mut(user) {
                    *count -= 1;
                    if *count == 0 {
                        ready.push(user);
                    }
                }
            }
        }
        if order.len() < waiting_on.len() {
            let mut cyclic: Vec<&str> = waiting_on
                .iter()
                .filter(|(_, count)| **count > 0)
                .map(|(name, _)| name.as_str())
                .collect();
            cyclic.sort_unstable();
            cyclic.truncate(5);
            return Err(coded(
                "GRAPHQL_VALIDATION_FAILED",
                format!("fragments spread themselves: {}", cyclic.join(", ")),
            ));
        }
        Ok(order)
    }

    /// The expanded cost of `set`; every fragment it spreads is already costed. Recursion
    /// follows the document's own nesting, which [`MAX_NESTING`] bounds.
    fn selection_set(&self, set: &Positioned<SelectionSet>) -> ServerResult<Cost> {
        let mut total = Cost::default();
        for selection in &set.node.items {
            directives(selection.node.directives().len())?;
            let cost = match &selection.node {
                Selection::Field(field) => {
                    let aliased = field.node.alias.is_some();
                    if field.node.selection_set.node.items.is_empty() {
                        Cost {
                            selections: 1,
                            aliases: u64::from(aliased),
                            nesting: 0,
                        }
                    } else {
                        self.selection_set(&field.node.selection_set)?
                            .below(aliased)
                    }
                }
                Selection::FragmentSpread(spread) => self
                    .fragments
                    .get(&spread.node.fragment_name.node)
                    .copied()
                    // Unknown fragments cost nothing here; validation reports them.
                    .unwrap_or_default()
                    .below(false),
                Selection::InlineFragment(inline) => {
                    self.selection_set(&inline.node.selection_set)?.below(false)
                }
            };
            total = total.add(cost);
        }
        Ok(total)
    }
}

/// The names of the fragments `set` spreads, directly or in inline fragments and subfields.
fn spread_names<'d>(set: &'d Positioned<SelectionSet>, out: &mut Vec<&'d Name>) {
    for selection in &set.node.items {
        match &selection.node {
            Selection::Field(field) => spread_names(&field.node.selection_set, out),
            Selection::FragmentSpread(spread) => out.push(&spread.node.fragment_name.node),
            Selection::InlineFragment(inline) => spread_names(&inline.node.selection_set, out),
        }
    }
}

fn directives(count: usize) -> ServerResult<()> {
    if count > MAX_DIRECTIVES_PER_LOCATION {
        return Err(coded(
            "TOO_MANY_DIRECTIVES",
            format!(
                "{count} directives on one location; the limit is {MAX_DIRECTIVES_PER_LOCATION}"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_query_bytes: 64 * 1024,
            max_selections: 1_000,
            max_aliases: 50,
            max_depth: 15,
            max_complexity: 20_000,
            reveal_schema: true,
        }
    }

    fn code(result: ServerResult<ExecutableDocument>) -> String {
        let error = result.expect_err("the document must be refused");
        let ext = serde_json::to_value(error.extensions).unwrap();
        ext["code"].as_str().unwrap().to_owned()
    }

    /// `fragment F0 on Query { ...F1 ...F1 }` … each fragment spreads the next twice.
    fn doubling(n: usize, leaf: &str) -> String {
        let mut query = String::from("query { ...F0 }\n");
        for i in 0..n {
            query.push_str(&format!(
                "fragment F{i} on Query {{ ...F{0} ...F{0} }}\n",
                i + 1
            ));
        }
        query.push_str(&format!("fragment F{n} on Query {{ {leaf} }}\n"));
        query
    }

    #[test]
    fn exponential_fragments_are_refused_in_linear_time() {
        let started = std::time::Instant::now();
        for n in [24, 30, 60, 200] {
            assert_eq!(
                code(check(&limits(), &doubling(n, "__typename"), None)),
                "QUERY_TOO_COMPLEX"
            );
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn selections_are_counted_with_fragments_expanded() {
        let doc = parse_query(doubling(3, "__typename")).unwrap();
        let cost = Costs::of(&doc).unwrap();
        // Spreads: 1 + 2 + 4 + 8; leaves: 8.
        assert_eq!(cost.selections, 15 + 8);
        assert_eq!(cost.nesting, 4);
        assert!(check(&limits(), &doubling(3, "__typename"), None).is_ok());
    }

    #[test]
    fn cycles_are_refused_without_recursing() {
        let query = "query { ...A } fragment A on Query { ...B ...B } fragment B on Query { ...A }";
        assert_eq!(
            code(check(&limits(), query, None)),
            "GRAPHQL_VALIDATION_FAILED"
        );
    }

    #[test]
    fn aliases_are_counted() {
        let fields: String = (0..60).map(|i| format!("a{i}: __typename ")).collect();
        let query = format!("{{ {fields} }}");
        assert_eq!(code(check(&limits(), &query, None)), "TOO_MANY_ALIASES");
        let fields: String = (0..50).map(|i| format!("a{i}: __typename ")).collect();
        assert!(check(&limits(), &format!("{{ {fields} }}"), None).is_ok());
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        for n in [100, 100_000] {
            let query = format!("{}{}", "{a".repeat(n), "}".repeat(n));
            let limits = Limits {
                max_query_bytes: usize::MAX,
                ..limits()
            };
            assert_eq!(code(check(&limits, &query, None)), "QUERY_TOO_DEEP");
        }
        let query = format!("{{ a(x: {}1{}) }}", "[".repeat(1_000), "]".repeat(1_000));
        assert_eq!(code(check(&limits(), &query, None)), "QUERY_TOO_DEEP");
    }

    #[test]
    fn nesting_ignores_strings_and_comments() {
        assert_eq!(nesting(r#"{ a(x: "{{{{[[[(") }"#), 2);
        assert_eq!(nesting("{ a # {{{{\n }"), 1);
        assert_eq!(nesting(r#"{ a(x: """ {{{ \""" {{ """) }"#), 2);
        assert_eq!(nesting(r#"{ a(x: "\"{{") }"#), 2);
    }

    #[test]
    fn directives_per_location_are_bounded() {
        let query = format!("{{ __typename {} }}", "@skip(if: false) ".repeat(3_000));
        assert_eq!(code(check(&limits(), &query, None)), "TOO_MANY_DIRECTIVES");
    }

    #[test]
    fn long_queries_are_refused() {
        let query = format!("{{ __typename }} # {}", "x".repeat(70_000));
        assert_eq!(code(check(&limits(), &query, None)), "QUERY_TOO_LARGE");
    }

    #[test]
    fn operation_names_are_checked_without_echo() {
        let query = "query A { __typename } query B { __typename }";
        assert_eq!(code(check(&limits(), query, None)), "BAD_REQUEST");
        assert!(check(&limits(), query, Some("B")).is_ok());
        let name = format!("Z{}\u{0}\n", "x".repeat(10_000));
        let error = check(&limits(), query, Some(&name)).unwrap_err();
        assert!(!error.message.contains("xxx"));
        assert_eq!(
            code(check(&limits(), "{ __typename }", Some("A"))),
            "BAD_REQUEST"
        );
    }

    proptest::proptest! {
        /// Any text, valid or not, is answered (a document or a coded error) without panicking.
        #[test]
        fn any_text_is_answered(query in "[{}()\\[\\]a-c:.$@!\"#\n ]{0,200}|\\PC{0,200}") {
            match check(&limits(), &query, None) {
                Ok(_) => {}
                Err(error) => {
                    let ext = serde_json::to_value(error.extensions).unwrap();
                    proptest::prop_assert!(ext["code"].is_string());
                }
            }
        }

        /// Random fragment graphs (each fragment spreading up to three random others, cycles
        /// included) are costed in linear time: the answer never takes long, whatever the
        /// expanded size.
        #[test]
        fn random_fragment_graphs_are_costed_quickly(
            spreads in proptest::collection::vec(proptest::collection::vec(0usize..40, 0..4), 1..40)
        ) {
            let n = spreads.len();
            let mut query = String::from("query { ...F0 }\n");
            for (i, targets) in spreads.iter().enumerate() {
                let body: String = targets.iter().map(|t| format!("...F{} ", t % n)).collect();
                query.push_str(&format!("fragment F{i} on Query {{ __typename {body}}}\n"));
            }
            let started = std::time::Instant::now();
            let _ = check(&limits(), &query, None);
            proptest::prop_assert!(started.elapsed() < std::time::Duration::from_millis(200));
        }
    }

    #[test]
    fn parse_errors_have_their_code_and_position() {
        let error = check(&limits(), "{ a(", None).unwrap_err();
        assert!(!error.locations.is_empty());
        assert_eq!(code(check(&limits(), "{ a(", None)), "GRAPHQL_PARSE_FAILED");
    }

    fn guard(cached: usize) -> Guard {
        Guard {
            limits: limits(),
            cache: DocumentCache::new(cached),
        }
    }

    #[test]
    fn a_cached_document_still_has_its_operation_checked() {
        let guard = guard(2);
        let two = "query A { me { username } } query B { me { id } }";
        let Checked::Parsed(first) = guard.document(two, Some("A")).unwrap() else {
            panic!("parsed the first time");
        };
        assert!(
            guard.cache.get(two).is_none(),
            "kept only once it has validated"
        );
        guard.cache.put(two, Entry::new(first.clone()));
        let Checked::Cached(again) = guard.document(two, Some("B")).unwrap() else {
            panic!("from the cache");
        };
        assert_eq!(format!("{:?}", again.document), format!("{first:?}"));
        let code_of = |name| match guard.document(two, name) {
            Ok(_) => "OK".to_owned(),
            Err(e) => code(Err(e)),
        };
        assert_eq!(code_of(Some("C")), "BAD_REQUEST");
        assert_eq!(code_of(None), "BAD_REQUEST");
    }

    /// Through a schema: a document is kept only after it has validated, so invalid documents
    /// (which anyone can send) never fill the cache.
    #[tokio::test]
    async fn only_valid_documents_are_kept() {
        struct Query;
        #[async_graphql::Object]
        impl Query {
            async fn a(&self, x: Option<i32>) -> i32 {
                x.unwrap_or(1)
            }
        }
        let guard = GuardExtension::new(limits(), 8);
        let schema = async_graphql::Schema::build(
            Query,
            async_graphql::EmptyMutation,
            async_graphql::EmptySubscription,
        )
        .extension(guard.clone())
        .finish();
        let invalid = "{ a(x: [[1], [2]]) }";
        assert!(!schema.execute(invalid).await.errors.is_empty());
        assert!(guard.0.cache.get(invalid).is_none());
        let valid = "{ a(x: 2) }";
        assert!(schema.execute(valid).await.errors.is_empty());
        assert!(guard.0.cache.get(valid).is_some());
        let again = schema.execute(valid).await;
        assert!(again.errors.is_empty(), "{:?}", again.errors);
    }

    /// Through a schema: a cached document is validated again only for variable kinds it was
    /// not seen with, and a value of another kind is still refused before anything runs.
    #[tokio::test]
    async fn validation_is_reused_only_for_the_same_variable_kinds() {
        struct Query;
        #[async_graphql::Object]
        impl Query {
            async fn echo(&self, x: async_graphql::ID) -> String {
                x.0
            }
        }
        /// Counts the validations that run past the guard.
        struct Count(Arc<std::sync::atomic::AtomicUsize>);
        #[async_trait::async_trait]
        impl Extension for Count {
            async fn validation(
                &self,
                ctx: &ExtensionContext<'_>,
                next: NextValidation<'_>,
            ) -> Result<ValidationResult, Vec<ServerError>> {
                self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                next.run(ctx).await
            }
        }
        impl ExtensionFactory for Count {
            fn create(&self) -> Arc<dyn Extension> {
                Arc::new(Count(Arc::clone(&self.0)))
            }
        }
        let validations = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let schema = async_graphql::Schema::build(
            Query,
            async_graphql::EmptyMutation,
            async_graphql::EmptySubscription,
        )
        .extension(GuardExtension::new(limits(), 8))
        .extension(Count(Arc::clone(&validations)))
        .finish();
        let run = |x: serde_json::Value| {
            let request = Request::new("query($x: ID!) { echo(x: $x) }").variables(
                async_graphql::Variables::from_json(serde_json::json!({ "x": x })),
            );
            schema.execute(request)
        };
        let validated = || validations.load(std::sync::atomic::Ordering::Relaxed);
        for (x, ok, count) in [
            (serde_json::json!("a"), true, 1),
            (serde_json::json!("b"), true, 1),
            (serde_json::json!(true), false, 2),
            (serde_json::json!(false), false, 3),
            (serde_json::json!(7), true, 4),
            (serde_json::json!(8), true, 4),
            (serde_json::json!("c"), true, 4),
        ] {
            let response = run(x.clone()).await;
            assert_eq!(response.errors.is_empty(), ok, "{x}: {:?}", response.errors);
            if !ok {
                assert_eq!(
                    response.data,
                    async_graphql::Value::Null,
                    "{x}: a request error"
                );
                assert!(response.errors.iter().all(|e| e.path.is_empty()));
            }
            assert_eq!(validated(), count, "{x}: validations so far");
        }
    }
}
