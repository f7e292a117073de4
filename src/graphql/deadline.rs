//! `REQUEST_TIMEOUT` for queries and mutations sent over a WebSocket.
//!
//! Over HTTP the handler bounds each request (`http::graphql`). On a socket there is no request
//! around an operation, so the connection's data carries a [`SocketDeadline`] and this extension
//! bounds each operation's execution the same way, with the same `TIMEOUT` answer. Subscriptions
//! are not bounded: they last as long as their client wants.

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::{Response, ServerError};
use std::sync::Arc;
use std::time::Duration;

/// The longest a query or mutation of this WebSocket connection may run.
#[derive(Debug, Clone, Copy)]
pub struct SocketDeadline(pub Duration);

/// Installs the deadline check on every operation.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeadlineExtension;

impl ExtensionFactory for DeadlineExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Deadline)
    }
}

struct Deadline;

#[async_trait::async_trait]
impl Extension for Deadline {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let Some(SocketDeadline(limit)) = ctx.data_opt::<SocketDeadline>().copied() else {
            return next.run(ctx, operation_name).await;
        };
        match tokio::time::timeout(limit, next.run(ctx, operation_name)).await {
            Ok(response) => response,
            Err(_) => Response::from_errors(vec![timed_out()]),
        }
    }
}

/// `TIMEOUT` with `writeOutcome: UNKNOWN`, as over HTTP: an autosave runs to its end, and any
/// other write may have committed before its answer was given up.
fn timed_out() -> ServerError {
    let mut error = ServerError::new(
        "the operation took longer than the server allows and its answer was given up; a write it \
         started may still have been saved: retry with the same idempotencyKey to get its \
         result, or read the current state before writing again",
        None,
    );
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", "TIMEOUT");
    extensions.set("writeOutcome", "UNKNOWN");
    error
}
