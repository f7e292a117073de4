//! `restorePaths`: chosen parts of an older version restored as one new change
//! ([`crate::domain::partial_restore`]).

use super::pop::PopObject;
use super::snapshot::SnapshotObject;
use super::{actor, settings};
use crate::db::Db;
use crate::domain::partial_restore::{self, Source};
use crate::domain::pops;
use crate::domain::transition::ExpectedHash;
use crate::error::AppError;
use async_graphql::{Context, Object, Result, SimpleObject, ID};

/// The result of `restorePaths`.
#[derive(SimpleObject)]
pub struct RestorePathsPayload {
    /// The POP after the restore.
    pub pop: PopObject,
    /// The snapshot holding the state before; restoring it undoes this change.
    pub safety_snapshot: SnapshotObject,
}

/// Partial-restore mutations.
#[derive(Default)]
pub struct PartialRestoreMutation;

#[Object]
impl PartialRestoreMutation {
    /// Restores the parts of a POP named by `paths` (JSON Pointers into its document, e.g. `/pontos_atencao` or `/etapas/<step id>`; a step without an id by its index) from one of its snapshots (`snapshotId`) or from the state right after an autosave sequence (`sequence`): give exactly one. Everything else keeps its current value. One new change: a safety snapshot first, then the sequence bumped and the history told the source and the paths. `expectedHash` guards against overwriting a newer save (`CONFLICT`; `EXPECTED_HASH_REQUIRED` without it when the server requires it); a path that cannot be used is `BAD_USER_INPUT` with `extensions.path`.
    #[allow(clippy::too_many_arguments)]
    async fn restore_paths(
        &self,
        ctx: &Context<'_>,
        pop_id: ID,
        snapshot_id: Option<ID>,
        sequence: Option<i32>,
        paths: Vec<String>,
        expected_hash: Option<String>,
        #[graphql(
            desc = "Any unique string (e.g. a UUID per click): a retry with the same key and arguments returns the first result without restoring again; the same key with other arguments is `IDEMPOTENCY_KEY_REUSED`."
        )]
        idempotency_key: Option<String>,
    ) -> Result<RestorePathsPayload> {
        let db = ctx.data::<Db>()?;
        let pop_id = pops::parse_public_id("popId", &pop_id)?;
        let source = match (snapshot_id, sequence) {
            (Some(id), None) => Source::Snapshot(super::node::snapshot_key("snapshotId", &id)?),
            (None, Some(sequence)) => Source::Sequence(sequence),
            _ => {
                return Err(AppError::bad_input(
                    "snapshotId",
                    "give either `snapshotId` or `sequence`",
                )
                .into())
            }
        };
        let done = partial_restore::restore_paths(
            db,
            &actor(ctx)?,
            pop_id,
            source,
            &paths,
            ExpectedHash {
                hash: expected_hash.as_deref(),
                required: settings(ctx)?.autosave.require_expected_hash,
            },
            idempotency_key.as_deref(),
        )
        .await?;
        Ok(RestorePathsPayload {
            pop: PopObject(done.pop),
            safety_snapshot: SnapshotObject(done.safety),
        })
    }
}
