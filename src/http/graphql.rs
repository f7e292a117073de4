//! `/graphql`, GraphQL over HTTP: limits, authentication, execution, and a stable
//! `extensions.code` on every error.
//!
//! The response's media type is negotiated on `Accept` ([`negotiate`]); a client that prefers
//! `text/event-stream` gets its results as Server-Sent Events ([`super::sse`]). With
//! `application/graphql-response+json` a request error (the document does not parse or validate,
//! a variable does not coerce, a limit refuses it) is 400 without `data`; with `application/json`
//! it is 200, as the specification asks of that older type. `GET` runs queries from the URL
//! (`METHOD_NOT_ALLOWED`, 405 with `Allow: POST`, for a mutation) or serves GraphiQL to a browser.
//!
//! For a POST, in order: the body must be `application/json` (`UNSUPPORTED_MEDIA_TYPE`, 415, before it is
//! read), is read up to `MAX_BODY_BYTES` (`PAYLOAD_TOO_LARGE`), and is parsed as one request or a
//! non-empty batch, each with a `query` (`BAD_REQUEST`, `BATCH_TOO_LARGE`); the bearer token is
//! checked, and the operations run within
//! `REQUEST_TIMEOUT` (`TIMEOUT`). Each document is bounded, parsed and costed by
//! [`crate::graphql::guard`] before async-graphql sees it, and its errors carry their codes from
//! there; the few errors async-graphql raises without one (a variable of the wrong type) are coded
//! here by where they occur, never by their text.
//!
//! **One rule for authentication failures**: a request without a valid token — none, a malformed
//! `Authorization`, or a token that is unknown, revoked or expired — runs anonymously. `login`,
//! `__typename` and introspection work; every other field answers `UNAUTHENTICATED` in `errors`,
//! with its path, in a normal 200 response: a missing and a bad token get the same body. A token
//! that was sent and rejected also gets `WWW-Authenticate: Bearer error="invalid_token"`, so a
//! client knows to sign in again rather than to add a token.

use super::negotiate::{self, Format};
use super::AppState;
use crate::auth::{self, AuthUser};
use crate::error::InternalDetail;
use crate::graphql::auth::ClientAddr;
use crate::graphql::guard::{ReadOnly, METHOD_NOT_ALLOWED};
use crate::graphql::reads::{write_position, ReadAfter};
use crate::telemetry::operation::Operation;
use async_graphql::{BatchRequest, BatchResponse, Response as GqlResponse};
use axum::body::Body;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;

/// Handles one GraphQL-over-HTTP POST.
pub async fn handle(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some((format, stream)) = negotiate::choose(&headers, false).map(streamed) else {
        return not_acceptable();
    };
    if !is_json(&headers) {
        return failure(
            format,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the request as `Content-Type: application/json`",
        );
    }
    let bytes = match axum::body::to_bytes(body, state.http.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return failure(
                format,
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                &format!(
                    "the request body is over {} bytes",
                    state.http.max_body_bytes
                ),
            )
        }
    };
    let batch: BatchRequest = match serde_json::from_slice(&bytes) {
        Ok(batch) => batch,
        Err(err) => {
            return failure(
                format,
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                &format!("the body is not a GraphQL request: {err}"),
            )
        }
    };
    run(&state, peer, &headers, batch, format, stream).await
}

/// A stream's request errors are answered before it starts, as
/// `application/graphql-response+json`; the `bool` says whether results are streamed.
fn streamed(format: Format) -> (Format, bool) {
    match format {
        Format::EventStream => (Format::GraphqlResponse, true),
        other => (other, false),
    }
}

/// Handles `GET /graphql`: GraphiQL for a browser that asks for HTML (when it is on), otherwise
/// a query from the URL's `query`, `operationName`, `variables` and `extensions` (the last two as
/// JSON text). Mutations are refused with 405 and `Allow: POST`.
pub async fn handle_get(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let (format, stream) = match negotiate::choose(&headers, state.http.graphiql).map(streamed) {
        Some((Format::Html, _)) => {
            return (
                [(header::CONTENT_TYPE, Format::Html.content_type())],
                super::graphiql::page(super::GRAPHQL_PATH).0,
            )
                .into_response()
        }
        Some(chosen) => chosen,
        None => return not_acceptable(),
    };
    let request = match async_graphql::http::parse_query_string(query.as_deref().unwrap_or("")) {
        Ok(request) => request,
        Err(err) => {
            return failure(
                format,
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                &format!("the URL is not a GraphQL request: {err}"),
            )
        }
    };
    let batch = BatchRequest::Single(request.data(ReadOnly));
    run(&state, peer, &headers, batch, format, stream).await
}

