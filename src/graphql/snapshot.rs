//! Snapshots: the `Snapshot` type, `snapshot` and `snapshotDiff`, and the backup, restore and
//! milestone mutations.

use super::pop::{PopObject, PopStatus};
use super::scalars::DateTime;
use super::user::UserObject;
use super::{actor, loaders::PopLoader, settings};
use crate::db::models::Snapshot;
use crate::db::Db;
use crate::domain::diff::{Change, ChangeKind as DiffKind};
use crate::domain::transition::ExpectedHash;
use crate::domain::{pops, snapshots};
use crate::error::AppError;
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, Json, Object, Result, SimpleObject, ID};
use serde_json::Value;

/// Why a snapshot was taken.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::SnapshotKind")]
pub enum SnapshotKind {
    /// Every `SNAPSHOT_EVERY` autosaves.
    Autosave,
    /// By `backupSession`.
    Backup,
    /// The safety copy `restoreSnapshot` takes before applying another snapshot.
    PreRestore,
    /// On publication.
    StatusChange,
    /// Imported from the legacy system.
    Import,
}

/// An immutable copy of a POP's document at one moment.
pub struct SnapshotObject(pub Snapshot);

#[Object(name = "Snapshot")]
impl SnapshotObject {
    /// Global id (opaque; see `Node`). Arguments that take a snapshot id also accept the plain number snapshot ids were before.
    pub(crate) async fn id(&self) -> ID {
        super::node::GlobalId::Snapshot(self.0.id).encode()
    }
    /// Id in the legacy Django system, for imported snapshots.
    async fn legacy_id(&self) -> Option<i64> {
        self.0.legacy_id
    }
    /// 1, 2, 3… within its POP.
    async fn sequence(&self) -> i32 {
        self.0.sequence
    }
    /// Why it was taken.
    async fn kind(&self) -> SnapshotKind {
        self.0.kind.into()
    }
    /// The POP's version then.
    async fn versao(&self) -> i32 {
        self.0.versao
    }
    /// The POP's autosave sequence then.
    async fn autosave_sequence(&self) -> i32 {
        self.0.autosave_sequence
    }
    /// The POP's status then.
    async fn status(&self) -> PopStatus {
        self.0.status.into()
    }
    /// SHA-256 of `document` by the legacy rule.
    async fn integrity_hash(&self) -> &str {
        &self.0.integrity_hash
    }
    /// The POP's document then (legacy payload).
    async fn document(&self) -> Json<&Value> {
        Json(&self.0.payload)
    }
    /// The content of `document`, typed, as `Pop.content`.
    async fn content(&self) -> super::content::PopContent {
        super::content::PopContent::of(&self.0.payload)
    }
    /// Milestones are kept forever by retention.
    async fn milestone(&self) -> bool {
        self.0.milestone
    }
    /// The milestone's label.
    async fn milestone_label(&self) -> Option<&str> {
        self.0.milestone_label.as_deref()
    }
    /// The label given to a backup.
    async fn label(&self) -> Option<&str> {
        self.0.label.as_deref()
    }
    /// When it was taken.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
    /// Who caused it.
    async fn created_by(&self, ctx: &Context<'_>) -> Result<Option<UserObject>> {
        super::user::load(ctx, self.0.created_by_id).await
    }
    /// The POP it belongs to.
    async fn pop(&self, ctx: &Context<'_>) -> Result<PopObject> {
        let pop = ctx
            .data::<DataLoader<PopLoader>>()?
            .load_one(self.0.pop_id)
            .await?;
        Ok(PopObject(pop.ok_or(AppError::NotFound("POP"))?))
    }
}

/// What happened at one place of the document.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// Present only in the second document.
    Added,
    /// Present only in the first document.
    Removed,
    /// Present in both, with different values.
    Changed,
}

/// One change between two documents.
#[derive(SimpleObject)]
pub struct FieldChange {
    /// JSON Pointer (RFC 6901): into the first document for removed and changed values, into the second for added ones.
    pub path: String,
    /// The `Pop` field the path is in, by its GraphQL name (`etapas` for `/etapas/2/descricao`, `area` for `/area/codigo`); `null` for `/data_criacao`.
    pub content_field: Option<&'static str>,
    /// What happened.
    pub kind: ChangeKind,
    /// The value before (absent for additions).
    pub old: Option<Json<Value>>,
    /// The value after (absent for removals).
    pub new: Option<Json<Value>>,
}

impl From<Change> for FieldChange {
    fn from(c: Change) -> Self {
        let content_field = c
            .path
            .split('/')
            .nth(1)
            .and_then(super::content::graphql_name);
        FieldChange {
            content_field,
            path: c.path,
            kind: match c.kind {
                DiffKind::Added => ChangeKind::Added,
                DiffKind::Removed => ChangeKind::Removed,
                DiffKind::Changed => ChangeKind::Changed,
            },
            old: c.old.map(Json),
            new: c.new.map(Json),
        }
    }
}

/// The difference between two versions of a POP's document.
#[derive(SimpleObject)]
pub struct SnapshotDiff {
    /// The first version.
    pub from: SnapshotObject,
    /// The second version; `null` when it is the POP's current state.
    pub to: Option<SnapshotObject>,
    /// Top-level document keys whose values differ (as the legacy diff reported them).
    pub changed_fields: Vec<String>,
    /// Every change, in document order; an element inserted into a list is one addition.
    pub changes: Vec<FieldChange>,
    /// An RFC 6902 JSON Patch that turns the first document into the second.
    pub patch: Json<Value>,
}

