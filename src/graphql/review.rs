//! The review queue: `reviewQueue(areaCodigo)`.

use super::actor;
use super::pop::PopObject;
use super::scalars::DateTime;
use super::user::UserObject;
use crate::db::Db;
use crate::domain::review::{self, QueueEntry};
use async_graphql::{Context, Object, Result};

/// A POP waiting for review.
pub struct QueueEntryObject(pub QueueEntry);

#[Object(name = "ReviewQueueEntry")]
impl QueueEntryObject {
    /// The POP, in review.
    async fn pop(&self) -> PopObject {
        PopObject(self.0.pop.clone())
    }
    /// When it was submitted for review (its last write, for a POP imported in review).
    async fn submitted_at(&self) -> DateTime {
        DateTime(self.0.submitted_at)
    }
    /// Who submitted it, when known.
    async fn submitted_by(&self, ctx: &Context<'_>) -> Result<Option<UserObject>> {
        super::user::load(ctx, self.0.submitted_by).await
    }
}

/// Review queries.
#[derive(Default)]
pub struct ReviewQuery;

#[Object]
impl ReviewQuery {
    /// The POPs in review of an area and its sub-areas, oldest submission first (at most 500). For staff and the area's reviewers (a reviewer of an area also reviews its sub-areas); `FORBIDDEN` for anyone else, `BAD_USER_INPUT` for an unknown area.
    async fn review_queue(
        &self,
        ctx: &Context<'_>,
        area_codigo: String,
    ) -> Result<Vec<QueueEntryObject>> {
        let actor = actor(ctx)?;
        let db = ctx.data::<Db>()?;
        let entries = review::queue(db, &actor, area_codigo.trim()).await?;
        Ok(entries.into_iter().map(QueueEntryObject).collect())
    }
}
