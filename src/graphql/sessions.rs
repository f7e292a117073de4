//! Editing sessions: `popEditSessions`, a POP's change log grouped into sittings
//! ([`crate::domain::sessions`]), each with its diff and its raw entries.

use super::history::{HistoryAction, HistoryEntry};
use super::pagination::{self, CountedConnection, Cursor, CursorKey, PageArgs};
use super::scalars::DateTime;
use super::snapshot::FieldChange;
use super::user::UserObject;
use super::{actor, settings};
use crate::db::queries::{self, Page};
use crate::db::Db;
use crate::domain::pops;
use crate::domain::sessions::{self, Session};
use crate::error::AppError;
use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Json, Object, Result, SimpleObject};
use serde_json::Value;

/// A connection of editing sessions (no total: counting them means grouping the whole log).
pub type SessionConnection = Connection<Cursor, EditSession>;

/// What an editing session changed, from its start to its end.
#[derive(SimpleObject)]
pub struct EditSessionDiff {
    /// The fields (legacy column names) whose values differ between the start and the end; a field changed and changed back is not listed.
    pub changed_fields: Vec<String>,
    /// Every change, in document order. Paths are JSON Pointers into an object keyed by legacy column name, e.g. `/etapas/2/descricao`.
    pub changes: Vec<FieldChange>,
    /// An RFC 6902 JSON Patch from the session's start to its end (over the same object).
    pub patch: Json<Value>,
}

/// Consecutive writes of one person with no gap longer than the idle time; a restore, a status
/// change or a delete is a session of its own, and a milestone ends the session it closes.
pub struct EditSession {
    pop_id: i64,
    session: Session,
}

#[Object]
impl EditSession {
    /// What kind of writes: `CREATE` or `AUTOSAVE` for edits (the action of the session's first write), `RESTORE`, `STATUS` or `DELETE` for a write of its own.
    async fn action(&self) -> HistoryAction {
        self.session.action.into()
    }
    /// Who edited (`null` for the system or anonymous legacy writes).
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<UserObject>> {
        super::user::load(ctx, self.session.user_id).await
    }
    /// When the first write happened.
    async fn started_at(&self) -> DateTime {
        DateTime(self.session.started_at)
    }
    /// When the last write happened.
    async fn ended_at(&self) -> DateTime {
        DateTime(self.session.ended_at)
    }
    /// How many history entries (one per changed field per write) it groups.
    async fn entry_count(&self) -> i64 {
        self.session.entry_count
    }
    /// How many writes (autosave sequences) it groups.
    async fn write_count(&self) -> i64 {
        self.session.write_count
    }
    /// The fields it touched (legacy column names, sorted), changed back or not; the history's own entries (`snapshot`, `restore_source`) are not fields.
    async fn fields(&self) -> Vec<&str> {
        use crate::domain::transition::{RESTORED_SNAPSHOT, RESTORE_SOURCE};
        self.session
            .fields
            .keys()
            .map(String::as_str)
            .filter(|field| ![RESTORE_SOURCE, RESTORED_SNAPSHOT].contains(field))
            .collect()
    }
    /// The POP's autosave sequence after the session's first write.
    async fn first_sequence(&self) -> i32 {
        self.session.first_sequence
    }
    /// The POP's autosave sequence after the session's last write.
    async fn last_sequence(&self) -> i32 {
        self.session.last_sequence
    }
    /// What the session changed, from its start to its end.
    async fn diff(&self, ctx: &Context<'_>) -> Result<EditSessionDiff> {
        let db = ctx.data::<Db>()?;
        let diff = sessions::diff(db, self.pop_id, &self.session).await?;
        Ok(EditSessionDiff {
            changed_fields: diff.changed_fields,
            changes: diff.changes.into_iter().map(FieldChange::from).collect(),
            patch: Json(diff.patch),
        })
    }
    /// The raw history entries of the session, newest first.
    #[graphql(complexity = "pagination::cost(first, None, child_complexity)")]
    async fn entries(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "How many items from the start of the list: 0 to 100 (`BAD_USER_INPUT` outside), 20 when neither `first` nor `last` is given."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "Items after this cursor (a `cursor` or `pageInfo.endCursor` of this list)."
        )]
        after: Option<String>,
    ) -> Result<CountedConnection<HistoryEntry>> {
        let db = ctx.data::<Db>()?;
        let request = PageArgs {
            after,
            before: None,
            first,
            last: None,
        }
        .resolve()?;
        let last = self.session.last_entry_id.saturating_add(1);
        let page = Page {
            below: Some(request.page.below.map_or(last, |b| b.min(last))),
            above: Some(self.session.first_entry_id - 1),
            ..request.page
        };
        let mut pooled = db.read().await?;
        let rows = queries::list_changes(
            &mut pooled.conn(),
            self.pop_id,
            &queries::ChangeFilter::default(),
            &page,
        )
        .await?;
        Ok(request.connection(rows, self.session.entry_count, |e| e.id, HistoryEntry))
    }
}

/// Editing-session queries.
#[derive(Default)]
pub struct SessionQuery;

#[Object]
impl SessionQuery {
    /// A POP's history grouped into editing sessions, newest first. `idleMinutes` (1–1440, default `HISTORY_SESSION_IDLE_MINUTES`) is the longest gap between two saves of one session. The raw entries stay in `popHistory` and in each session's `entries`.
    #[graphql(complexity = "pagination::cost(first, None, child_complexity)")]
    async fn pop_edit_sessions(
        &self,
        ctx: &Context<'_>,
        pop_id: async_graphql::ID,
        #[graphql(desc = "Longest gap between two saves of one session, in minutes.")]
        idle_minutes: Option<i32>,
        #[graphql(
            desc = "How many items from the start of the list: 0 to 100 (`BAD_USER_INPUT` outside), 20 when neither `first` nor `last` is given."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "Items after this cursor (a `cursor` or `pageInfo.endCursor` of this list)."
        )]
        after: Option<String>,
    ) -> Result<SessionConnection> {
        let db = ctx.data::<Db>()?;
        let request = PageArgs {
            after,
            before: None,
            first,
            last: None,
        }
        .resolve()?;
        let idle = match idle_minutes {
            Some(minutes) => sessions::idle_time("idleMinutes", minutes.into())?,
            None => settings(ctx)?.session_idle,
        };
        let pop_id = pops::parse_public_id("popId", &pop_id)?;
        let pop = pops::find(db, &actor(ctx)?, pop_id)
            .await?
            .ok_or(AppError::NotFound("POP"))?;
        let size = usize::try_from(request.page.limit - 1).unwrap_or(0);
        let page = sessions::page(db, pop.meta.id, idle, request.page.below, size).await?;
        let mut connection = Connection::new(request.page.below.is_some(), page.has_more);
        connection
            .edges
            .extend(page.sessions.into_iter().map(|session| {
                Edge::new(
                    async_graphql::connection::OpaqueCursor(CursorKey::Id(session.first_entry_id)),
                    EditSession {
                        pop_id: pop.meta.id,
                        session,
                    },
                )
            }));
        Ok(connection)
    }
}
