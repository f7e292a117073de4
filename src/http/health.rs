//! `GET /healthz`: is the process up and the database answering?

use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use std::time::Duration;

/// How long the health check waits for the database.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// `200 {"status":"ok","database":"ok"}` while `SELECT 1` answers, else
/// `503 {"status":"degraded","database":"unavailable"}`.
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match tokio::time::timeout(PING_TIMEOUT, state.db.ping()).await {
        Ok(Ok(())) => (
            StatusCode::OK,
            Json(json!({"status": "ok", "database": "ok"})),
        ),
        Ok(Err(err)) => {
            tracing::warn!(error = %err.message(), "health check: database unavailable");
            degraded()
        }
        Err(_) => {
            tracing::warn!("health check: database did not answer in time");
            degraded()
        }
    }
}

fn degraded() -> (StatusCode, Json<Value>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"status": "degraded", "database": "unavailable"})),
    )
}
