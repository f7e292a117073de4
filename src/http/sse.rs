//! GraphQL over Server-Sent Events at `/graphql`: a `POST` (or a `GET` of a query or subscription
//! in the URL; never a mutation) whose `Accept` prefers `text/event-stream` is answered with a stream, in the
//! "distinct connections" mode of the GraphQL-over-SSE protocol that the `graphql-sse` npm client
//! speaks: one `next` event per result, then one `complete` event.
//!
//! - Authentication, limits and error codes are those of GraphQL over HTTP ([`super::graphql`]):
//!   the bearer token in `Authorization`, one operation per stream, `REQUEST_TIMEOUT` for a query
//!   or mutation (a subscription lasts as long as its client wants).
//! - A comment line every [`crate::config::LiveConfig::keepalive`] keeps idle streams open through
//!   proxies; `Cache-Control: no-cache` and `X-Accel-Buffering: no` keep caches and nginx from
//!   holding the stream (nginx would otherwise spill a slow client's events to its temp files).
//! - When the server shuts down, open subscriptions end without `complete`: clients reconnect
//!   (through the balancer, to another instance) and resubscribe with `afterSequence`. A query or
//!   mutation runs to its answer first, as every request the server accepted does.
//! - A query or mutation is counted in the operation metrics, as over HTTP; a subscription is
//!   counted by the live metrics (`mapagov_subscriptions_open`).

use super::graphql::{self as http_graphql, OperationLabel, INVALID_TOKEN};
use super::AppState;
use crate::auth::AuthUser;
use crate::graphql::auth::ClientAddr;
use crate::graphql::deadline::SocketDeadline;
use crate::graphql::guard;
use crate::live::limits::ConnectionCount;
use crate::telemetry::operation::Operation;
use async_graphql::Response as GqlResponse;
use axum::http::{header, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{stream, StreamExt};
use std::convert::Infallible;
use std::sync::Arc;

/// Runs `request` and answers its results as an event stream; `rejected` says a token was sent
/// and refused (the answer then carries `WWW-Authenticate`, as over HTTP).
pub fn respond(
    state: &AppState,
    request: async_graphql::Request,
    user: Option<AuthUser>,
    client: ClientAddr,
    rejected: bool,
) -> Response {
    let subscription = guard::is_subscription(&request.query, request.operation_name.as_deref());
    let label = state
        .metrics
        .labels
        .label(request.operation_name.as_deref());
    let mut request = request
        .data(client)
        .data(SocketDeadline(state.http.request_timeout))
        .data(ConnectionCount::default());
    if let Some(user) = user {
        request = request.data(user);
    }
    // A query or mutation is one result, counted as over HTTP; a subscription lasts as long as
    // its client wants, and the live metrics count it instead.
    let operation = (!subscription).then(|| Operation::new(request.operation_name.as_deref()));
    if let Some(operation) = &operation {
        request = request.data(Arc::clone(operation));
    }
    let recorder = state.clone();
    let results = state
        .schema
        .execute_stream(request)
        .map(move |response| {
            let response = http_graphql::code_errors(response);
            if let Some(operation) = &operation {
                http_graphql::record_one(&recorder, operation, &response);
            }
            next(&response)
        })
        .chain(stream::once(async { complete() }));
    // On shutdown a subscription's stream ends (without `complete`: the client reconnects,
    // elsewhere); a query or mutation runs to its answer, as every accepted request does.
    let events = if subscription {
        let mut closing = state.closing.subscribe();
        let closed = async move {
            // An error means the server state is gone: end the stream then too.
            let _ = closing.wait_for(|closing| *closing).await;
        };
        results.take_until(closed).boxed()
    } else {
        results.boxed()
    };
    let mut response = Sse::new(events.map(Ok::<_, Infallible>))
        .keep_alive(KeepAlive::new().interval(state.live.keepalive))
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    if rejected {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(INVALID_TOKEN),
        );
    }
    response.extensions_mut().insert(OperationLabel(label));
    response
}

/// A `next` event holding one result, serialized as over HTTP.
fn next(response: &GqlResponse) -> Event {
    let event = Event::default().event("next");
    match event
        .clone()
        .json_data(super::graphql::WireResponse::of(response))
    {
        Ok(event) => event,
        Err(err) => {
            tracing::error!(error = %err, "a streamed result could not be serialized");
            event.data(
                r#"{"errors":[{"message":"internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#,
            )
        }
    }
}

/// The `complete` event: no more results.
fn complete() -> Event {
    Event::default().event("complete").data("")
}
