//! Reading the Django system's data: its SQLite database or a `dumpdata` JSON file.
//!
//! Both readers produce the same normalized records ([`LegacyData`]); every quirk of the real
//! data is resolved here, once, so the importer ([`crate::transfer::import`]) sees clean values:
//!
//! - `raw_payload` stored as a JSON *string* inside the JSON column is decoded to the object or
//!   list it holds (a string that does not parse as one is kept as it is);
//! - `documentos_utilizados` (and the other JSON content fields) are kept as whatever JSON value
//!   they hold, a string included; SQL `NULL` becomes an empty list;
//! - uuids with or without hyphens; Django datetimes with or without fractional seconds, with a
//!   space or a `T`, with or without a `Z`/offset (naive values are UTC, as Django stores them);
//! - legacy statuses `in_progress`, `review` and `approved` become `draft`, `in_review` and
//!   `published` ([`map_status`]);
//! - change-log values are JSON text in SQLite and JSON values in a dump; SQL `NULL` stays `None`.

pub mod dump;
pub mod sqlite;
pub mod values;

use crate::db::models::PopContent;
use crate::domain::Status;
use anyhow::{bail, Context};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use std::io::Read;
use std::path::Path;

pub use values::map_status;

/// A Django user (`auth_user`).
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyUser {
    /// Django id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// E-mail address.
    pub email: String,
    /// Django password hash (`pbkdf2_sha256$…`, or `!` for an unusable password).
    pub password: String,
    /// Staff flag.
    pub is_staff: bool,
    /// Superuser flag.
    pub is_superuser: bool,
    /// Active flag.
    pub is_active: bool,
    /// `date_joined`.
    pub date_joined: DateTime<Utc>,
    /// `last_login`.
    pub last_login: Option<DateTime<Utc>>,
}

/// A Django POP (`processos_pop`).
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyPop {
    /// Django id.
    pub id: i64,
    /// Public id.
    pub uuid: uuid::Uuid,
    /// Front-end editing session.
    pub session_id: Option<String>,
    /// Django id of the creator.
    pub created_by: Option<i64>,
    /// Content fields.
    pub content: PopContent,
    /// Version.
    pub versao: i32,
    /// `MM/YYYY`.
    pub mes_ano: Option<String>,
    /// Approval date.
    pub data_aprovacao: Option<NaiveDate>,
    /// Status, already mapped to the current names.
    pub status: Status,
    /// Completed flag.
    pub is_completo: bool,
    /// Soft-deleted flag.
    pub is_deleted: bool,
    /// The stored (often stale) legacy hash.
    pub integrity_hash: Option<String>,
    /// Autosaves so far.
    pub autosave_sequence: i32,
    /// Decoded front-end form state.
    pub raw_payload: Option<Value>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last write.
    pub updated_at: DateTime<Utc>,
    /// Last autosave.
    pub last_autosave_at: Option<DateTime<Utc>>,
    /// Last activity.
    pub last_activity_at: DateTime<Utc>,
    /// Where the POP stood in review (columns of the later versions; empty before them).
    pub review: LegacyReview,
}

/// The review columns the later versions added to `processos_pop`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LegacyReview {
    /// `submitted_for_review_at`: when it was last sent for review.
    pub submitted_at: Option<DateTime<Utc>>,
    /// `submitted_by_id`: Django id of who sent it.
    pub submitted_by: Option<i64>,
    /// `reviewed_by_id`: Django id of the reviewer who last acted on it.
    pub reviewed_by: Option<i64>,
    /// `review_notes`: the reason given when it was sent back (an empty text is `None`).
    pub notes: Option<String>,
}

