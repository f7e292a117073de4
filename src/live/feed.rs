//! One subscriber's events of one POP: every sequence after the one it gave, once, in order.
//!
//! [`start`] checks the token and the POP (as a query would), subscribes to the [`Hub`] and only
//! then reads the table, so nothing committed in between is missed. A task then sends, in order:
//! the events after `afterSequence` read from `pop_events`, then the events each hint points at,
//! always reading from the last sequence delivered. Before every read, and at least every
//! `SUBSCRIPTION_RECHECK`, the token and the POP are checked again: a revoked or expired token
//! ends the subscription with `UNAUTHENTICATED`, a POP the user may no longer read with
//! `NOT_FOUND`. When the table cannot say what happened right after the last sequence delivered
//! (the POP's creation has no event; events older than a dump/load are not kept), a
//! [`Event::Resync`] gives the POP's current sequence and hash, and events follow from there.

use super::limits::{Permit, Stats};
use super::{Hint, Hub};
use crate::auth::{self, token, AuthUser};
use crate::db::events::{self, PopEvent, PAGE};
use crate::db::models::Pop;
use crate::db::Db;
use crate::domain::{pops, Actor};
use crate::error::AppError;
use chrono::Utc;
use futures_util::Stream;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// What a subscriber receives.
#[derive(Debug, Clone)]
pub enum Event {
    /// An accepted write.
    Change {
        /// The POP's public id.
        pop: uuid::Uuid,
        /// The write.
        event: PopEvent,
    },
    /// The events up to `sequence` cannot be replayed: refetch the POP; events follow from here.
    Resync {
        /// The POP's public id.
        pop: uuid::Uuid,
        /// The POP's current sequence.
        sequence: i32,
        /// The POP's current hash.
        integrity_hash: String,
    },
}

/// What a subscription asks for.
#[derive(Debug, Clone)]
pub struct Request {
    /// The POP.
    pub pop: uuid::Uuid,
    /// Replay the events after this sequence first; `None`: only what comes from now on.
    pub after_sequence: Option<i32>,
}

/// What a feed needs from the server.
#[derive(Clone)]
pub struct Context {
    /// The database.
    pub db: Db,
    /// The subscribers of this process.
    pub hub: Arc<Hub>,
    /// Token lifetimes, for the re-checks.
    pub tokens: token::Lifetime,
    /// `SUBSCRIPTION_RECHECK`: the longest time between two checks of the token and the POP.
    pub recheck: Duration,
    /// Counts the events sent.
    pub stats: Stats,
}

/// Starts a feed for `user` (see the module docs); the errors a query of the POP would give come
/// back here, before anything is sent.
pub async fn start(
    ctx: Context,
    user: AuthUser,
    request: Request,
    permit: Permit,
) -> Result<impl Stream<Item = Result<Event, AppError>>, AppError> {
    let pop = check(&ctx, &user, request.pop).await?;
    let last = match request.after_sequence {
        None => pop.meta.autosave_sequence,
        Some(after) if after < 0 || after > pop.meta.autosave_sequence => {
            return Err(AppError::bad_input(
                "afterSequence",
                format!(
                    "must be from 0 to the POP's current sequence ({})",
                    pop.meta.autosave_sequence
                ),
            ))
        }
        Some(after) => after,
    };
    // Subscribe before reading the table: a write committed from now on leaves a hint.
    let hints = ctx.hub.subscribe(pop.meta.id);
    let (sender, receiver) = mpsc::channel(16);
    let feed = Feed {
        ctx,
        user,
        pop: request.pop,
        pop_id: pop.meta.id,
        last,
        sender,
    };
    tokio::spawn(feed.run(hints, pop, permit));
    Ok(futures_util::stream::unfold(
        receiver,
        |mut receiver| async { receiver.recv().await.map(|item| (item, receiver)) },
    ))
}

/// The token's user and the POP, if both are still valid and readable.
async fn check(ctx: &Context, user: &AuthUser, pop: uuid::Uuid) -> Result<Pop, AppError> {
    let found =
        auth::user_by_digest(&ctx.db, user.token_digest.clone(), &ctx.tokens, Utc::now()).await?;
    let Some((user, _)) = found else {
        return Err(AppError::Unauthenticated);
    };
    let actor = Actor::from(&user);
    pops::find(&ctx.db, &actor, pop)
        .await?
        .ok_or(AppError::NotFound("POP"))
}

