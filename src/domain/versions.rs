//! Published versions: what publishing freezes, how a version's hash is checked, and how the
//! catalogue finds a POP's published version by area and process code (CAP).
//!
//! Publishing (see [`super::transition::apply`]) writes the document as published to
//! `pop_versions`, in the same transaction as the status change, and makes it the POP's current
//! version; archiving leaves the POP with no current version. Versions are never rewritten: the
//! database refuses any update of a version but its `is_current` flag.
//!
//! The legacy system stored a version's `payload` without `status` and `versao`, and hashed it
//! with both added back (`status` is `published`, `versao` the version's number).
//! [`version_hash`] and [`document`] apply that rule to every version, so versions published
//! here (whose payload already holds both) and imported ones are read and verified alike.

use super::Status;
use crate::db::models::PublishedVersion;
use crate::db::{versions, Db};
use crate::error::AppError;
use serde_json::{json, Value};

/// The document a version froze: its payload with `status` (`published`) and `versao` set.
pub fn document(payload: &Value, versao: i32) -> Value {
    let mut doc = payload.clone();
    if let Value::Object(map) = &mut doc {
        map.insert("status".into(), json!(Status::Published.as_str()));
        map.insert("versao".into(), json!(versao));
    }
    doc
}

/// The legacy hash a version must have: that of [`document`].
pub fn version_hash(payload: &Value, versao: i32) -> String {
    super::hash::integrity_hash(&document(payload, versao))
}

/// Whether a stored version still matches its stored hash.
pub fn verifies(version: &PublishedVersion) -> bool {
    version_hash(&version.payload, version.versao) == version.integrity_hash
}

/// The published version a catalogue address names: the POP of area `area_slug` whose process
/// code is `codigo` (a live one; if the legacy data holds several, the newest), and its version
/// `versao`, else its current version. `None` when there is none: a draft is never answered.
pub async fn by_address(
    db: &Db,
    area_slug: &str,
    codigo: &str,
    versao: Option<i32>,
) -> Result<Option<(uuid::Uuid, PublishedVersion)>, AppError> {
    let mut pooled = db.get().await?;
    let mut conn = pooled.conn();
    let candidates = versions::pops_at_address(&mut conn, area_slug, codigo).await?;
    for (pop_id, uuid) in candidates {
        if let Some(version) = versions::find(&mut conn, pop_id, versao).await? {
            return Ok(Some((uuid, version)));
        }
    }
    Ok(None)
}
