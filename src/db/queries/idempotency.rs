//! `idempotency_keys`: claiming a key inside a write's transaction, and its stored answer.

use super::*;

/// The stored request hash and response of an idempotency key.
pub async fn idempotency_record(
    conn: &mut Conn<'_>,
    key: &str,
) -> Result<Option<(String, Value)>, AppError> {
    Ok(with_backend!(conn, |c| schema::idempotency_keys::table
        .find(key)
        .select((
            schema::idempotency_keys::request_hash,
            schema::idempotency_keys::response,
        ))
        .first::<(String, Value)>(c)
        .await
        .optional())?)
}

crate::db_row! {
    /// A key claimed, its response still `null`.
    struct Claim<'a> into idempotency_keys {
        key: &'a str,
        request_hash: &'a str,
        response: &'a Value,
        created_at: DateTime<Utc>,
    }
}

/// Claims an idempotency key for the current write transaction: inserts it with the request's
/// fingerprint and an empty (`null`) response, which [`set_idempotency_response`] fills in before
/// the transaction commits. `false` when the key is already stored. On PostgreSQL an insert of a
/// key that another open transaction has claimed waits for that transaction to end (the primary
/// key settles the race), so `false` means a committed row is there to read.
pub async fn claim_idempotency(
    conn: &mut Conn<'_>,
    key: &str,
    request_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let claim = Claim {
        key,
        request_hash,
        response: &Value::Null,
        created_at: now,
    };
    let inserted = with_backend!(conn, |c| Prepared(
        diesel::insert_into(schema::idempotency_keys::table)
            .values(&claim)
            .on_conflict_do_nothing()
    )
    .execute(c)
    .await)?;
    Ok(inserted == 1)
}

/// Stores the response of a key claimed by [`claim_idempotency`] in this transaction.
pub async fn set_idempotency_response(
    conn: &mut Conn<'_>,
    key: &str,
    response: &Value,
) -> Result<(), AppError> {
    let updated = with_backend!(conn, |c| Prepared(
        diesel::update(schema::idempotency_keys::table.find(key))
            .set(schema::idempotency_keys::response.eq(response))
    )
    .execute(c)
    .await)?;
    if updated == 1 {
        Ok(())
    } else {
        Err(AppError::internal(
            "an idempotency key vanished inside its transaction",
        ))
    }
}
