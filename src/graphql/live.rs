//! Subscriptions: `popChanged`, the writes of one POP as they commit (see [`crate::live`]).

use super::auth_user;
use super::history::HistoryAction;
use super::scalars::DateTime;
use super::user::UserObject;
use crate::domain::pops;
use crate::live::feed::{self, Event};
use crate::live::limits::{ConnectionCount, Limits};
use async_graphql::{Context, Enum, Object, Result, Subscription, ID};
use futures_util::{Stream, StreamExt};
use std::sync::Arc;

/// What the subscription resolvers need: the feeds' context and the limits.
#[derive(Clone)]
pub struct Live {
    /// Given to every feed.
    pub feed: feed::Context,
    /// Open subscriptions per connection and per user.
    pub limits: Arc<Limits>,
}

/// What a `popChanged` event says.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum PopChangeKind {
    /// A write: the POP is now at `sequence`, one past the previous event.
    Change,
    /// The server cannot replay the writes up to `sequence` (the POP's creation has no event; events older than a restore of the database are not kept): refetch the POP. Events continue from `sequence`.
    Resync,
}

/// One event of `popChanged`.
pub struct PopChange(Event);

#[Object]
impl PopChange {
    /// A write, or a request to refetch the POP.
    async fn kind(&self) -> PopChangeKind {
        match &self.0 {
            Event::Change { .. } => PopChangeKind::Change,
            Event::Resync { .. } => PopChangeKind::Resync,
        }
    }
    /// The POP's public id.
    async fn pop_id(&self) -> ID {
        let pop = match &self.0 {
            Event::Change { pop, .. } | Event::Resync { pop, .. } => pop,
        };
        ID(pop.to_string())
    }
    /// The POP's autosave sequence after the write (`autosaveSequence` of `Pop`).
    async fn sequence(&self) -> i32 {
        match &self.0 {
            Event::Change { event, .. } => event.sequence,
            Event::Resync { sequence, .. } => *sequence,
        }
    }
    /// The POP's integrity hash after the write: the `expectedHash` of the next save.
    async fn integrity_hash(&self) -> &str {
        match &self.0 {
            Event::Change { event, .. } => &event.integrity_hash,
            Event::Resync { integrity_hash, .. } => integrity_hash,
        }
    }
    /// What kind of write (`null` for a resync).
    async fn action(&self) -> Option<HistoryAction> {
        match &self.0 {
            Event::Change { event, .. } => Some(event.action.into()),
            Event::Resync { .. } => None,
        }
    }
    /// Who wrote (`null` for a resync and for maintenance by the system).
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<UserObject>> {
        match &self.0 {
            Event::Change { event, .. } => super::user::load(ctx, event.user_id).await,
            Event::Resync { .. } => Ok(None),
        }
    }
    /// JSON Pointers into the POP's document of what the write changed: a top-level key (`/etapas`, `/status`) or a key of `area` (`/area/codigo`). Empty for a resync and for a delete (the document does not change).
    async fn changed_paths(&self) -> Vec<String> {
        match &self.0 {
            Event::Change { event, .. } => {
                serde_json::from_value(event.paths.clone()).unwrap_or_default()
            }
            Event::Resync { .. } => Vec::new(),
        }
    }
    /// When the write committed (`null` for a resync).
    async fn created_at(&self) -> Option<DateTime> {
        match &self.0 {
            Event::Change { event, .. } => Some(DateTime(event.created_at)),
            Event::Resync { .. } => None,
        }
    }
}

/// The subscriptions.
#[derive(Default)]
pub struct LiveSubscription;

#[Subscription]
impl LiveSubscription {
    /// Every accepted write of a POP (autosave, restore, status change, delete), in sequence order and without gaps, for as long as the user may read it. With `afterSequence` (the `autosaveSequence` the client last saw), the writes after it are sent first; without it, only writes from now on. When the writes after `afterSequence` cannot be replayed, the first event is a `RESYNC`. The subscription ends with `UNAUTHENTICATED` when the token is revoked or expires, and with `NOT_FOUND` when the POP stops being readable; a connection may hold `SUBSCRIPTIONS_PER_CONNECTION` subscriptions and a user `SUBSCRIPTIONS_PER_USER` (`TOO_MANY_SUBSCRIPTIONS`).
    async fn pop_changed(
        &self,
        ctx: &Context<'_>,
        pop_id: ID,
        after_sequence: Option<i32>,
    ) -> Result<impl Stream<Item = Result<PopChange>>> {
        let user = auth_user(ctx)?.clone();
        let pop = pops::parse_public_id("popId", &pop_id)?;
        let live = ctx.data::<Live>()?;
        let connection = ctx
            .data_opt::<ConnectionCount>()
            .cloned()
            .unwrap_or_default();
        let permit = live.limits.acquire(user.id, &connection)?;
        let request = feed::Request {
            pop,
            after_sequence,
        };
        let events = feed::start(live.feed.clone(), user, request, permit).await?;
        Ok(events.map(|event| event.map(PopChange).map_err(async_graphql::Error::from)))
    }
}
