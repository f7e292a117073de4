//! A POP's history: its change log, newest first.

use super::actor;
use super::pagination::{CountedConnection, PageArgs};
use super::scalars::DateTime;
use super::user::UserObject;
use crate::db::models::ChangeLogEntry;
use crate::db::queries::ChangeFilter;
use crate::db::Db;
use crate::domain::{pops, transition};
use crate::error::AppError;
use async_graphql::{Context, Enum, Json, Object, Result, ID};
use serde_json::Value;
use std::borrow::Cow;

/// What kind of write a history entry records.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::ChangeAction")]
pub enum HistoryAction {
    /// The first autosave, which created the POP.
    Create,
    /// An autosave.
    Autosave,
    /// A snapshot restored.
    Restore,
    /// A status change.
    Status,
    /// A soft delete.
    Delete,
    /// Imported from the legacy system.
    Import,
}

/// One changed field of one write.
pub struct HistoryEntry(pub ChangeLogEntry);

/// A logged value as clients see it: the log stores a restored snapshot's row number, clients
/// get its global id, as in `HistoryEntry.snapshotId` and `Snapshot.id`.
fn client_value<'v>(field: &str, value: &'v Value) -> Cow<'v, Value> {
    let global = |number: &Value| {
        let number = match number {
            Value::String(text) => text.parse::<i64>().ok(),
            other => other.as_i64(),
        }?;
        Some(Value::String(
            super::node::GlobalId::Snapshot(number).encode().0,
        ))
    };
    match field {
        transition::RESTORED_SNAPSHOT => global(value).map_or(Cow::Borrowed(value), Cow::Owned),
        transition::RESTORE_SOURCE => match value.get("snapshotId").and_then(global) {
            Some(id) => {
                let mut value = value.clone();
                value["snapshotId"] = id;
                Cow::Owned(value)
            }
            None => Cow::Borrowed(value),
        },
        _ => Cow::Borrowed(value),
    }
}

#[Object]
impl HistoryEntry {
    /// Global id (opaque; see `Node`).
    pub(crate) async fn id(&self) -> ID {
        super::node::GlobalId::HistoryEntry(self.0.id).encode()
    }
    /// What kind of write.
    async fn action(&self) -> HistoryAction {
        self.0.action.into()
    }
    /// The field, by its legacy column name (`etapas`, `pontos_atencao`, `status`…).
    async fn field(&self) -> &str {
        &self.0.field_name
    }
    /// The `Pop` field `field` is, by its GraphQL name (`pontosAtencao` for `pontos_atencao`, `sistemas` for `sistemas_utilizados`); `null` for the history's own entries (`snapshot`, `restore_source`).
    async fn content_field(&self) -> Option<&'static str> {
        super::content::graphql_name(&self.0.field_name)
    }
    /// The value before.
    async fn old_value(&self) -> Option<Json<&Value>> {
        self.0.old_value.as_ref().map(Json)
    }
    /// The value after. The pseudo-fields of restores name their snapshot by its global id: `snapshot` (a restore that changed nothing) holds the id, `restore_source` (a `restorePaths`) holds `{snapshotId, paths}` or `{sequence, paths}`.
    async fn new_value(&self) -> Option<Json<Cow<'_, Value>>> {
        let value = self.0.new_value.as_ref()?;
        Some(Json(client_value(&self.0.field_name, value)))
    }
    /// The POP's autosave sequence after the write.
    async fn autosave_sequence(&self) -> i32 {
        self.0.autosave_sequence
    }
    /// The snapshot restored or taken by this write, if any: its global id, as `Snapshot.id`.
    async fn snapshot_id(&self) -> Option<ID> {
        self.0
            .snapshot_id
            .map(|id| super::node::GlobalId::Snapshot(id).encode())
    }
    /// When.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
    /// Who made the change (`null` for anonymous legacy writes).
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<UserObject>> {
        super::user::load(ctx, self.0.user_id).await
    }
}

/// History queries.
#[derive(Default)]
pub struct HistoryQuery;

#[Object]
impl HistoryQuery {
    /// A POP's change log, newest first, optionally narrowed to one field, to the writes after a sequence the client holds (`sinceSequence`: catch up in one request) and to some actions. Paginated both ways: `first`/`after` from the newest, `last`/`before` from the oldest.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "super::pagination::cost(first, last, child_complexity)")]
    async fn pop_history(
        &self,
        ctx: &Context<'_>,
        pop_id: ID,
        #[graphql(
            desc = "How many items from the start of the list: 0 to 100 (`BAD_USER_INPUT` outside), 20 when neither `first` nor `last` is given."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "Items after this cursor (a `cursor` or `pageInfo.endCursor` of this list)."
        )]
        after: Option<String>,
        #[graphql(
            desc = "How many items from the end of the list: 0 to 100 (`BAD_USER_INPUT` outside); not with `first` (`BAD_USER_INPUT`)."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "Items before this cursor (a `cursor` or `pageInfo.startCursor` of this list)."
        )]
        before: Option<String>,
        #[graphql(desc = "Only entries for this field, e.g. `etapas`.")] field: Option<String>,
        #[graphql(
            desc = "Only entries of writes after this `autosaveSequence` (the one the client \
                    holds): everything that happened since, in one request. `BAD_USER_INPUT` if \
                    negative."
        )]
        since_sequence: Option<i32>,
        #[graphql(desc = "Only entries of these kinds of write (one value or a list).")]
        action: Option<Vec<HistoryAction>>,
    ) -> Result<CountedConnection<HistoryEntry>> {
        let db = ctx.data::<Db>()?;
        let request = PageArgs {
            after,
            before,
            first,
            last,
        }
        .resolve()?;
        if since_sequence.is_some_and(|since| since < 0) {
            return Err(AppError::bad_input("sinceSequence", "must be 0 or more").into());
        }
        let pop_id = pops::parse_public_id("popId", &pop_id)?;
        let pop = pops::find(db, &actor(ctx)?, pop_id)
            .await?
            .ok_or(AppError::NotFound("POP"))?;
        let filter = ChangeFilter {
            field,
            since_sequence,
            actions: action.map(|actions| actions.into_iter().map(Into::into).collect()),
        };
        let (rows, total) = pops::history(db, pop.meta.id, &filter, &request.page).await?;
        Ok(request.connection(rows, total, |e| e.id, HistoryEntry))
    }
}
