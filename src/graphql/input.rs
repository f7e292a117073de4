//! What every input value must be, checked once for the whole request before anything runs.
//!
//! [`InputGuard`] is a schema extension, so every argument of every field passes through it,
//! whether written in the query text or sent as a variable, at any depth (JSON arguments
//! included, their object keys too):
//!
//! - **NUL** (`\u0000`) anywhere in a string is refused: PostgreSQL cannot store it in `text`
//!   or `jsonb` and SQLite's checks and FTS treat it differently, so the two backends would
//!   disagree; refusing it up front gives both the same answer.
//! - **Numbers** are put in their canonical form ([`crate::domain::number`]) before any
//!   resolver sees them, so what is stored, hashed and compared is the same on both backends;
//!   numbers beyond the 64-bit integer range are refused.
//!
//! A refusal is `BAD_USER_INPUT` with `extensions.field`: the argument's name followed by the
//! keys and list indexes leading to the value (e.g. `input.content.etapas.0.descricao`); a
//! variable's default value is named by the variable (`$name`).

use crate::domain::number::{canonical_number, OUT_OF_RANGE_MESSAGE};
use crate::error::AppError;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest,
};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, Request, ServerError, ServerResult, Variables};
use async_graphql_value::{ConstValue, Value};
use std::sync::Arc;

/// Installs the input checks on every request.
#[derive(Debug, Clone, Copy, Default)]
pub struct InputGuard;

impl ExtensionFactory for InputGuard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(InputGuard)
    }
}

#[async_trait::async_trait]
impl Extension for InputGuard {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        request.variables.values_mut().for_each(canonicalise_const);
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let mut document = next.run(ctx, query, variables).await?;
        canonicalise_document(&mut document);
        match first_fault(&document, variables) {
            Some((field, fault)) => Err(refusal(field, fault)),
            None => Ok(document),
        }
    }
}

/// Why an input value is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// A string (or object key) holds U+0000.
    Nul,
    /// A number beyond the 64-bit integer range.
    OutOfRange,
}

fn refusal(field: String, fault: Fault) -> ServerError {
    let message = match fault {
        Fault::Nul => "text must not contain the NUL character (\\u0000)",
        Fault::OutOfRange => OUT_OF_RANGE_MESSAGE,
    };
    let error: async_graphql::Error = AppError::bad_input(field, message).into();
    let mut server_error = ServerError::new(error.message, None);
    server_error.extensions = error.extensions;
    server_error
}

/// Replaces every in-range number of a variable value by its canonical form.
fn canonicalise_const(value: &mut ConstValue) {
    match value {
        ConstValue::Number(number) => {
            if let Ok(canonical) = canonical_number(number) {
                *number = canonical;
            }
        }
        ConstValue::List(items) => items.iter_mut().for_each(canonicalise_const),
        ConstValue::Object(map) => map.values_mut().for_each(canonicalise_const),
        _ => {}
    }
}

/// Replaces every in-range number written in the query text by its canonical form.
fn canonicalise_literal(value: &mut Value) {
    match value {
        Value::Number(number) => {
            if let Ok(canonical) = canonical_number(number) {
                *number = canonical;
            }
        }
        Value::List(items) => items.iter_mut().for_each(canonicalise_literal),
        Value::Object(map) => map.values_mut().for_each(canonicalise_literal),
        _ => {}
    }
}

fn canonicalise_document(document: &mut ExecutableDocument) {
    let operations: Vec<&mut OperationDefinition> = match &mut document.operations {
        DocumentOperations::Single(operation) => vec![&mut operation.node],
        DocumentOperations::Multiple(named) => named.values_mut().map(|op| &mut op.node).collect(),
    };
    for operation in operations {
        for definition in &mut operation.variable_definitions {
            if let Some(default) = &mut definition.node.default_value {
                canonicalise_const(&mut default.node);
            }
        }
        canonicalise_selections(&mut operation.selection_set.node);
    }
    for fragment in document.fragments.values_mut() {
        canonicalise_selections(&mut fragment.node.selection_set.node);
    }
}

