//! Relay object identification: the `Node` interface, `node(id:)`, and the global ids of the
//! objects that are not POPs.
//!
//! A POP's id is its public UUID, already unique across every type and backend. A snapshot's,
//! a history entry's and a published version's id is opaque: URL-safe base64 of `Snapshot:<n>`,
//! `HistoryEntry:<n>` or `PublishedVersion:<n>`.
//! The arguments that took the plain snapshot numbers before (`snapshot`, `snapshotDiff`,
//! `restoreSnapshot`, `markMilestone`, `restorePaths`) still accept them.

use super::actor;
use super::history::HistoryEntry;
use super::pop::PopObject;
use super::snapshot::SnapshotObject;
use super::version::VersionObject;
use crate::db::Db;
use crate::domain::{pops, snapshots, versions};
use crate::error::AppError;
use async_graphql::{Context, Interface, Object, Result, ID};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// An object with a global id, refetchable with `node(id:)`.
// One value per `node` answer, moved once: the size of the POP variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Interface)]
#[graphql(field(
    name = "id",
    ty = "ID",
    desc = "Global id: opaque, unique across every type, accepted by `node(id:)`."
))]
pub enum Node {
    /// A POP.
    Pop(PopObject),
    /// A snapshot.
    Snapshot(SnapshotObject),
    /// A history entry.
    HistoryEntry(HistoryEntry),
    /// A published version.
    PublishedVersion(VersionObject),
}

/// Type names of the opaque ids.
const SNAPSHOT: &str = "Snapshot";
const HISTORY_ENTRY: &str = "HistoryEntry";
const PUBLISHED_VERSION: &str = "PublishedVersion";

/// What a global id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobalId {
    /// A POP, by public id.
    Pop(uuid::Uuid),
    /// A snapshot, by row id.
    Snapshot(i64),
    /// A history entry, by row id.
    HistoryEntry(i64),
    /// A published version, by row id.
    PublishedVersion(i64),
}

impl GlobalId {
    /// The id clients see.
    pub fn encode(self) -> ID {
        match self {
            GlobalId::Pop(uuid) => ID(uuid.to_string()),
            GlobalId::Snapshot(id) => ID(URL_SAFE_NO_PAD.encode(format!("{SNAPSHOT}:{id}"))),
            GlobalId::HistoryEntry(id) => {
                ID(URL_SAFE_NO_PAD.encode(format!("{HISTORY_ENTRY}:{id}")))
            }
            GlobalId::PublishedVersion(id) => {
                ID(URL_SAFE_NO_PAD.encode(format!("{PUBLISHED_VERSION}:{id}")))
            }
        }
    }

    /// Reads an id written by [`GlobalId::encode`]; `None` for anything else.
    pub fn decode(raw: &str) -> Option<GlobalId> {
        let raw = raw.trim();
        if let Ok(uuid) = uuid::Uuid::parse_str(raw) {
            return Some(GlobalId::Pop(uuid));
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        let text = std::str::from_utf8(&bytes).ok()?;
        let (kind, key) = text.split_once(':')?;
        let key = positive(key)?;
        match kind {
            SNAPSHOT => Some(GlobalId::Snapshot(key)),
            HISTORY_ENTRY => Some(GlobalId::HistoryEntry(key)),
            PUBLISHED_VERSION => Some(GlobalId::PublishedVersion(key)),
            _ => None,
        }
    }
}

/// A positive row id written in decimal.
fn positive(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().filter(|id| *id > 0)
}

/// A snapshot id argument: a snapshot's global id, or the plain number snapshot ids were
/// before global ids (still accepted). `BAD_USER_INPUT` on `field` for anything else.
pub fn snapshot_key(field: &str, raw: &str) -> Result<i64, AppError> {
    match GlobalId::decode(raw) {
        Some(GlobalId::Snapshot(id)) => Ok(id),
        _ => positive(raw.trim()).ok_or_else(|| AppError::bad_input(field, "not a snapshot id")),
    }
}

/// Relay's `node` query.
#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Any object by its global id (a POP, a snapshot, a history entry, a published version): `null` when there is none or the caller may not read it (as `pop` and `snapshot` answer; `popHistory` answers `NOT_FOUND` for such a POP; a published version is answered while its POP is live, to every signed-in user). `BAD_USER_INPUT` for an id that is not one of this API's ids.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>> {
        let key =
            GlobalId::decode(&id).ok_or_else(|| AppError::bad_input("id", "not a node id"))?;
        let db = ctx.data::<Db>()?;
        let actor = actor(ctx)?;
        Ok(match key {
            GlobalId::Pop(uuid) => pops::find(db, &actor, uuid)
                .await?
                .map(|pop| Node::Pop(PopObject(pop))),
            GlobalId::Snapshot(id) => snapshots::readable(db, &actor, id)
                .await?
                .map(|snapshot| Node::Snapshot(SnapshotObject(snapshot))),
            GlobalId::HistoryEntry(id) => pops::history_entry(db, &actor, id)
                .await?
                .map(|entry| Node::HistoryEntry(HistoryEntry(entry))),
            GlobalId::PublishedVersion(id) => {
                versions::by_id(db, id).await?.map(|(pop_uuid, version)| {
                    Node::PublishedVersion(VersionObject { pop_uuid, version })
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_stay_apart() {
        let uuid = uuid::Uuid::new_v4();
        for key in [
            GlobalId::Pop(uuid),
            GlobalId::Snapshot(12),
            GlobalId::HistoryEntry(12),
            GlobalId::PublishedVersion(12),
        ] {
            assert_eq!(GlobalId::decode(&key.encode()), Some(key));
        }
        assert_ne!(
            GlobalId::Snapshot(12).encode(),
            GlobalId::HistoryEntry(12).encode()
        );
        assert_eq!(GlobalId::Snapshot(12).encode().0, "U25hcHNob3Q6MTI");
    }

    #[test]
    fn snapshot_arguments_take_global_ids_and_plain_numbers() {
        let global = GlobalId::Snapshot(7).encode();
        assert_eq!(snapshot_key("id", &global).ok(), Some(7));
        assert_eq!(snapshot_key("id", " 7 ").ok(), Some(7));
        for bad in [
            "0",
            "-3",
            "x",
            "",
            &GlobalId::HistoryEntry(7).encode().0,
            &URL_SAFE_NO_PAD.encode("Snapshot:-1"),
            &URL_SAFE_NO_PAD.encode("Pop:7"),
        ] {
            assert!(snapshot_key("id", bad).is_err(), "{bad}");
        }
    }
}