/// Checks the shape of a parsed request, authenticates it, runs it within the time limit, and
/// answers in `format`, or as an event stream when `stream` ([`super::sse`]).
async fn run(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    batch: BatchRequest,
    format: Format,
    stream: bool,
) -> Response {
    if let Some(problem) = shape_problem(&batch) {
        return failure(format, StatusCode::BAD_REQUEST, "BAD_REQUEST", problem);
    }
    if let BatchRequest::Batch(requests) = &batch {
        if requests.len() > state.http.max_batch {
            return failure(
                format,
                StatusCode::BAD_REQUEST,
                "BATCH_TOO_LARGE",
                &format!("at most {} operations per batch", state.http.max_batch),
            );
        }
    }
    let (user, rejected) = match bearer(headers) {
        Bearer::Missing => (None, false),
        Bearer::Malformed => (None, true),
        Bearer::Token(token) => {
            match auth::authenticate(&state.db, token, &state.http.tokens).await {
                Ok(Some(user)) => (Some(user), false),
                Ok(None) => (None, true),
                Err(err) => {
                    let code = err.code();
                    return failure(
                        format,
                        StatusCode::SERVICE_UNAVAILABLE,
                        code,
                        &err.message(),
                    );
                }
            }
        }
    };
    let client = state.http.trusted_proxies.client(peer.ip(), headers);
    if stream {
        let BatchRequest::Single(request) = batch else {
            return failure(
                format,
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "an event stream carries one operation: send it alone, not in a batch",
            );
        };
        return super::sse::respond(state, request, user, ClientAddr(client), rejected);
    }
    let read_after = headers
        .get(crate::db::replica::READ_AFTER)
        .and_then(|value| value.to_str().ok()?.parse().ok())
        .map(ReadAfter);
    let (batch, operations) = attach(batch, user, ClientAddr(client), read_after);
    let execution = state.schema.execute_batch(batch);
    let (mut response, errors) =
        match tokio::time::timeout(state.http.request_timeout, execution).await {
            Ok(response) => {
                let response = with_codes(response);
                let errors = response_errors(&response);
                let position = write_position(&response);
                let mut answered = answer(format, response);
                if let Some(position) = position {
                    answered
                        .headers_mut()
                        .insert(crate::db::replica::WRITE_POSITION, position);
                }
                (answered, errors)
            }
            Err(_) => (
                timed_out(format),
                vec![vec![Failure::code("TIMEOUT")]; operations.len()],
            ),
        };
    if rejected {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static(INVALID_TOKEN),
        );
    }
    let labels = record(state, &operations, &errors);
    response
        .extensions_mut()
        .insert(OperationLabel(labels.join(",")));
    response
}

/// Whether a response answers a request error: one raised before execution (the document did
/// not parse or validate, a variable did not coerce, a limit refused it), which leaves no `data`.
fn is_request_error(response: &GqlResponse) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// One response as it goes on the wire: async-graphql's own fields, written straight to bytes
/// (no intermediate `serde_json::Value`), with no `data` entry for a request error.
#[derive(serde::Serialize)]
pub(super) struct WireResponse<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a async_graphql::Value>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [async_graphql::ServerError],
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    extensions: &'a std::collections::BTreeMap<String, async_graphql::Value>,
}

impl<'a> WireResponse<'a> {
    /// `response` as it goes on the wire.
    pub(super) fn of(response: &'a GqlResponse) -> Self {
        WireResponse {
            data: (!is_request_error(response)).then_some(&response.data),
            errors: &response.errors,
            extensions: &response.extensions,
        }
    }
}

