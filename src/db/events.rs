//! The `pop_events` table: one row per accepted write of a POP, and how other server processes
//! learn that a POP has new rows.
//!
//! [`record`] runs inside the write's transaction (from `domain::transition::apply`): it inserts
//! the row and keeps `(POP, sequence)` in a task-local list that [`super::Db::write`] takes
//! ([`recording`]) once the transaction has committed. On PostgreSQL it then sends
//! `NOTIFY mapagov_pop_events, '<pop id>:<sequence>'` ([`announce`]) after the `COMMIT`, on the
//! same connection, to every process listening ([`crate::live::listener`]); on SQLite it hands the
//! pairs to the in-process [`crate::live::Hub`]. The payload holds ids only: listeners read the
//! rows.
//!
//! Why after the commit and not in the transaction: PostgreSQL serializes the commits of all
//! transactions that `NOTIFY` (they hold one database-wide lock from before their commit record
//! until it is flushed), so with `fsync` on every write would wait for the flush of every other
//! write's commit, one at a time, instead of sharing a flush with them. A notification sent alone
//! writes no WAL of its own and is not flushed, so it holds that lock for microseconds. The cost
//! is a gap: a process that dies between its `COMMIT` and its `NOTIFY` announces nothing, and
//! subscribers elsewhere read that event at their next hint or re-check (`SUBSCRIPTION_RECHECK`).

use super::Conn;
use crate::domain::ChangeAction;
use crate::error::AppError;
use crate::with_backend;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use std::cell::RefCell;

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "mapagov_pop_events";

/// Most rows one read returns (a subscriber far behind reads in pages).
pub const PAGE: i64 = 200;

tokio::task_local! {
    /// `(pop id, sequence)` of the events recorded by the write transaction running in this task,
    /// announced by [`super::Db::write`] once it has committed.
    static RECORDED: RefCell<Vec<(i64, i32)>>;
}

/// Runs `transaction` (a write transaction through its `COMMIT` or rollback) and returns its
/// outcome with the `(pop id, sequence)` of the events it recorded.
pub async fn recording<T>(
    transaction: impl std::future::Future<Output = T>,
) -> (T, Vec<(i64, i32)>) {
    RECORDED
        .scope(RefCell::default(), async {
            let outcome = transaction.await;
            (outcome, RECORDED.with(RefCell::take))
        })
        .await
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

/// Records `event`, to be announced once its transaction commits (see the module docs). Call
/// inside the write transaction.
pub async fn record(conn: &mut Conn<'_>, event: &NewEvent<'_>) -> Result<(), AppError> {
    with_backend!(conn, |c| diesel::insert_into(schema::pop_events::table)
        .values(event)
        .execute(c)
        .await)?;
    // Outside `Db::write` (never in the server) nobody announces it: a subscriber reads it at its
    // next hint or re-check.
    let _ = RECORDED.try_with(|list| {
        list.borrow_mut().push((event.pop_id, event.sequence));
    });
    Ok(())
}

/// Sends one `NOTIFY` per recorded event, in one statement, outside any transaction (after the
/// `COMMIT` of the write that recorded them).
pub async fn announce(
    conn: &mut AsyncPgConnection,
    recorded: &[(i64, i32)],
) -> Result<(), AppError> {
    use diesel::sql_types::{Array, Text};
    let payloads: Vec<String> = recorded
        .iter()
        .map(|(pop_id, sequence)| format!("{pop_id}:{sequence}"))
        .collect();
    super::prepared::Prepared(
        diesel::sql_query("SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload")
            .bind::<Text, _>(CHANNEL)
            .bind::<Array<Text>, _>(payloads),
    )
    .execute(conn)
    .await?;
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

/// Reads a NOTIFY payload back (`<pop id>:<sequence>`, as [`announce`] writes it); `None` if it is
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
