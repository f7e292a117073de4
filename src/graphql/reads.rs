//! Where an operation reads ([`crate::db::replica`]): a query runs with its reads allowed on the
//! read replica, on behalf of its reader (and of the position the request asked to read at least,
//! [`ReadAfter`]); a mutation of a signed-in user is recorded and announced to every server
//! process when it ends, so that user's next queries read from the primary, and its answer carries
//! the primary's position after it (`MapaGov-Write-Position`). Subscriptions are left alone (they
//! read from the primary). Without a replica this extension does nothing.

use crate::auth::AuthUser;
use crate::db::replica::{self, Position, Reader};
use crate::db::Db;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{BatchResponse, Request, Response, ServerResult, Variables};
use axum::http::HeaderValue;
use std::sync::{Arc, Mutex, PoisonError};

/// The position a request asked to read at least (its `MapaGov-Read-After` header), as request
/// data.
#[derive(Debug, Clone, Copy)]
pub struct ReadAfter(pub Position);

/// The furthest `MapaGov-Write-Position` among a batch's answers, for the HTTP response.
pub fn write_position(batch: &BatchResponse) -> Option<HeaderValue> {
    let responses: &[Response] = match batch {
        BatchResponse::Single(single) => std::slice::from_ref(single),
        BatchResponse::Batch(all) => all,
    };
    let furthest = responses
        .iter()
        .filter_map(|response| response.http_headers.get(replica::WRITE_POSITION))
        .filter_map(|value| value.to_str().ok()?.parse::<Position>().ok())
        .max()?;
    HeaderValue::from_str(&furthest.to_string()).ok()
}

/// Installs the routing of reads on every operation.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadRouting;

impl ExtensionFactory for ReadRouting {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Routing::default())
    }
}

/// One request's operation: its name, then its type once parsed.
#[derive(Default)]
struct Routing {
    name: Mutex<Option<String>>,
    kind: Mutex<Option<OperationType>>,
}

#[async_trait::async_trait]
impl Extension for Routing {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        request
            .operation_name
            .clone_into(&mut self.name.lock().unwrap_or_else(PoisonError::into_inner));
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
        let name = self
            .name
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        *self.kind.lock().unwrap_or_else(PoisonError::into_inner) =
            super::guard::operation_type(&document, name.as_deref());
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let Some(db) = ctx.data_opt::<Db>().filter(|db| db.replica().is_some()) else {
            return next.run(ctx, operation_name).await;
        };
        let user = ctx.data_opt::<AuthUser>().map(|user| user.id);
        let kind = *self.kind.lock().unwrap_or_else(PoisonError::into_inner);
        match (kind, user) {
            (Some(OperationType::Query), _) => {
                let after = ctx.data_opt::<ReadAfter>().map(|after| after.0);
                replica::reading_as(Reader { user, after }, next.run(ctx, operation_name)).await
            }
            (Some(OperationType::Mutation), Some(user)) => {
                let mark = db.writing(user);
                let mut response = next.run(ctx, operation_name).await;
                let position = match mark {
                    Some(mark) => mark.done().await,
                    None => None,
                };
                if let Some(value) =
                    position.and_then(|position| HeaderValue::from_str(&position.to_string()).ok())
                {
                    response.http_headers.insert(replica::WRITE_POSITION, value);
                }
                response
            }
            _ => next.run(ctx, operation_name).await,
        }
    }
}
