//! `POST /graphql`: limits, authentication, execution, and a stable `extensions.code` on every
//! error.
//!
//! In order: the body is read up to `MAX_BODY_BYTES` (`PAYLOAD_TOO_LARGE`), parsed as one request
//! or a batch (`BAD_REQUEST`, `BATCH_TOO_LARGE`), the bearer token is checked (`UNAUTHENTICATED`
//! for a token that is not valid; no token at all is allowed, and every operation but `login`
//! then answers `UNAUTHENTICATED`), and the operations run within `REQUEST_TIMEOUT` (`TIMEOUT`).
//! Errors async-graphql raises itself (parse, validation, depth, complexity) get codes too.

use super::AppState;
use crate::auth::{self, AuthUser};
use crate::error::AppError;
use crate::graphql::auth::ClientAddr;
use async_graphql::{BatchRequest, BatchResponse, Response as GqlResponse, ServerError};
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::net::SocketAddr;

/// Handles one GraphQL-over-HTTP POST.
pub async fn handle(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bytes = match axum::body::to_bytes(body, state.http.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return failure(
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
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                &format!("the body is not a GraphQL request: {err}"),
            )
        }
    };
    if let BatchRequest::Batch(requests) = &batch {
        if requests.len() > state.http.max_batch {
            return failure(
                StatusCode::BAD_REQUEST,
                "BATCH_TOO_LARGE",
                &format!("at most {} operations per batch", state.http.max_batch),
            );
        }
    }
    let user = match bearer(&headers) {
        Bearer::Missing => None,
        Bearer::Malformed => return unauthenticated(),
        Bearer::Token(token) => match auth::authenticate(&state.db, token).await {
            Ok(Some(user)) => Some(user),
            Ok(None) => return unauthenticated(),
            Err(err) => {
                let code = err.code();
                return failure(StatusCode::SERVICE_UNAVAILABLE, code, &err.message());
            }
        },
    };
    let batch = attach(batch, user, ClientAddr(peer.ip()));
    let execution = state.schema.execute_batch(batch);
    match tokio::time::timeout(state.http.request_timeout, execution).await {
        Ok(response) => Json(with_codes(response)).into_response(),
        Err(_) => failure(
            StatusCode::GATEWAY_TIMEOUT,
            "TIMEOUT",
            "the request took too long and was cancelled; nothing it was writing was kept",
        ),
    }
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

fn attach(batch: BatchRequest, user: Option<AuthUser>, addr: ClientAddr) -> BatchRequest {
    let add = |request: async_graphql::Request| {
        let request = request.data(addr);
        match &user {
            Some(user) => request.data(user.clone()),
            None => request,
        }
    };
    match batch {
        BatchRequest::Single(request) => BatchRequest::Single(add(request)),
        BatchRequest::Batch(requests) => {
            BatchRequest::Batch(requests.into_iter().map(add).collect())
        }
    }
}

/// Gives every error a code: async-graphql's own errors have none.
fn with_codes(response: BatchResponse) -> BatchResponse {
    let fix = |mut response: GqlResponse| {
        for error in &mut response.errors {
            add_code(error);
        }
        response
    };
    match response {
        BatchResponse::Single(r) => BatchResponse::Single(fix(r)),
        BatchResponse::Batch(rs) => BatchResponse::Batch(rs.into_iter().map(fix).collect()),
    }
}

fn add_code(error: &mut ServerError) {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|ext| ext.get("code").is_some());
    if has_code {
        return;
    }
    let message = error.message.as_str();
    let code = if message.contains("nested too deep") {
        "QUERY_TOO_DEEP"
    } else if message.contains("too complex") {
        "QUERY_TOO_COMPLEX"
    } else if error.path.is_empty() && message.contains(" --> ") {
        "GRAPHQL_PARSE_FAILED"
    } else if error.path.is_empty() {
        "GRAPHQL_VALIDATION_FAILED"
    } else {
        "BAD_USER_INPUT"
    };
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
}

fn unauthenticated() -> Response {
    let err = AppError::Unauthenticated;
    let mut response = failure(
        StatusCode::UNAUTHORIZED,
        err.code(),
        "the bearer token is not valid (revoked, expired or mistyped)",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}

fn failure(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"errors": [{"message": message, "extensions": {"code": code}}]})),
    )
        .into_response()
}
