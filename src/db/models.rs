//! Rows as the application reads them, shared by both backends.
//!
//! Each row is declared once with [`crate::db_row!`]: `Row::as_select()` reads its columns on
//! either backend, and `&Row` inserts them.

use super::json::JsonColumn;
use super::types::{timestamp, DbUuid};
use crate::domain::{ChangeAction, SnapshotKind, Status};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::Queryable;
use serde::{Deserialize, Serialize};
use serde_json::Value;

crate::db_row! {
    /// A POP's editable content, one field per column, named as the legacy system named them.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct PopContent in pops {
        /// Author name shown on the document.
        pub nome_usuario: String,
        /// Area code (e.g. `COATE`).
        pub area_codigo: Option<String>,
        /// Area name.
        pub area_nome: Option<String>,
        /// Macroprocess.
        pub macroprocesso: Option<String>,
        /// Process-architecture code such as `7.2.1.1.1`.
        pub codigo_processo: Option<String>,
        /// Process name.
        pub nome_processo: Option<String>,
        /// Specific process.
        pub processo_especifico: Option<String>,
        /// Expected deliverable.
        pub entrega_esperada: Option<String>,
        /// Legal basis, items joined by ` | `.
        pub dispositivos_normativos: Option<String>,
        /// Systems used (JSON list).
        pub sistemas_utilizados: JsonColumn,
        /// Operators, joined by `, `.
        pub operadores: Option<String>,
        /// Points of attention.
        pub pontos_atencao: Option<String>,
        /// Steps (JSON list, stored faithfully).
        pub etapas: JsonColumn,
        /// Documents used (JSON list; legacy rows may hold a string).
        pub documentos_utilizados: JsonColumn,
        /// Input flows (JSON list).
        pub fluxos_entrada: JsonColumn,
        /// Output flows (JSON list).
        pub fluxos_saida: JsonColumn,
    }
}

impl Default for PopContent {
    fn default() -> Self {
        let empty = || JsonColumn::from(Value::Array(Vec::new()));
        PopContent {
            nome_usuario: String::new(),
            area_codigo: None,
            area_nome: None,
            macroprocesso: None,
            codigo_processo: None,
            nome_processo: None,
            processo_especifico: None,
            entrega_esperada: None,
            dispositivos_normativos: None,
            sistemas_utilizados: empty(),
            operadores: None,
            pontos_atencao: None,
            etapas: empty(),
            documentos_utilizados: empty(),
            fluxos_entrada: empty(),
            fluxos_saida: empty(),
        }
    }
}

crate::db_row! {
    /// A POP's identity and control fields.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct PopMeta in pops {
        /// Internal key.
        pub id: i64,
        /// Public id.
        pub uuid: DbUuid,
        /// Id in the legacy Django database, for imported rows.
        pub legacy_id: Option<i64>,
        /// The front end's editing session.
        pub session_id: Option<String>,
        /// Owner.
        pub created_by_id: Option<i64>,
        /// Published version number.
        pub versao: i32,
        /// `MM/YYYY`.
        pub mes_ano: Option<String>,
        /// Approval date.
        pub data_aprovacao: Option<NaiveDate>,
        /// Workflow status.
        pub status: Status,
        /// Whether the author marked it complete.
        pub is_completo: bool,
        /// Legacy integrity hash of the current document.
        pub integrity_hash: String,
        /// Autosaves so far.
        pub autosave_sequence: i32,
        /// The front end's whole form state, as sent.
        pub raw_payload: Option<Value>,
        /// Creation time.
        pub created_at: DateTime<Utc>,
        /// Last write.
        pub updated_at: DateTime<Utc>,
        /// Last autosave.
        pub last_autosave_at: Option<DateTime<Utc>>,
        /// Last activity of any kind.
        pub last_activity_at: DateTime<Utc>,
        /// Soft-delete time.
        pub deleted_at: Option<DateTime<Utc>>,
        /// Its process code (CAP) is held by another live POP that had it first (imported or
        /// migrated data): the code stays in the document but is not this POP's until it changes.
        #[serde(default)]
        pub cap_duplicate: bool,
    }
}

crate::db_row! {
    /// A POP's key, who it belongs to and whether it is out: what the access rules read of it
    /// ([`crate::domain::Actor`]), without its documents.
    #[derive(Debug, Clone, PartialEq)]
    pub struct PopOwnership from pops {
        /// Internal key.
        pub id: i64,
        /// Owner.
        pub created_by_id: Option<i64>,
        /// Area code, whose reviewers may read it.
        pub area_codigo: Option<String>,
        /// Workflow status (anyone may clone a published POP).
        pub status: Status,
        /// Soft-delete time.
        pub deleted_at: Option<DateTime<Utc>>,
    }
}

impl From<&Pop> for PopOwnership {
    fn from(pop: &Pop) -> PopOwnership {
        PopOwnership {
            id: pop.meta.id,
            created_by_id: pop.meta.created_by_id,
            area_codigo: pop.content.area_codigo.clone(),
            status: pop.meta.status,
            deleted_at: pop.meta.deleted_at,
        }
    }
}

/// A POP row: control fields and content.
#[derive(Debug, Clone, PartialEq, Queryable, Serialize, Deserialize)]
pub struct Pop {
    /// Identity and control fields.
    pub meta: PopMeta,
    /// Editable content.
    pub content: PopContent,
}

