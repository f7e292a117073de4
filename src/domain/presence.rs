//! Presence: who else has a POP open right now, so a front end can warn instead of lock.
//!
//! Each browser tab with a POP open sends a heartbeat ([`heartbeat`]) every few seconds, under a
//! `clientId` of its own, and says when it leaves ([`leave`]). A tab that goes away without
//! saying so (closed, crashed, offline) stops counting when its last heartbeat is older than the
//! time to live (`PRESENCE_TTL`). The rows live in the database, so every server process behind a
//! balancer sees the same people. Only those who may read the POP may send or see heartbeats.

use super::Actor;
use crate::db::presence::{self, Presence};
use crate::db::{queries, Conn, Db};
use crate::error::AppError;
use chrono::{DateTime, TimeDelta, Utc};
use scoped_futures::ScopedFutureExt;

/// Longest `clientId`.
pub const MAX_CLIENT_ID: usize = 100;

/// One person with the POP open.
#[derive(Debug, Clone, PartialEq)]
pub struct Editor {
    /// The person.
    pub user_id: i64,
    /// How many of their tabs have it open.
    pub tabs: usize,
    /// Their latest heartbeat.
    pub last_seen_at: DateTime<Utc>,
}

/// Records a heartbeat of the actor's tab `client_id` on POP `pop` and answers who has it open
/// now (the actor included). `NOT_FOUND` when the actor may not read the POP.
pub async fn heartbeat(
    db: &Db,
    actor: &Actor,
    pop: uuid::Uuid,
    client_id: &str,
    ttl: TimeDelta,
) -> Result<Vec<Editor>, AppError> {
    let user_id = actor.user_id.ok_or(AppError::Unauthenticated)?;
    let client_id = checked(client_id)?;
    db.write(|mut conn| {
        async move {
            let pop_id = readable(&mut conn, actor, pop).await?;
            let now = Utc::now();
            presence::expire(&mut conn, pop_id, now - ttl).await?;
            presence::touch(&mut conn, pop_id, user_id, client_id, now).await?;
            Ok(editors_of(
                presence::open_tabs(&mut conn, pop_id, now - ttl).await?,
            ))
        }
        .scope_boxed()
    })
    .await
}

/// Forgets the actor's tab `client_id` on POP `pop`; whether it was open.
pub async fn leave(
    db: &Db,
    actor: &Actor,
    pop: uuid::Uuid,
    client_id: &str,
) -> Result<bool, AppError> {
    let user_id = actor.user_id.ok_or(AppError::Unauthenticated)?;
    let client_id = checked(client_id)?;
    db.write(|mut conn| {
        async move {
            let pop_id = readable(&mut conn, actor, pop).await?;
            presence::leave(&mut conn, pop_id, user_id, client_id).await
        }
        .scope_boxed()
    })
    .await
}

/// Who has POP `pop` open now. `NOT_FOUND` when the actor may not read the POP.
pub async fn editors(
    db: &Db,
    actor: &Actor,
    pop: uuid::Uuid,
    ttl: TimeDelta,
) -> Result<Vec<Editor>, AppError> {
    let mut pooled = db.read().await?;
    let mut conn = pooled.conn();
    let pop_id = readable(&mut conn, actor, pop).await?;
    let tabs = presence::open_tabs(&mut conn, pop_id, Utc::now() - ttl).await?;
    Ok(editors_of(tabs))
}

/// The client id, trimmed; `BAD_USER_INPUT` when empty or too long.
fn checked(client_id: &str) -> Result<&str, AppError> {
    let trimmed = client_id.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_CLIENT_ID {
        return Err(AppError::bad_input(
            "clientId",
            format!("must be 1 to {MAX_CLIENT_ID} characters"),
        ));
    }
    Ok(trimmed)
}

/// The POP's key if the actor may read it, else `NOT_FOUND` (as if it did not exist); its
/// documents are not read.
async fn readable(conn: &mut Conn<'_>, actor: &Actor, pop: uuid::Uuid) -> Result<i64, AppError> {
    queries::pop_ownership_by_uuid(conn, pop)
        .await?
        .filter(|pop| actor.can_read(pop))
        .map(|pop| pop.id)
        .ok_or(AppError::NotFound("POP"))
}

/// Open tabs (sorted by person) grouped by person.
fn editors_of(tabs: Vec<Presence>) -> Vec<Editor> {
    let mut editors: Vec<Editor> = Vec::new();
    for tab in tabs {
        match editors.last_mut() {
            Some(editor) if editor.user_id == tab.user_id => {
                editor.tabs += 1;
                editor.last_seen_at = editor.last_seen_at.max(tab.seen_at);
            }
            _ => editors.push(Editor {
                user_id: tab.user_id,
                tabs: 1,
                last_seen_at: tab.seen_at,
            }),
        }
    }
    editors
}
