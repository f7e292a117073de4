//! Around every request: a request id, a panic turned into a clean 500, the HTTP metrics, and
//! exactly one log line.
//!
//! The request id is the incoming `x-request-id` when it is sane (1 to [`MAX_REQUEST_ID_LEN`]
//! characters of `[A-Za-z0-9._-]`), otherwise a new UUID; it is echoed in the response's
//! `x-request-id` and is a field of the request's span, so every log line of the request carries
//! it. The request line (target `mapagov::http`, message `request`) has `request_id`, `method`,
//! `route` (the matched route template, never the raw path), `status`, `latency_ms` and
//! `operation` (the GraphQL operation label(s), empty for other endpoints). Headers, bodies and
//! query strings are never logged.

use super::graphql::OperationLabel;
use super::AppState;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::any::Any;
use std::time::Instant;
use tracing::Instrument;

/// The request id header.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longest incoming request id that is kept.
pub const MAX_REQUEST_ID_LEN: usize = 128;
/// `route` of requests that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// The middleware: see the module documentation.
pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let request_id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_sane_request_id(id))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_owned();
    let span = tracing::info_span!("request", request_id = %request_id);
    let mut response = next.run(request).instrument(span).await;
    let status = response.status().as_u16();
    state.metrics.http_request(method.as_str(), &route, status);
    let operation = response
        .extensions()
        .get::<OperationLabel>()
        .map(|label| label.0.clone())
        .unwrap_or_default();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        target: "mapagov::http",
        request_id = %request_id,
        method = %method,
        route = %route,
        status,
        latency_ms,
        operation = %operation,
        "request"
    );
    response
}

fn is_sane_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The answer to a request whose handler panicked: `500` with the stable code
/// `INTERNAL_SERVER_ERROR` (the panic itself goes to the log and, when configured, to Sentry
/// through the panic hook).
pub fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned());
    tracing::error!(panic = %message, "a request handler panicked");
    let body = serde_json::json!({"errors": [{
        "message": "internal server error",
        "extensions": {"code": "INTERNAL_SERVER_ERROR"}
    }]});
    let mut response = (StatusCode::INTERNAL_SERVER_ERROR, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sane_request_ids_are_kept() {
        assert!(is_sane_request_id("abc-123_DEF.9"));
        assert!(!is_sane_request_id(""));
        assert!(!is_sane_request_id("has space"));
        assert!(!is_sane_request_id("new\nline"));
        assert!(!is_sane_request_id(&"a".repeat(MAX_REQUEST_ID_LEN + 1)));
    }
}
