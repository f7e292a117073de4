//! Which GraphQL operation a request ran, under a label whose cardinality is bounded.
//!
//! Operation names are chosen by clients, so they cannot become metric labels as they come: a
//! name is kept only if it looks like a GraphQL name of at most [`MAX_NAME_LEN`] characters and
//! fewer than [`MAX_DISTINCT_NAMES`] distinct names have been seen; anything else is
//! [`OTHER`]. An operation without a name is [`ANONYMOUS`].
//!
//! [`ObserveExtension`] is installed in the schema; the HTTP handler attaches an [`Operation`]
//! to each request, and the extension fills in the operation's name (from the request or, when
//! the request names none, from the document's only named operation) and its duration; the
//! handler then counts it. A query or mutation sent over a WebSocket has no HTTP request around
//! it: its connection carries [`SocketMetrics`], and the extension counts it itself, the same way
//! (one refused while parsing or validating too; a subscription, and its events, are not
//! operations to count: `mapagov_subscriptions_open` counts subscriptions).

use super::metrics::Metrics;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextRequest, NextValidation,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Request, Response, ServerError, ServerResult, ValidationResult, Variables};
use std::any::TypeId;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest operation name kept as a label.
pub const MAX_NAME_LEN: usize = 64;
/// Most distinct operation names kept as labels; later names are [`OTHER`].
pub const MAX_DISTINCT_NAMES: usize = 100;
/// Label of an operation without a name.
pub const ANONYMOUS: &str = "anonymous";
/// Label of an operation whose name is malformed, too long, or one too many.
pub const OTHER: &str = "other";

/// The set of operation names already used as labels.
#[derive(Debug, Default)]
pub struct OperationLabels {
    seen: Mutex<HashSet<String>>,
}

impl OperationLabels {
    /// The label for an operation named `name`.
    pub fn label(&self, name: Option<&str>) -> String {
        let Some(name) = name else {
            return ANONYMOUS.to_owned();
        };
        if !is_graphql_name(name) {
            return OTHER.to_owned();
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains(name) {
            return name.to_owned();
        }
        if seen.len() >= MAX_DISTINCT_NAMES {
            return OTHER.to_owned();
        }
        seen.insert(name.to_owned());
        name.to_owned()
    }
}

/// `[_A-Za-z][_0-9A-Za-z]*`, at most [`MAX_NAME_LEN`] characters, and not one of the reserved
/// labels.
fn is_graphql_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic());
    first_ok
        && name.len() <= MAX_NAME_LEN
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        && name != ANONYMOUS
        && name != OTHER
}

/// One GraphQL operation of an HTTP request, as the schema extension saw it.
#[derive(Debug, Default)]
pub struct Operation {
    inner: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    name: Option<String>,
    elapsed: Option<Duration>,
}

impl Operation {
    /// A slot for an operation the client may have named.
    pub fn new(name: Option<&str>) -> Arc<Operation> {
        Arc::new(Operation {
            inner: Mutex::new(Seen {
                name: name.map(str::to_owned),
                elapsed: None,
            }),
        })
    }

    /// The operation's name, as requested or found in the document.
    pub fn name(&self) -> Option<String> {
        self.lock().name.clone()
    }

    /// How long parsing, validation and execution took (`None` if it never ran).
    pub fn elapsed(&self) -> Option<Duration> {
        self.lock().elapsed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Where a WebSocket connection's queries and mutations are counted (in the connection's data).
#[derive(Clone)]
pub struct SocketMetrics(pub Arc<Metrics>);

/// Installs [`Observe`] on every request.
#[derive(Debug, Clone, Copy, Default)]
pub struct ObserveExtension;

impl ExtensionFactory for ObserveExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Observe::default())
    }
}

/// Per-request extension that fills the request's [`Operation`] (one of its own for a query or
/// mutation sent on a socket, which it then counts).
#[derive(Default)]
struct Observe {
    operation: Mutex<Option<Arc<Operation>>>,
    /// Whether `operation` is this extension's own (a socket's), to count here.
    own: Mutex<bool>,
    /// The operation the request names.
    name: Mutex<Option<String>>,
    started: Mutex<Option<Instant>>,
}

/// The code of an error, as the operation metrics count it.
fn code(error: &async_graphql::ServerError) -> &str {
    match error.extensions.as_ref().and_then(|ext| ext.get("code")) {
        Some(async_graphql::Value::String(code)) => code,
        _ => "UNKNOWN",
    }
}

