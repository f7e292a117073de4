//! The `pop_events` table: one row per accepted write of a POP, and how other server processes
//! learn that a POP has new rows.
//!
//! [`record`] runs inside the write's transaction (from `domain::transition::apply`). On
//! PostgreSQL it also sends `NOTIFY mapagov_pop_events, '<pop id>:<sequence>'` in that
//! transaction, so the notification is delivered exactly when (and only if) the write commits,
//! to every process listening ([`crate::live::listener`]); the payload holds ids only, listeners
//! read the rows. On SQLite the pair is kept in [`COMMITTED`], a task-local list that
//! [`super::Db::write`] hands to the in-process [`crate::live::Hub`] after the commit.

use super::Conn;
use crate::domain::ChangeAction;
use crate::error::AppError;
use crate::with_backend;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;
use std::cell::RefCell;

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "mapagov_pop_events";

/// Most rows one read returns (a subscriber far behind reads in pages).
pub const PAGE: i64 = 200;

tokio::task_local! {
    /// `(pop id, sequence)` of the events recorded by the SQLite write transaction running in
    /// this task, published by [`super::Db::write`] once it has committed.
    pub static COMMITTED: RefCell<Vec<(i64, i32)>>;
}

crate::db_row! {
    /// One accepted write of a POP.
    #[derive(Debug, Clone, PartialEq)]
    pub struct PopEvent in pop_events {
        /// Row id.
        pub id: i64,
        /// The POP (internal id).
        pub pop_id: i64,
        /// The POP's autosave sequence after the write.
        pub sequence: i32,
        /// The POP's integrity hash after the write.
        pub integrity_hash: String,
        /// Who wrote (`None`: the system).
        pub user_id: Option<i64>,
        /// The change-log action (`autosave`, `restore`, `status`, `delete`).
        pub action: ChangeAction,
        /// JSON Pointers into the POP's document of what changed (a JSON array of strings).
        pub paths: Value,
        /// When.
        pub created_at: DateTime<Utc>,
    }
}

crate::db_row! {
    /// An event to record.
    #[derive(Debug)]
    pub struct NewEvent<'a> into pop_events {
        /// The POP (internal id).
        pub pop_id: i64,
        /// Its sequence after the write.
        pub sequence: i32,
        /// Its hash after the write.
        pub integrity_hash: &'a str,
        /// Who wrote.
        pub user_id: Option<i64>,
        /// The change-log action.
        pub action: ChangeAction,
        /// JSON Pointers of what changed (a JSON array of strings).
        pub paths: Value,
        /// When.
        pub created_at: DateTime<Utc>,
    }
}

/// Records `event` and announces it (see the module docs). Call inside the write transaction.
///
/// On PostgreSQL the row and its notification are one statement (the `INSERT` in a CTE whose
/// result feeds `pg_notify`), so announcing costs no extra round trip; diesel has no CTEs, so that
/// statement is the one insert of the table written as SQL.
pub async fn record(conn: &mut Conn<'_>, event: &NewEvent<'_>) -> Result<(), AppError> {
    match conn {
        Conn::Pg(c) => {
            use diesel::sql_types::{BigInt, Integer, Jsonb, Nullable, Text, Timestamptz};
            diesel::sql_query(
                "WITH event AS (INSERT INTO pop_events \
                   (pop_id, sequence, integrity_hash, user_id, action, paths, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING pop_id, sequence) \
                 SELECT pg_notify($8, event.pop_id || ':' || event.sequence) FROM event",
            )
            .bind::<BigInt, _>(event.pop_id)
            .bind::<Integer, _>(event.sequence)
            .bind::<Text, _>(event.integrity_hash)
            .bind::<Nullable<BigInt>, _>(event.user_id)
            .bind::<Text, _>(event.action)
            .bind::<Jsonb, _>(&event.paths)
            .bind::<Timestamptz, _>(event.created_at)
            .bind::<Text, _>(CHANNEL)
            .execute(&mut **c)
            .await?;
        }
        Conn::Sqlite(_) => {
            with_backend!(conn, |c| diesel::insert_into(schema::pop_events::table)
                .values(event)
                .execute(c)
                .await)?;
            // Outside `Db::write` (never in the server) nobody in this process listens.
            let _ = COMMITTED.try_with(|list| {
                list.borrow_mut().push((event.pop_id, event.sequence));
            });
        }
    }
    Ok(())
}

/// The events of POP `pop_id` after sequence `after`, in sequence order, at most [`PAGE`].
pub async fn after(
    conn: &mut Conn<'_>,
    pop_id: i64,
    after: i32,
) -> Result<Vec<PopEvent>, AppError> {
    Ok(with_backend!(conn, |c| schema::pop_events::table
        .filter(schema::pop_events::pop_id.eq(pop_id))
        .filter(schema::pop_events::sequence.gt(after))
        .order(schema::pop_events::sequence)
        .limit(PAGE)
        .select(PopEvent::as_select())
        .load::<PopEvent>(c)
        .await)?)
}

/// Reads a NOTIFY payload back (`<pop id>:<sequence>`, as [`record`] writes it); `None` if it is
/// not one of ours.
pub fn parse_payload(raw: &str) -> Option<(i64, i32)> {
    let (pop, sequence) = raw.split_once(':')?;
    Some((pop.parse().ok()?, sequence.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_strangers_are_ignored() {
        assert_eq!(parse_payload("42:7"), Some((42, 7)));
        assert_eq!(parse_payload("42"), None);
        assert_eq!(parse_payload("x:1"), None);
    }
}