/// A database that is away (pool exhausted, connection lost) does not end a subscription: what
/// was not read is read at the next hint or re-check, from the last sequence delivered.
fn tolerate(outcome: Result<(), Stop>) -> Result<(), Stop> {
    match outcome {
        Err(Stop::Failed(err @ (AppError::Unavailable | AppError::ConnectionLost { .. }))) => {
            tracing::debug!(error = %err.message(), "a subscription will read again later");
            Ok(())
        }
        other => other,
    }
}

/// The task behind one subscription.
struct Feed {
    ctx: Context,
    user: AuthUser,
    pop: uuid::Uuid,
    pop_id: i64,
    /// The last sequence delivered (or the subscriber's starting point).
    last: i32,
    sender: mpsc::Sender<Result<Event, AppError>>,
}

/// Why a feed stops.
enum Stop {
    /// The subscriber went away.
    Gone,
    /// The subscription ends with this error.
    Failed(AppError),
}

impl Feed {
    async fn run(mut self, mut hints: super::Subscription, pop: Pop, _permit: Permit) {
        let mut recheck = tokio::time::interval(self.ctx.recheck);
        recheck.tick().await;
        let mut outcome = tolerate(self.catch_up(&pop).await);
        while outcome.is_ok() {
            outcome = tokio::select! {
                () = self.sender.closed() => Err(Stop::Gone),
                hint = hints.next() => match hint {
                    Hint::Written(sequence) if sequence <= self.last => Ok(()),
                    _ => tolerate(self.refresh().await),
                },
                _ = recheck.tick() => tolerate(self.refresh().await),
            };
        }
        if let Err(Stop::Failed(err)) = outcome {
            let _ = self.sender.send(Err(err)).await;
        }
    }

    /// Checks the token and the POP again, then sends what the table holds past `last`.
    async fn refresh(&mut self) -> Result<(), Stop> {
        let pop = check(&self.ctx, &self.user, self.pop)
            .await
            .map_err(Stop::Failed)?;
        self.catch_up(&pop).await
    }

    /// Sends the events after `last`, given `pop` as read before them; a sequence the table does
    /// not hold becomes a resync at the POP's current state.
    async fn catch_up(&mut self, pop: &Pop) -> Result<(), Stop> {
        loop {
            let page = self.read().await?;
            let gap = match page.first() {
                Some(first) => first.sequence != self.last + 1,
                // `pop` was read before the table: its sequence must be there.
                None => pop.meta.autosave_sequence > self.last,
            };
            if gap {
                // `last` moves to the POP's current sequence: the next page starts after it.
                self.resync().await?;
                continue;
            }
            let full = page.len() as i64 >= PAGE;
            for event in page {
                if event.sequence != self.last + 1 {
                    break;
                }
                self.last = event.sequence;
                self.send(Event::Change {
                    pop: self.pop,
                    event,
                })
                .await?;
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// Tells the subscriber to refetch the POP, and goes on from its current sequence.
    async fn resync(&mut self) -> Result<(), Stop> {
        let pop = check(&self.ctx, &self.user, self.pop)
            .await
            .map_err(Stop::Failed)?;
        self.last = pop.meta.autosave_sequence;
        self.send(Event::Resync {
            pop: self.pop,
            sequence: pop.meta.autosave_sequence,
            integrity_hash: pop.meta.integrity_hash,
        })
        .await
    }

    async fn read(&self) -> Result<Vec<PopEvent>, Stop> {
        let read = async {
            let mut pooled = self.ctx.db.get().await?;
            let page = events::after(&mut pooled.conn(), self.pop_id, self.last).await;
            page
        };
        read.await.map_err(Stop::Failed)
    }

    async fn send(&self, event: Event) -> Result<(), Stop> {
        self.sender.send(Ok(event)).await.map_err(|_| Stop::Gone)?;
        self.ctx.stats.events.inc();
        Ok(())
    }
}
