//! `GET /healthz` (is the process alive?) and `GET /readyz` (should this instance get traffic?).
//!
//! Liveness never touches the database: a server whose pool is busy, or whose database is down,
//! is not helped by a restart, and an orchestrator that restarts it on a failed liveness probe
//! would turn a busy moment into an outage. Everything about the database is in `/readyz`.

use super::AppState;
use crate::db::migrate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use std::time::Duration;

/// How long a health check waits for the database.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// `200 {"status":"ok"}` whenever the process can answer HTTP at all.
pub async fn healthz() -> (StatusCode, Json<Value>) {
    (StatusCode::OK, Json(json!({"status": "ok"})))
}

/// `200` when every check passes, else `503`; the body names each check with its `status`
/// (`ok` or `fail`) and a `detail`:
///
/// ```json
/// {"status": "ready", "checks": {
///   "database":   {"status": "ok", "detail": "SELECT 1 answered"},
///   "migrations": {"status": "ok", "detail": "12 applied, none pending"},
///   "pool":       {"status": "ok", "detail": "2 of 10 connections open, 1 in use"},
///   "storage":    {"status": "ok", "detail": "52428800 bytes free"}}}
/// ```
///
/// - `database`: `SELECT 1` answers within two seconds.
/// - `migrations`: every migration embedded in this binary is applied (read on a connection of
///   its own, so it answers even when the pool is exhausted).
/// - `pool`: not every connection the pool may open is in use.
/// - `storage`: the last write did not fail for lack of space (see
///   [`crate::db::fault::StorageWatch`]; on SQLite the detail gives the free space).
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (database, migrations) = tokio::join!(database(&state), migrations(&state));
    let checks = [
        (
            "database",
            database.map(|()| "SELECT 1 answered".to_owned()),
        ),
        ("migrations", migrations),
        ("pool", pool(&state)),
        ("storage", state.db.storage_check()),
    ];
    let ready = checks.iter().all(|(_, result)| result.is_ok());
    let checks: serde_json::Map<String, Value> = checks
        .into_iter()
        .map(|(name, result)| {
            let check = match result {
                Ok(detail) => json!({"status": "ok", "detail": detail}),
                Err(detail) => json!({"status": "fail", "detail": detail}),
            };
            (name.to_owned(), check)
        })
        .collect();
    let (status, word) = if ready {
        (StatusCode::OK, "ready")
    } else {
        let failed: Vec<&String> = checks
            .iter()
            .filter(|(_, c)| c["status"] == "fail")
            .map(|(name, _)| name)
            .collect();
        tracing::warn!(failed = ?failed, "readiness check failed");
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    (status, Json(json!({"status": word, "checks": checks})))
}

async fn database(state: &AppState) -> Result<(), String> {
    match tokio::time::timeout(PING_TIMEOUT, state.db.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(format!("database error: {}", err.code())),
        Err(_) => Err(format!(
            "the database did not answer within {}s",
            PING_TIMEOUT.as_secs()
        )),
    }
}

async fn migrations(state: &AppState) -> Result<String, String> {
    match tokio::time::timeout(PING_TIMEOUT, migrate::status(&state.database)).await {
        Ok(Ok(status)) if status.pending.is_empty() => {
            Ok(format!("{} applied, none pending", status.applied.len()))
        }
        Ok(Ok(status)) => Err(format!("pending: {}", status.pending.join(", "))),
        Ok(Err(err)) => Err(format!("could not read the migrations: {}", err.code())),
        Err(_) => Err(format!(
            "the migrations could not be read within {}s",
            PING_TIMEOUT.as_secs()
        )),
    }
}

fn pool(state: &AppState) -> Result<String, String> {
    let pool = state.db.pool_state();
    let in_use = pool.connections.saturating_sub(pool.idle);
    let detail = format!(
        "{} of {} connections open, {in_use} in use",
        pool.connections, pool.max_size
    );
    if in_use >= pool.max_size {
        Err(format!("exhausted: {detail}"))
    } else {
        Ok(detail)
    }
}