/// `Pop::as_select()`: the columns of [`PopMeta`], then those of [`PopContent`].
macro_rules! select_pop {
    ($db:ty) => {
        impl diesel::Selectable<$db> for Pop {
            type SelectExpression = (
                <PopMeta as diesel::Selectable<$db>>::SelectExpression,
                <PopContent as diesel::Selectable<$db>>::SelectExpression,
            );

            fn construct_selection() -> Self::SelectExpression {
                (
                    <PopMeta as diesel::Selectable<$db>>::construct_selection(),
                    <PopContent as diesel::Selectable<$db>>::construct_selection(),
                )
            }
        }
    };
}
select_pop!(diesel::pg::Pg);
select_pop!(diesel::sqlite::Sqlite);

crate::db_row! {
    /// An immutable copy of a POP's document.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Snapshot in pop_snapshots {
        /// Internal key, also the public id.
        pub id: i64,
        /// Id in the legacy Django database, for imported rows.
        pub legacy_id: Option<i64>,
        /// The POP.
        pub pop_id: i64,
        /// 1, 2, 3… per POP.
        pub sequence: i32,
        /// Why it was taken.
        pub kind: SnapshotKind,
        /// The POP's version then.
        pub versao: i32,
        /// The POP's autosave sequence then.
        pub autosave_sequence: i32,
        /// The POP's status then.
        pub status: Status,
        /// Legacy hash of `payload`.
        pub integrity_hash: String,
        /// The document.
        pub payload: Value,
        /// Kept forever by retention.
        pub milestone: bool,
        /// The milestone's label.
        pub milestone_label: Option<String>,
        /// Free label given when it was taken (backups).
        pub label: Option<String>,
        /// Who caused it.
        pub created_by_id: Option<i64>,
        /// When.
        #[serde(with = "timestamp")]
        pub created_at: DateTime<Utc>,
    }
}

crate::db_row! {
    /// One changed field of one write.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ChangeLogEntry in pop_change_log {
        /// Internal key.
        pub id: i64,
        /// Id in the legacy Django database, for imported rows.
        pub legacy_id: Option<i64>,
        /// The POP.
        pub pop_id: i64,
        /// Who made the change.
        pub user_id: Option<i64>,
        /// What kind of write.
        pub action: ChangeAction,
        /// The field (legacy column name) or a pseudo-field such as `status`.
        pub field_name: String,
        /// Value before.
        pub old_value: Option<Value>,
        /// Value after.
        pub new_value: Option<Value>,
        /// The POP's autosave sequence after the write.
        pub autosave_sequence: i32,
        /// The snapshot restored or taken, when there is one.
        pub snapshot_id: Option<i64>,
        /// When.
        #[serde(with = "timestamp")]
        pub created_at: DateTime<Utc>,
    }
}

crate::db_row! {
    /// A person who can sign in.
    #[derive(Debug, Clone, PartialEq)]
    pub struct User in users {
        /// Internal key.
        pub id: i64,
        /// Id in the legacy Django database, for imported rows.
        pub legacy_id: Option<i64>,
        /// Unique login name.
        pub username: String,
        /// E-mail address (may be empty).
        pub email: String,
        /// Staff see and act on every POP.
        pub is_staff: bool,
        /// Area the user reviews, if any.
        pub area_codigo: Option<String>,
        /// When the account was created.
        pub created_at: DateTime<Utc>,
    }
}

crate::db_row! {
    /// An area or sub-area (the legacy `processos_area`).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Area in areas {
        /// Internal key.
        pub id: i64,
        /// Id in the legacy Django database, for imported rows.
        pub legacy_id: Option<i64>,
        /// Unique code (`DIGEP`, `DIGEP-RO`), as POPs and reviewers name their area.
        pub codigo: String,
        /// Full name.
        pub nome: String,
        /// Short name.
        pub nome_curto: String,
        /// Unique slug of the catalogue's addresses.
        pub slug: String,
        /// The two-digit CAP prefix (sub-areas usually have none and use their parent's).
        pub prefixo: Option<String>,
        /// Position in lists.
        pub ordem: i32,
        /// Inactive areas are kept for their POPs but offered for nothing new.
        pub ativo: bool,
        /// Free description.
        pub descricao: String,
        /// The parent area of a sub-area.
        pub parent_id: Option<i64>,
        /// Creation time.
        #[serde(with = "timestamp")]
        pub created_at: DateTime<Utc>,
        /// Last change.
        #[serde(with = "timestamp")]
        pub updated_at: DateTime<Utc>,
    }
}

crate::db_row! {
    /// A published version: the document of a POP frozen when it was published (the legacy
    /// `processos_popversion`).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct PublishedVersion in pop_versions {
        /// Internal key.
        pub id: i64,
        /// Id in the legacy Django database, for imported rows.
        pub legacy_id: Option<i64>,
        /// The POP.
        pub pop_id: i64,
        /// The version number (1, 2, 3… per POP).
        pub versao: i32,
        /// The document as published. Versions imported from the legacy system hold it without
        /// `status` and `versao` (see [`crate::domain::versions::version_hash`]).
        pub payload: Value,
        /// Legacy hash of the document as published.
        pub integrity_hash: String,
        /// Who published it.
        pub published_by_id: Option<i64>,
        /// When.
        #[serde(with = "timestamp")]
        pub published_at: DateTime<Utc>,
        /// Why (empty when no reason was given).
        pub motivo: String,
        /// The version the catalogue answers for its POP (at most one per POP).
        pub is_current: bool,
    }
}