/// A Django snapshot (`processos_popsnapshot`).
#[derive(Debug, Clone, PartialEq)]
pub struct LegacySnapshot {
    /// Django id.
    pub id: i64,
    /// Django id of the POP.
    pub pop_id: i64,
    /// 1, 2, 3… per POP.
    pub sequence: i32,
    /// The POP's version then.
    pub versao: i32,
    /// The POP's autosave sequence then.
    pub autosave_sequence: i32,
    /// Status then, mapped to the current names.
    pub status: Status,
    /// The stored hash of `payload`.
    pub integrity_hash: Option<String>,
    /// The document, as stored.
    pub payload: Value,
    /// Milestone flag.
    pub milestone: bool,
    /// Milestone label (an empty label is `None`).
    pub milestone_label: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A Django change-log row (`processos_popchangelog`).
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyChange {
    /// Django id.
    pub id: i64,
    /// Django id of the POP.
    pub pop_id: i64,
    /// Django id of the user recorded (always the creator in the old code).
    pub user_id: Option<i64>,
    /// Field name.
    pub field_name: String,
    /// Value before.
    pub old_value: Option<Value>,
    /// Value after.
    pub new_value: Option<Value>,
    /// Autosave sequence.
    pub autosave_sequence: i32,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A Django area (`processos_area`, later versions only).
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyArea {
    /// Django id.
    pub id: i64,
    /// Unique code.
    pub codigo: String,
    /// Full name.
    pub nome: String,
    /// Short name.
    pub nome_curto: String,
    /// Unique slug.
    pub slug: String,
    /// Numeric CAP prefix (empty: none).
    pub prefixo: Option<String>,
    /// Position in lists.
    pub ordem: i32,
    /// Active flag.
    pub ativo: bool,
    /// Description.
    pub descricao: String,
    /// Django id of the parent area.
    pub parent_id: Option<i64>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A Django user profile (`processos_userprofile`, later versions only): role, area and whether
/// the user's access was approved.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyProfile {
    /// Django id of the user.
    pub user_id: i64,
    /// `operator`, `area_manager`, `general_manager` or `admin`.
    pub role: String,
    /// Django id of the user's area.
    pub area_id: Option<i64>,
    /// `pending`, `approved` or `rejected`.
    pub access_status: String,
    /// Whether the user confirmed their e-mail address.
    pub email_verified: bool,
}

/// A Django published version (`processos_popversion`, later versions only).
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyVersion {
    /// Django id.
    pub id: i64,
    /// Django id of the POP.
    pub pop_id: i64,
    /// The version number.
    pub versao: i32,
    /// The frozen document, as stored (without `status` and `versao`).
    pub payload: Value,
    /// The stored hash (of the payload with `status` and `versao` added back).
    pub integrity_hash: Option<String>,
    /// Django id of the publisher.
    pub published_by: Option<i64>,
    /// When.
    pub published_at: DateTime<Utc>,
    /// Why (empty when none was given).
    pub motivo: String,
    /// The version the catalogue showed.
    pub is_current: bool,
}

/// Everything read from one legacy source, each list in id order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LegacyData {
    /// `auth_user`.
    pub users: Vec<LegacyUser>,
    /// `processos_pop`.
    pub pops: Vec<LegacyPop>,
    /// `processos_popsnapshot`.
    pub snapshots: Vec<LegacySnapshot>,
    /// `processos_popchangelog`.
    pub changes: Vec<LegacyChange>,
    /// `processos_area` (empty for databases of the earlier versions, which have none).
    pub areas: Vec<LegacyArea>,
    /// `processos_popversion` (empty for databases of the earlier versions, which have none).
    pub versions: Vec<LegacyVersion>,
    /// `processos_userprofile` (empty for databases of the earlier versions, which have none).
    pub profiles: Vec<LegacyProfile>,
}

impl LegacyData {
    fn sort(&mut self) {
        self.users.sort_by_key(|u| u.id);
        self.pops.sort_by_key(|p| p.id);
        self.snapshots.sort_by_key(|s| s.id);
        self.changes.sort_by_key(|c| c.id);
        self.areas.sort_by_key(|a| a.id);
        self.versions.sort_by_key(|v| v.id);
        self.profiles.sort_by_key(|p| p.user_id);
    }
}

/// What kind of file a legacy source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A Django SQLite database.
    Sqlite,
    /// A `manage.py dumpdata` JSON file.
    Dump,
}

/// Tells a SQLite database from a JSON dump by the file's first bytes.
pub fn detect(path: &Path) -> anyhow::Result<SourceKind> {
    let mut head = [0u8; 16];
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let n = file
        .read(&mut head)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if head[..n].starts_with(b"SQLite format 3\0") {
        return Ok(SourceKind::Sqlite);
    }
    if head[..n]
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'[')
    {
        return Ok(SourceKind::Dump);
    }
    bail!(
        "{} is neither a SQLite database nor a Django JSON dump",
        path.display()
    )
}

/// Reads a legacy source (SQLite database or JSON dump, told apart by content).
pub async fn read(path: &Path) -> anyhow::Result<LegacyData> {
    let kind = detect(path)?;
    let owned = path.to_path_buf();
    let mut data = tokio::task::spawn_blocking(move || match kind {
        SourceKind::Sqlite => sqlite::read(&owned),
        SourceKind::Dump => dump::read(&owned),
    })
    .await
    .context("the legacy reader stopped")??;
    data.sort();
    Ok(data)
}