/// The result of `restoreSnapshot`.
#[derive(SimpleObject)]
pub struct RestorePayload {
    /// The POP after the restore.
    pub pop: PopObject,
    /// The snapshot that was applied.
    pub restored_snapshot: SnapshotObject,
    /// The snapshot holding the state before the restore; restoring it undoes this restore.
    pub safety_snapshot: SnapshotObject,
}

/// Snapshot queries.
#[derive(Default)]
pub struct SnapshotQuery;

#[Object]
impl SnapshotQuery {
    /// One snapshot by id (its global id, `Snapshot.id`; the plain numbers snapshot ids were before global ids are still accepted here and by every argument that takes a snapshot id); `null` when there is none.
    async fn snapshot(&self, ctx: &Context<'_>, id: ID) -> Result<Option<SnapshotObject>> {
        let db = ctx.data::<Db>()?;
        let id = super::node::snapshot_key("id", &id)?;
        let found = snapshots::readable(db, &actor(ctx)?, id).await?;
        Ok(found.map(SnapshotObject))
    }

    /// Compares two snapshots of the same POP, or a snapshot with the POP's current state when `toId` is omitted. Snapshots of different POPs are `BAD_USER_INPUT`.
    async fn snapshot_diff(
        &self,
        ctx: &Context<'_>,
        from_id: ID,
        to_id: Option<ID>,
    ) -> Result<SnapshotDiff> {
        let db = ctx.data::<Db>()?;
        let from_id = super::node::snapshot_key("fromId", &from_id)?;
        let to_id = to_id
            .as_deref()
            .map(|id| super::node::snapshot_key("toId", id))
            .transpose()?;
        let actor = actor(ctx)?;
        // The two reads on two connections at once: a large snapshot's payload takes the
        // database a while to read out, so the second does not wait for the first.
        let (from, to) = tokio::try_join!(
            async {
                snapshots::readable(db, &actor, from_id)
                    .await?
                    .ok_or(AppError::NotFound("snapshot"))
            },
            async {
                match to_id {
                    Some(id) => snapshots::readable(db, &actor, id)
                        .await?
                        .map(Some)
                        .ok_or(AppError::NotFound("snapshot")),
                    None => Ok(None),
                }
            },
        )?;
        let diff = snapshots::diff(db, &from, to.as_ref()).await?;
        Ok(SnapshotDiff {
            from: SnapshotObject(from),
            to: to.map(SnapshotObject),
            changed_fields: diff.changed_fields,
            changes: diff.changes.into_iter().map(FieldChange::from).collect(),
            patch: Json(diff.patch),
        })
    }
}

/// Snapshot mutations.
#[derive(Default)]
pub struct SnapshotMutation;

#[Object]
impl SnapshotMutation {
    /// Takes a snapshot (kind `BACKUP`, with the label) of every non-deleted POP of a session that the caller may edit, or of the one POP `popId`, in one transaction, and returns them. Give exactly one of `sessionId` and `popId` (`BAD_USER_INPUT` otherwise); a `popId` the caller may not read, or of a deleted POP, is `NOT_FOUND`; one they may read but not edit is `FORBIDDEN`.
    async fn backup_session(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The editing session whose POPs to back up.")] session_id: Option<String>,
        #[graphql(desc = "The one POP to back up (for an editor that works by POP id).")]
        pop_id: Option<ID>,
        label: Option<String>,
    ) -> Result<Vec<SnapshotObject>> {
        let db = ctx.data::<Db>()?;
        let actor = actor(ctx)?;
        let taken = match (session_id, pop_id) {
            (Some(session_id), None) => {
                snapshots::backup_session(db, &actor, &session_id, label.as_deref()).await?
            }
            (None, Some(pop_id)) => {
                let pop_id = pops::parse_public_id("popId", &pop_id)?;
                vec![snapshots::backup_pop(db, &actor, pop_id, label.as_deref()).await?]
            }
            _ => {
                return Err(AppError::bad_input(
                    "sessionId",
                    "give exactly one of sessionId and popId",
                )
                .into())
            }
        };
        Ok(taken.into_iter().map(SnapshotObject).collect())
    }

    /// Rolls a POP back to a snapshot, in one transaction: first a safety snapshot of the current state (unless the latest snapshot already holds it), then the snapshot's content applied, the sequence bumped and the change logged. `expectedHash` guards against overwriting a newer save (`CONFLICT`); `EXPECTED_HASH_REQUIRED` without it when the server requires it.
    async fn restore_snapshot(
        &self,
        ctx: &Context<'_>,
        snapshot_id: ID,
        #[graphql(desc = "The `integrityHash` of the POP as the client last saw it.")]
        expected_hash: Option<String>,
    ) -> Result<RestorePayload> {
        let db = ctx.data::<Db>()?;
        let snapshot_id = super::node::snapshot_key("snapshotId", &snapshot_id)?;
        let expected = ExpectedHash {
            hash: expected_hash.as_deref(),
            required: settings(ctx)?.autosave.require_expected_hash,
        };
        let restored = snapshots::restore(db, &actor(ctx)?, snapshot_id, expected).await?;
        Ok(RestorePayload {
            pop: PopObject(restored.pop),
            restored_snapshot: SnapshotObject(restored.restored),
            safety_snapshot: SnapshotObject(restored.safety),
        })
    }

    /// Marks a snapshot as a milestone with a label of 1–120 characters; milestones are never deleted by retention.
    async fn mark_milestone(
        &self,
        ctx: &Context<'_>,
        snapshot_id: ID,
        label: String,
    ) -> Result<SnapshotObject> {
        let db = ctx.data::<Db>()?;
        let snapshot_id = super::node::snapshot_key("snapshotId", &snapshot_id)?;
        Ok(SnapshotObject(
            snapshots::mark_milestone(db, &actor(ctx)?, snapshot_id, &label).await?,
        ))
    }
}
