//! The `pop_presence` table: who has a POP open right now, one row per person and browser tab,
//! refreshed by heartbeats ([`touch`]) and forgotten when the tab leaves ([`leave`]) or stops
//! beating ([`expire`]). Every server process shares the rows, so presence holds across
//! instances.

use super::Conn;
use crate::error::AppError;
use crate::with_backend;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

crate::db_row! {
    /// One open tab of a POP.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Presence from pop_presence {
        /// The person.
        pub user_id: i64,
        /// The tab (a string the client chose).
        pub client_id: String,
        /// Its last heartbeat.
        pub seen_at: DateTime<Utc>,
    }
}

crate::db_row! {
    /// A heartbeat to record.
    struct Heartbeat<'a> into pop_presence {
        pop_id: i64,
        user_id: i64,
        client_id: &'a str,
        seen_at: DateTime<Utc>,
    }
}

/// Records a heartbeat of `client_id` of `user_id` on POP `pop_id` at `now`.
pub async fn touch(
    conn: &mut Conn<'_>,
    pop_id: i64,
    user_id: i64,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let beat = Heartbeat {
        pop_id,
        user_id,
        client_id,
        seen_at: now,
    };
    with_backend!(conn, |c| diesel::insert_into(schema::pop_presence::table)
        .values(&beat)
        .on_conflict((
            schema::pop_presence::pop_id,
            schema::pop_presence::user_id,
            schema::pop_presence::client_id,
        ))
        .do_update()
        .set(schema::pop_presence::seen_at.eq(now))
        .execute(c)
        .await)?;
    Ok(())
}

/// Forgets `client_id` of `user_id` on POP `pop_id`; whether it was there.
pub async fn leave(
    conn: &mut Conn<'_>,
    pop_id: i64,
    user_id: i64,
    client_id: &str,
) -> Result<bool, AppError> {
    let removed = with_backend!(conn, |c| diesel::delete(
        schema::pop_presence::table
            .filter(schema::pop_presence::pop_id.eq(pop_id))
            .filter(schema::pop_presence::user_id.eq(user_id))
            .filter(schema::pop_presence::client_id.eq(client_id))
    )
    .execute(c)
    .await)?;
    Ok(removed > 0)
}

/// Forgets the tabs of POP `pop_id` whose last heartbeat is before `before`.
pub async fn expire(
    conn: &mut Conn<'_>,
    pop_id: i64,
    before: DateTime<Utc>,
) -> Result<(), AppError> {
    with_backend!(conn, |c| diesel::delete(
        schema::pop_presence::table
            .filter(schema::pop_presence::pop_id.eq(pop_id))
            .filter(schema::pop_presence::seen_at.lt(before))
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// The tabs of POP `pop_id` that beat at `since` or later, by person then tab.
pub async fn open_tabs(
    conn: &mut Conn<'_>,
    pop_id: i64,
    since: DateTime<Utc>,
) -> Result<Vec<Presence>, AppError> {
    Ok(with_backend!(conn, |c| schema::pop_presence::table
        .filter(schema::pop_presence::pop_id.eq(pop_id))
        .filter(schema::pop_presence::seen_at.ge(since))
        .order((
            schema::pop_presence::user_id,
            schema::pop_presence::client_id,
        ))
        .select(Presence::as_select())
        .load::<Presence>(c)
        .await)?)
}
