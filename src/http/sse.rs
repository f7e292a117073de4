//! GraphQL over Server-Sent Events at `/graphql`: a `POST` (or a `GET` of a query or subscription
//! in the URL) whose `Accept` prefers `text/event-stream` is answered with a stream, in the
//! "distinct connections" mode of the GraphQL-over-SSE protocol that the `graphql-sse` npm client
//! speaks: one `next` event per result, then one `complete` event.
//!
//! - Authentication, limits and error codes are those of GraphQL over HTTP ([`super::graphql`]):
//!   the bearer token in `Authorization`, one operation per stream, `REQUEST_TIMEOUT` for a query
//!   or mutation (a subscription lasts as long as its client wants).
//! - A comment line every [`crate::config::LiveConfig::keepalive`] keeps idle streams open through
//!   proxies; `Cache-Control: no-cache` and `X-Accel-Buffering: no` keep caches and nginx from
//!   holding the stream (nginx would otherwise spill a slow client's events to its temp files).
//! - When the server shuts down, open streams end without `complete`: clients reconnect (through
//!   the balancer, to another instance) and resubscribe with `afterSequence`.

use super::AppState;
use crate::auth::AuthUser;
use crate::graphql::auth::ClientAddr;
use crate::graphql::deadline::SocketDeadline;
use crate::live::limits::ConnectionCount;
use async_graphql::Response as GqlResponse;
use axum::http::{header, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{stream, StreamExt};
use std::convert::Infallible;

/// Runs `request` and answers its results as an event stream; `code` gives async-graphql's own
/// errors their codes, as over HTTP.
pub fn respond(
    state: &AppState,
    request: async_graphql::Request,
    user: Option<AuthUser>,
    client: ClientAddr,
    code: fn(GqlResponse) -> GqlResponse,
) -> Response {
    let mut request = request
        .data(client)
        .data(SocketDeadline(state.http.request_timeout))
        .data(ConnectionCount::default());
    if let Some(user) = user {
        request = request.data(user);
    }
    let mut closing = state.closing.subscribe();
    let closed = async move {
        // An error means the server state is gone: end the stream then too.
        let _ = closing.wait_for(|closing| *closing).await;
    };
    let events = state
        .schema
        .execute_stream(request)
        .map(move |response| next(&code(response)))
        .chain(stream::once(async { complete() }))
        .take_until(closed)
        .map(Ok::<_, Infallible>);
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(state.live.keepalive))
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
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
