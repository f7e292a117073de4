//! Idempotency keys: the same key and request always get the first result, whether the retry
//! arrives before, during or after the original, on either backend and from any server process.
//!
//! A write with a key claims it inside its transaction ([`claim`]), after it has taken the lock of
//! what it writes (the POP's row, or the session's lock for a first autosave) and before any rule
//! that depends on the current state (the `expectedHash` check above all): it inserts the key with
//! the request's fingerprint and an empty response, and fills the response in ([`record`]) before
//! it commits. The table's primary key settles every race, even where there is no POP row to lock
//! yet (`createPop`):
//!
//! - PostgreSQL: an insert of a key another open transaction has claimed waits until that
//!   transaction ends; then the key is either committed (read it and answer as it did) or gone
//!   (rolled back: this request claims it).
//! - SQLite: writers are serialized by `BEGIN IMMEDIATE`, so a claimed key is always committed.
//!
//! So a retry never sees its own write as someone else's: it gets the first result, or
//! `IDEMPOTENCY_KEY_REUSED` if the key came with a different request. [`lookup`] answers a retry
//! of a finished write before any transaction starts (no lock is taken for it).

use crate::db::queries;
use crate::db::{Conn, Db};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// How many times [`claim`] tries again when a key it found taken is gone when read (retention
/// deleted it in between).
const CLAIM_ATTEMPTS: usize = 3;

/// The stored response of `key` if it was recorded for the request with `fingerprint`;
/// `IDEMPOTENCY_KEY_REUSED` if it was recorded for another request; `None` if it is unknown.
pub async fn lookup(db: &Db, key: &str, fingerprint: &str) -> Result<Option<Value>, AppError> {
    let mut pooled = db.get().await?;
    read(&mut pooled.conn(), key, fingerprint).await
}

/// Claims `key` for the current write transaction: `None` when it is this request's to record
/// (with [`record`] before the transaction commits), or the first result's stored response (see
/// the module docs). `IDEMPOTENCY_KEY_REUSED` when the key belongs to another request.
pub async fn claim(
    conn: &mut Conn<'_>,
    key: &str,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> Result<Option<Value>, AppError> {
    for _ in 0..CLAIM_ATTEMPTS {
        if queries::claim_idempotency(conn, key, fingerprint, now).await? {
            return Ok(None);
        }
        if let Some(response) = read(conn, key, fingerprint).await? {
            return Ok(Some(response));
        }
    }
    Err(AppError::internal(
        "an idempotency key kept disappearing while it was claimed",
    ))
}

/// Stores the response of a key this transaction claimed.
pub async fn record(conn: &mut Conn<'_>, key: &str, response: &Value) -> Result<(), AppError> {
    queries::set_idempotency_response(conn, key, response).await
}

async fn read(
    conn: &mut Conn<'_>,
    key: &str,
    fingerprint: &str,
) -> Result<Option<Value>, AppError> {
    let Some((stored, response)) = queries::idempotency_record(conn, key).await? else {
        return Ok(None);
    };
    if stored != fingerprint {
        return Err(AppError::IdempotencyKeyReused);
    }
    if response.is_null() {
        // Only a transaction that has claimed the key sees it without a response.
        return Err(AppError::internal(
            "an idempotency key was read before its response",
        ));
    }
    Ok(Some(response))
}