/// The HTTP answer to an executed request: 405 with `Allow: POST` for a mutation sent by GET;
/// with `application/graphql-response+json`, 400 for a request error; 200 otherwise.
fn answer(format: Format, response: BatchResponse) -> Response {
    let (status, body) = match &response {
        BatchResponse::Single(single) => {
            let refused_method = single.errors.iter().any(|e| {
                e.extensions
                    .as_ref()
                    .and_then(|ext| ext.get("code"))
                    .is_some_and(|c| *c == async_graphql::Value::from(METHOD_NOT_ALLOWED))
            });
            let status = if refused_method {
                StatusCode::METHOD_NOT_ALLOWED
            } else if format == Format::GraphqlResponse && is_request_error(single) {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            (status, serde_json::to_vec(&WireResponse::of(single)))
        }
        BatchResponse::Batch(all) => (
            StatusCode::OK,
            serde_json::to_vec(&all.iter().map(WireResponse::of).collect::<Vec<_>>()),
        ),
    };
    let mut response = match body {
        Ok(bytes) => bytes_response(format, status, bytes),
        Err(err) => {
            tracing::error!(error = %err, "a response could not be serialized");
            failure(
                format,
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_SERVER_ERROR",
                "internal server error",
            )
        }
    };
    if status == StatusCode::METHOD_NOT_ALLOWED {
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
    }
    response
}

/// `WWW-Authenticate` of a response to a request whose token was rejected (RFC 6750).
pub(super) const INVALID_TOKEN: &str = r#"Bearer error="invalid_token""#;

/// The label(s) of the GraphQL operation(s) a response answered, for the request's log line.
#[derive(Debug, Clone)]
pub struct OperationLabel(pub String);

/// One error of an operation: its code and, for internal errors, the server-side detail.
#[derive(Debug, Clone)]
struct Failure {
    code: String,
    detail: Option<String>,
}

impl Failure {
    fn code(code: &str) -> Failure {
        Failure {
            code: code.to_owned(),
            detail: None,
        }
    }
}

/// The errors of each operation of a (possibly batched) response.
fn response_errors(response: &BatchResponse) -> Vec<Vec<Failure>> {
    match response {
        BatchResponse::Single(r) => vec![failures(r)],
        BatchResponse::Batch(rs) => rs.iter().map(failures).collect(),
    }
}

/// The errors of one response.
fn failures(response: &GqlResponse) -> Vec<Failure> {
    response
        .errors
        .iter()
        .map(|error| Failure {
            code: error
                .extensions
                .as_ref()
                .and_then(|ext| ext.get("code"))
                .and_then(|code| match code {
                    async_graphql::Value::String(code) => Some(code.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| "UNKNOWN".to_owned()),
            detail: error.source::<InternalDetail>().map(|d| d.0.clone()),
        })
        .collect()
}

/// Counts one operation that answered `response` outside a plain HTTP response (a query or
/// mutation sent as an event stream), as [`record`] does.
pub(super) fn record_one(state: &AppState, operation: &Arc<Operation>, response: &GqlResponse) {
    record(
        state,
        std::slice::from_ref(operation),
        &[failures(response)],
    );
}

/// Counts each operation, its latency and its errors, and reports internal errors; returns the
/// operations' labels.
fn record(state: &AppState, operations: &[Arc<Operation>], errors: &[Vec<Failure>]) -> Vec<String> {
    operations
        .iter()
        .zip(errors)
        .map(|(operation, failures)| {
            let label = state.metrics.labels.label(operation.name().as_deref());
            let elapsed = operation.elapsed().unwrap_or(state.http.request_timeout);
            state
                .metrics
                .operation(&label, elapsed, failures.iter().map(|f| f.code.as_str()));
            for failure in failures {
                if failure.code == "INTERNAL_SERVER_ERROR" {
                    let detail = failure.detail.as_deref().unwrap_or("no detail");
                    crate::telemetry::sentry::report_internal(&label, detail);
                }
            }
            label
        })
        .collect()
}

/// Whether the request says its body is JSON (`application/json`, any parameters).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// What makes a well-formed JSON body not a GraphQL request: an empty batch, or no `query`.
fn shape_problem(batch: &BatchRequest) -> Option<&'static str> {
    let requests: &[async_graphql::Request] = match batch {
        BatchRequest::Single(request) => std::slice::from_ref(request),
        BatchRequest::Batch(requests) if requests.is_empty() => {
            return Some("the batch is empty: send at least one operation")
        }
        BatchRequest::Batch(requests) => requests,
    };
    requests
        .iter()
        .any(|r| r.query.trim().is_empty())
        .then_some("every request needs a non-empty `query`")
}

enum Bearer<'a> {
    Missing,
    Malformed,
    Token(&'a str),
}

fn bearer(headers: &HeaderMap) -> Bearer<'_> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Bearer::Missing;
    };
    match value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) {
        Some(token) if !token.trim().is_empty() => Bearer::Token(token.trim()),
        _ => Bearer::Malformed,
    }
}