fn canonicalise_selections(set: &mut SelectionSet) {
    for selection in &mut set.items {
        match &mut selection.node {
            Selection::Field(field) => {
                let field = &mut field.node;
                for (_, value) in &mut field.arguments {
                    canonicalise_literal(&mut value.node);
                }
                canonicalise_selections(&mut field.selection_set.node);
            }
            Selection::InlineFragment(fragment) => {
                canonicalise_selections(&mut fragment.node.selection_set.node);
            }
            Selection::FragmentSpread(_) => {}
        }
    }
}

/// The first refused value of the document's arguments (and the variables they use), with
/// its path.
fn first_fault(document: &ExecutableDocument, variables: &Variables) -> Option<(String, Fault)> {
    let finder = Finder { variables };
    for (_, operation) in document.operations.iter() {
        let operation = &operation.node;
        for definition in &operation.variable_definitions {
            if let Some(default) = &definition.node.default_value {
                let place = Place::Default(definition.node.name.node.as_str());
                if let Some(found) = const_fault(&default.node, &place) {
                    return Some(found);
                }
            }
        }
        if let Some(found) = finder.selections(&operation.selection_set.node) {
            return Some(found);
        }
    }
    document
        .fragments
        .values()
        .find_map(|fragment| finder.selections(&fragment.node.selection_set.node))
}

/// Walks selection sets, following variables into their values.
struct Finder<'a> {
    variables: &'a Variables,
}

impl Finder<'_> {
    fn selections(&self, set: &SelectionSet) -> Option<(String, Fault)> {
        set.items
            .iter()
            .find_map(|selection| match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    field
                        .arguments
                        .iter()
                        .find_map(|(name, value)| {
                            self.literal(&value.node, &Place::Argument(name.node.as_str()))
                        })
                        .or_else(|| self.selections(&field.selection_set.node))
                }
                Selection::InlineFragment(fragment) => {
                    self.selections(&fragment.node.selection_set.node)
                }
                Selection::FragmentSpread(_) => None,
            })
    }

    fn literal(&self, value: &Value, place: &Place<'_>) -> Option<(String, Fault)> {
        match value {
            Value::Variable(name) => self
                .variables
                .get(name)
                .and_then(|value| const_fault(value, place)),
            Value::Number(number) => canonical_number(number)
                .is_err()
                .then(|| (place.to_string(), Fault::OutOfRange)),
            Value::String(text) => has_nul(text).then(|| (place.to_string(), Fault::Nul)),
            Value::List(items) => items
                .iter()
                .enumerate()
                .find_map(|(index, item)| self.literal(item, &Place::Index(place, index))),
            Value::Object(map) => map.iter().find_map(|(key, item)| {
                key_fault(key, place).or_else(|| self.literal(item, &Place::Key(place, key)))
            }),
            Value::Null | Value::Boolean(_) | Value::Binary(_) | Value::Enum(_) => None,
        }
    }
}

/// Where a value sits in the request: an argument or a variable's default, then the keys and
/// list indexes leading to it. It is written out (`input.content.etapas.0`) only for a value
/// refused, so walking a large input allocates nothing.
#[derive(Debug, Clone, Copy)]
enum Place<'a> {
    /// An argument, by name.
    Argument(&'a str),
    /// A variable's default value (`$name`).
    Default(&'a str),
    /// A key of an object.
    Key(&'a Place<'a>, &'a str),
    /// An index of a list.
    Index(&'a Place<'a>, usize),
}

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Argument(name) => f.write_str(name),
            Place::Default(name) => write!(f, "${name}"),
            Place::Key(parent, key) => write!(f, "{parent}.{key}"),
            Place::Index(parent, index) => write!(f, "{parent}.{index}"),
        }
    }
}

