//! Presence: `popEditors`, `heartbeatPop` and `leavePop` ([`crate::domain::presence`]).

use super::scalars::DateTime;
use super::user::UserObject;
use super::{actor, settings};
use crate::db::Db;
use crate::domain::{pops, presence};
use crate::error::AppError;
use async_graphql::{Context, Object, Result, ID};

/// A person who has the POP open right now.
pub struct PopEditor {
    editor: presence::Editor,
    is_me: bool,
}

#[Object]
impl PopEditor {
    /// Who.
    async fn user(&self, ctx: &Context<'_>) -> Result<UserObject> {
        super::user::load(ctx, Some(self.editor.user_id))
            .await?
            .ok_or_else(|| AppError::NotFound("user").into())
    }
    /// How many of their tabs have it open.
    async fn tabs(&self) -> i32 {
        i32::try_from(self.editor.tabs).unwrap_or(i32::MAX)
    }
    /// Their latest heartbeat.
    async fn last_seen_at(&self) -> DateTime {
        DateTime(self.editor.last_seen_at)
    }
    /// Whether this is the caller (in another tab, or this one).
    async fn is_me(&self) -> bool {
        self.is_me
    }
}

/// The editors as the caller sees them.
fn seen_by(ctx: &Context<'_>, editors: Vec<presence::Editor>) -> Result<Vec<PopEditor>> {
    let me = actor(ctx)?.user_id;
    Ok(editors
        .into_iter()
        .map(|editor| PopEditor {
            is_me: Some(editor.user_id) == me,
            editor,
        })
        .collect())
}

/// `PRESENCE_TTL` as the domain takes it.
fn ttl(ctx: &Context<'_>) -> Result<chrono::TimeDelta> {
    Ok(chrono::TimeDelta::from_std(settings(ctx)?.presence_ttl).map_err(AppError::internal)?)
}

/// Presence queries.
#[derive(Default)]
pub struct PresenceQuery;

#[Object]
impl PresenceQuery {
    /// Who has the POP open right now (the caller included, `isMe`), by their tabs' heartbeats (`heartbeatPop`); a tab silent for `PRESENCE_TTL` seconds no longer counts. The same answer from every server process. `NOT_FOUND` when the caller may not read the POP.
    async fn pop_editors(&self, ctx: &Context<'_>, pop_id: ID) -> Result<Vec<PopEditor>> {
        let db = ctx.data::<Db>()?;
        let pop_id = pops::parse_public_id("popId", &pop_id)?;
        let editors = presence::editors(db, &actor(ctx)?, pop_id, ttl(ctx)?).await?;
        seen_by(ctx, editors)
    }
}

/// Presence mutations.
#[derive(Default)]
pub struct PresenceMutation;

#[Object]
impl PresenceMutation {
    /// Says that this tab (`clientId`: any string the tab keeps, e.g. a UUID made when it opened, 1 to 100 characters) has the POP open, and answers who has it open now, as `popEditors`. Send it when the POP is opened and then every `PRESENCE_TTL`/3 seconds or so. `NOT_FOUND` when the caller may not read the POP.
    async fn heartbeat_pop(
        &self,
        ctx: &Context<'_>,
        pop_id: ID,
        client_id: String,
    ) -> Result<Vec<PopEditor>> {
        let db = ctx.data::<Db>()?;
        let pop_id = pops::parse_public_id("popId", &pop_id)?;
        let editors = presence::heartbeat(db, &actor(ctx)?, pop_id, &client_id, ttl(ctx)?).await?;
        seen_by(ctx, editors)
    }

    /// Says that this tab closed the POP: it stops counting at once instead of after `PRESENCE_TTL`. `true` if it was counted.
    async fn leave_pop(&self, ctx: &Context<'_>, pop_id: ID, client_id: String) -> Result<bool> {
        let db = ctx.data::<Db>()?;
        let pop_id = pops::parse_public_id("popId", &pop_id)?;
        Ok(presence::leave(db, &actor(ctx)?, pop_id, &client_id).await?)
    }
}