/// Gives every request its user, the client's address, the position it asked to read at least
/// (`MapaGov-Read-After`), and an [`Operation`] the schema extension fills in; returns the
/// operations in request order.
fn attach(
    batch: BatchRequest,
    user: Option<AuthUser>,
    addr: ClientAddr,
    read_after: Option<ReadAfter>,
) -> (BatchRequest, Vec<Arc<Operation>>) {
    let mut operations = Vec::new();
    let mut add = |request: async_graphql::Request| {
        let operation = Operation::new(request.operation_name.as_deref());
        operations.push(Arc::clone(&operation));
        let mut request = request.data(addr).data(operation);
        if let Some(read_after) = read_after {
            request = request.data(read_after);
        }
        match &user {
            Some(user) => request.data(user.clone()),
            None => request,
        }
    };
    let batch = match batch {
        BatchRequest::Single(request) => BatchRequest::Single(add(request)),
        BatchRequest::Batch(requests) => {
            BatchRequest::Batch(requests.into_iter().map(&mut add).collect())
        }
    };
    (batch, operations)
}

/// Gives every error a code: async-graphql's own errors have none.
fn with_codes(response: BatchResponse) -> BatchResponse {
    match response {
        BatchResponse::Single(r) => BatchResponse::Single(code_errors(r)),
        BatchResponse::Batch(rs) => BatchResponse::Batch(rs.into_iter().map(code_errors).collect()),
    }
}

/// Gives every error of one response a code.
pub(super) fn code_errors(mut response: GqlResponse) -> GqlResponse {
    response
        .errors
        .iter_mut()
        .for_each(crate::error::code_uncoded);
    response
}

/// A request refused before execution: no `data`, one error with its code.
fn failure(format: Format, status: StatusCode, code: &str, message: &str) -> Response {
    json_response(
        format,
        status,
        &json!({"errors": [{"message": message, "extensions": {"code": code}}]}),
    )
}

/// `TIMEOUT`: the answer was given up, but a write the request started may still complete (a
/// POP write, once started, runs to its end: see `domain::autosave`), so the outcome is
/// unknown and the client is told how to learn it.
fn timed_out(format: Format) -> Response {
    let message = "the request took longer than the server allows and its answer was given up; \
        a write it started may still have been saved: retry with the same idempotencyKey to get \
        its result, or read the current state before writing again";
    json_response(
        format,
        StatusCode::GATEWAY_TIMEOUT,
        &json!({"errors": [{"message": message,
            "extensions": {"code": "TIMEOUT", "writeOutcome": "UNKNOWN"}}]}),
    )
}

/// 406: the client accepts neither JSON type nor a stream (answered as `application/json`).
fn not_acceptable() -> Response {
    failure(
        Format::Json,
        StatusCode::NOT_ACCEPTABLE,
        "NOT_ACCEPTABLE",
        "accept `application/graphql-response+json`, `application/json` or `text/event-stream`",
    )
}

/// `body` as JSON with the `Content-Type` of `format`.
fn json_response(format: Format, status: StatusCode, body: &serde_json::Value) -> Response {
    bytes_response(format, status, body.to_string().into_bytes())
}

/// Serialized JSON with the `Content-Type` of `format`.
fn bytes_response(format: Format, status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, format.content_type())],
        body,
    )
        .into_response()
}