/// Locks one of the extension's slots (a poisoned lock still holds a usable value).
fn slot<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Observe {
    fn operation(&self) -> Option<Arc<Operation>> {
        slot(&self.operation).clone()
    }

    /// The operation ended (answered, or refused while parsing or validating): its time runs
    /// from preparation; a socket's is counted with `errors`' codes.
    fn finish(&self, ctx: &ExtensionContext<'_>, errors: &[ServerError]) {
        let started = *slot(&self.started);
        let (Some(operation), Some(started)) = (self.operation(), started) else {
            return;
        };
        let elapsed = started.elapsed();
        operation.lock().elapsed = Some(elapsed);
        if !*slot(&self.own) {
            // HTTP handlers (and event streams) count their own operations.
            return;
        }
        if let Some(SocketMetrics(metrics)) = ctx.data_opt::<SocketMetrics>() {
            let label = metrics.labels.label(operation.name().as_deref());
            metrics.operation(&label, elapsed, errors.iter().map(code));
        }
    }
}

#[async_trait::async_trait]
impl Extension for Observe {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let start = Instant::now();
        let response = next.run(ctx).await;
        if let Some(operation) = self.operation() {
            operation.lock().elapsed = Some(start.elapsed());
        }
        response
    }

    /// Streamed operations (an event stream, a socket) do not pass through `request`: their
    /// time is taken from preparation to the end of execution. A subscription's events pass
    /// here too, but a subscription has no operation of this extension's own.
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        // Coded here, the outermost extension, so every transport answers (and counts) the same
        // codes: a socket's answer does not pass through the HTTP handler.
        response
            .errors
            .iter_mut()
            .for_each(crate::error::code_uncoded);
        self.finish(ctx, &response.errors);
        response
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let attached = request
            .data
            .get(&TypeId::of::<Arc<Operation>>())
            .and_then(|data| data.downcast_ref::<Arc<Operation>>())
            .cloned();
        // A socket's operation: this extension's own, counted when it ends (see `finish`).
        let own = attached.is_none() && ctx.data_opt::<SocketMetrics>().is_some();
        let operation = match attached {
            Some(attached) => Some(attached),
            None if own => Some(Operation::new(request.operation_name.as_deref())),
            None => None,
        };
        *slot(&self.operation) = operation;
        *slot(&self.own) = own;
        slot(&self.name).clone_from(&request.operation_name);
        *slot(&self.started) = Some(Instant::now());
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = match next.run(ctx, query, variables).await {
            Ok(document) => document,
            Err(error) => {
                self.finish(ctx, std::slice::from_ref(&error));
                return Err(error);
            }
        };
        if let Some(operation) = self.operation() {
            let mut seen = operation.lock();
            if seen.name.is_none() {
                if let DocumentOperations::Multiple(named) = &document.operations {
                    if named.len() == 1 {
                        seen.name = named.keys().next().map(|n| n.to_string());
                    }
                }
            }
        }
        // A subscription on a socket is not an operation to count: its events are not either.
        if *slot(&self.own) {
            let name = slot(&self.name).clone();
            let ty = crate::graphql::guard::operation_type(&document, name.as_deref());
            if ty == Some(OperationType::Subscription) {
                *slot(&self.operation) = None;
            }
        }
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await;
        if let Err(errors) = &result {
            self.finish(ctx, errors);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded() {
        let labels = OperationLabels::default();
        assert_eq!(labels.label(None), ANONYMOUS);
        assert_eq!(labels.label(Some("SavePop")), "SavePop");
        assert_eq!(labels.label(Some("bad name")), OTHER);
        assert_eq!(labels.label(Some("1abc")), OTHER);
        assert_eq!(labels.label(Some(&"a".repeat(MAX_NAME_LEN + 1))), OTHER);
        assert_eq!(labels.label(Some(OTHER)), OTHER);
        for i in 1..MAX_DISTINCT_NAMES {
            assert_eq!(labels.label(Some(&format!("Op{i}"))), format!("Op{i}"));
        }
        assert_eq!(labels.label(Some("OneTooMany")), OTHER);
        assert_eq!(labels.label(Some("SavePop")), "SavePop", "known names stay");
    }
}
