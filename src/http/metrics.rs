//! `GET /metrics`: the Prometheus text exposition of [`crate::telemetry::metrics::Metrics`].

use super::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// Content type of the Prometheus text format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders every metric; PostgreSQL's `pg_stat_activity` is read now, with a short timeout.
pub async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics.render().await {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(_) => {
            tracing::error!("metrics: could not encode");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
