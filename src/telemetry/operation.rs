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
//! (one that fails to parse or validate on a socket is not counted: it never executes).

use super::metrics::Metrics;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextRequest,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument};
use async_graphql::{Request, Response, ServerResult, Variables};
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

/// Per-request extension that fills the request's [`Operation`] (one of its own when the
/// transport attached none).
#[derive(Default)]
struct Observe {
    operation: Mutex<Option<Arc<Operation>>>,
    started: Mutex<Option<Instant>>,
}

/// The code of an error, as the operation metrics count it.
fn code(error: &async_graphql::ServerError) -> &str {
    match error.extensions.as_ref().and_then(|ext| ext.get("code")) {
        Some(async_graphql::Value::String(code)) => code,
        _ => "UNKNOWN",
    }
}

impl Observe {
    fn operation(&self) -> Option<Arc<Operation>> {
        self.operation
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
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
    /// time is taken from preparation to the end of execution.
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let response = next.run(ctx, operation_name).await;
        let started = *self.started.lock().unwrap_or_else(|p| p.into_inner());
        if let (Some(operation), Some(started)) = (self.operation(), started) {
            let elapsed = started.elapsed();
            operation.lock().elapsed = Some(elapsed);
            // Only a socket's operations are counted here; HTTP handlers count their own.
            if let Some(SocketMetrics(metrics)) = ctx.data_opt::<SocketMetrics>() {
                let label = metrics.labels.label(operation.name().as_deref());
                metrics.operation(&label, elapsed, response.errors.iter().map(code));
            }
        }
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
        // A socket's operation: named here, counted in `request`.
        let own = || {
            ctx.data_opt::<SocketMetrics>()
                .map(|_| Operation::new(request.operation_name.as_deref()))
        };
        let operation = attached.or_else(own);
        *self.operation.lock().unwrap_or_else(|p| p.into_inner()) = operation;
        *self.started.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
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
        Ok(document)
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