fn const_fault(value: &ConstValue, place: &Place<'_>) -> Option<(String, Fault)> {
    match value {
        ConstValue::Number(number) => canonical_number(number)
            .is_err()
            .then(|| (place.to_string(), Fault::OutOfRange)),
        ConstValue::String(text) => has_nul(text).then(|| (place.to_string(), Fault::Nul)),
        ConstValue::List(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| const_fault(item, &Place::Index(place, index))),
        ConstValue::Object(map) => map.iter().find_map(|(key, item)| {
            key_fault(key, place).or_else(|| const_fault(item, &Place::Key(place, key)))
        }),
        ConstValue::Null | ConstValue::Boolean(_) | ConstValue::Binary(_) | ConstValue::Enum(_) => {
            None
        }
    }
}

/// A key holding NUL is reported at the object that holds it (the key itself is not printable).
fn key_fault(key: &Name, place: &Place<'_>) -> Option<(String, Fault)> {
    has_nul(key).then(|| (place.to_string(), Fault::Nul))
}

fn has_nul(text: &str) -> bool {
    text.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;
    use serde_json::json;

    fn fault(query: &str, variables: serde_json::Value) -> Option<(String, Fault)> {
        let document = parse_query(query).expect("a valid query");
        let mut variables = Variables::from_json(variables);
        variables.values_mut().for_each(canonicalise_const);
        first_fault(&document, &variables)
    }

    #[test]
    fn finds_nul_in_literals_variables_and_keys() {
        assert_eq!(
            fault(
                r#"{ login(username: "a\u0000b", password: "x") { token } }"#,
                json!({})
            ),
            Some(("username".into(), Fault::Nul))
        );
        assert_eq!(
            fault(
                "mutation($i: AutosavePopInput!) { autosavePop(input: $i) { changed } }",
                json!({"i": {"sessionId": "s", "content": {"etapas": [{"descricao": "x\u{0}"}]}}})
            ),
            Some(("input.content.etapas.0.descricao".into(), Fault::Nul))
        );
        assert_eq!(
            fault(
                "mutation($e: JSON) { autosavePop(input: {sessionId: \"s\", content: {etapas: $e}}) { changed } }",
                json!({"e": [{"a\u{0}": 1}]})
            ),
            Some(("input.content.etapas.0".into(), Fault::Nul))
        );
        assert_eq!(
            fault(
                "query($s: String = \"\\u0000\") { pops(search: $s) { totalCount } }",
                json!({})
            ),
            Some(("$s".into(), Fault::Nul))
        );
        assert_eq!(
            fault(
                "query { ...F } fragment F on Query { pops(search: \"\\u0000\") { totalCount } }",
                json!({})
            ),
            Some(("search".into(), Fault::Nul))
        );
        assert_eq!(
            fault("{ pops(search: \"plain\") { totalCount } }", json!({})),
            None
        );
    }

    #[test]
    fn finds_numbers_out_of_range_and_keeps_the_rest() {
        assert_eq!(
            fault(
                "mutation($r: JSON) { autosavePop(input: {sessionId: \"s\", rawPayload: $r}) { changed } }",
                json!({"r": {"n": [1e16, -0.0, 1e300]}})
            ),
            Some(("input.rawPayload.n.2".into(), Fault::OutOfRange))
        );
        assert_eq!(
            fault(
                "mutation { autosavePop(input: {sessionId: \"s\", rawPayload: {n: 1e20}}) { changed } }",
                json!({})
            ),
            Some(("input.rawPayload.n".into(), Fault::OutOfRange))
        );
    }

    #[test]
    fn canonicalises_literal_numbers() {
        let mut value = Value::from_json(json!({"a": [1e16, -0.0, 1.5]})).expect("JSON");
        canonicalise_literal(&mut value);
        assert_eq!(
            value.into_json().expect("JSON"),
            json!({"a": [10_000_000_000_000_000_u64, 0.0, 1.5]})
        );
    }
}
