//! Every column of every table as one typed row, read in key-ordered batches and written back
//! with its ids: the unit of dumps, loads, copies and checksums.
//!
//! A row's JSON form (its serde serialization) is the dump format's `row` object: column names as
//! keys, timestamps as RFC 3339 UTC with microseconds (`2025-10-12T02:53:26.239427Z`, what both
//! backends store), dates as `YYYY-MM-DD`, uuids hyphenated, JSON columns as JSON.

use crate::db::types::DbUuid;
use crate::db::Conn;
use crate::domain::{ChangeAction, SnapshotKind, Status};
use crate::error::AppError;
use crate::with_backend;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Rows per batch when streaming a table.
pub const BATCH_SIZE: i64 = 1000;

/// The tables, in an order where every foreign key points to an earlier table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// `areas`.
    Areas,
    /// `users`.
    Users,
    /// `api_tokens`.
    ApiTokens,
    /// `pops`.
    Pops,
    /// `pop_snapshots`.
    PopSnapshots,
    /// `pop_change_log`.
    PopChangeLog,
    /// `pop_versions`.
    PopVersions,
    /// `idempotency_keys`.
    IdempotencyKeys,
}

impl Table {
    /// Every table, parents first.
    pub const ALL: [Table; 8] = [
        Table::Areas,
        Table::Users,
        Table::ApiTokens,
        Table::Pops,
        Table::PopSnapshots,
        Table::PopChangeLog,
        Table::PopVersions,
        Table::IdempotencyKeys,
    ];

    /// The SQL name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Areas => "areas",
            Table::Users => "users",
            Table::ApiTokens => "api_tokens",
            Table::Pops => "pops",
            Table::PopSnapshots => "pop_snapshots",
            Table::PopChangeLog => "pop_change_log",
            Table::PopVersions => "pop_versions",
            Table::IdempotencyKeys => "idempotency_keys",
        }
    }

    /// The table of an SQL name.
    pub fn parse(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Whether the table has a `BIGINT` identity `id` (a sequence on PostgreSQL).
    pub fn has_identity(self) -> bool {
        self != Table::IdempotencyKeys
    }
}

/// Timestamps as RFC 3339 UTC with exactly six fractional digits.
pub mod timestamp {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// The canonical text of a timestamp.
    pub fn format(at: &DateTime<Utc>) -> String {
        at.to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    /// Serializes a timestamp.
    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(at))
    }

    /// Deserializes a timestamp written in RFC 3339.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }

    /// The same for optional timestamps.
    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer, Serializer};

        /// Serializes an optional timestamp.
        pub fn serialize<S: Serializer>(
            at: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => s.serialize_str(&super::format(at)),
                None => s.serialize_none(),
            }
        }

        /// Deserializes an optional timestamp.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|text| {
                    DateTime::parse_from_rfc3339(&text)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(serde::de::Error::custom)
                })
                .transpose()
        }
    }
}

mod uuid_text {
    use crate::db::types::DbUuid;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &DbUuid, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&id.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DbUuid, D::Error> {
        let text = String::deserialize(d)?;
        uuid::Uuid::parse_str(&text)
            .map(DbUuid)
            .map_err(serde::de::Error::custom)
    }
}

/// An `areas` row.
#[derive(Debug, Clone, PartialEq, Queryable, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct AreaRow {
    pub id: i64,
    pub legacy_id: Option<i64>,
    pub codigo: String,
    pub nome: String,
    pub nome_curto: String,
    pub slug: String,
    pub prefixo: Option<String>,
    pub ordem: i32,
    pub ativo: bool,
    pub descricao: String,
    pub parent_id: Option<i64>,
    #[serde(with = "timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "timestamp")]
    pub updated_at: DateTime<Utc>,
}

/// A `users` row, password hash included.
#[derive(Debug, Clone, PartialEq, Queryable, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct UserRow {
    pub id: i64,
    pub legacy_id: Option<i64>,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub is_active: bool,
    pub area_codigo: Option<String>,
    #[serde(with = "timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "timestamp::option")]
    pub last_login_at: Option<DateTime<Utc>>,
}

/// An `api_tokens` row: the token's SHA-256 digest, never the token itself.
#[derive(Debug, Clone, PartialEq, Queryable, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct ApiTokenRow {
    pub id: i64,
    pub user_id: i64,
    pub token_hash: String,
    pub label: String,
    #[serde(with = "timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "timestamp::option")]
    pub last_used_at: Option<DateTime<Utc>>,
    #[serde(with = "timestamp::option")]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A `pops` row.
#[derive(Debug, Clone, PartialEq, Queryable, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct PopRow {
    pub id: i64,
    #[serde(with = "uuid_text")]
    pub uuid: DbUuid,
    pub legacy_id: Option<i64>,
    pub session_id: Option<String>,
    pub created_by_id: Option<i64>,
    pub nome_usuario: String,
    pub area_codigo: Option<String>,
    pub area_nome: Option<String>,
    pub macroprocesso: Option<String>,
    pub codigo_processo: Option<String>,
    pub nome_processo: Option<String>,
    pub processo_especifico: Option<String>,
    pub entrega_esperada: Option<String>,
    pub dispositivos_normativos: Option<String>,
    pub sistemas_utilizados: Value,
    pub operadores: Option<String>,
    pub pontos_atencao: Option<String>,
    pub etapas: Value,
    pub documentos_utilizados: Value,
    pub fluxos_entrada: Value,
    pub fluxos_saida: Value,
    pub versao: i32,
    pub mes_ano: Option<String>,
    pub data_aprovacao: Option<NaiveDate>,
    pub status: Status,
    pub is_completo: bool,
    pub integrity_hash: String,
    pub autosave_sequence: i32,
    pub raw_payload: Option<Value>,
    #[serde(with = "timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "timestamp")]
    pub updated_at: DateTime<Utc>,
    #[serde(with = "timestamp::option")]
    pub last_autosave_at: Option<DateTime<Utc>>,
    #[serde(with = "timestamp")]
    pub last_activity_at: DateTime<Utc>,
    #[serde(with = "timestamp::option")]
    pub deleted_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub cap_duplicate: bool,
}

/// A `pop_snapshots` row.
#[derive(Debug, Clone, PartialEq, Queryable, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct SnapshotRow {
    pub id: i64,
    pub legacy_id: Option<i64>,
    pub pop_id: i64,
    pub sequence: i32,
    pub kind: SnapshotKind,
    pub versao: i32,
    pub autosave_sequence: i32,
    pub status: Status,
    pub integrity_hash: String,
    pub payload: Value,
    pub milestone: bool,
    pub milestone_label: Option<String>,
    pub label: Option<String>,
    pub created_by_id: Option<i64>,
    #[serde(with = "timestamp")]
    pub created_at: DateTime<Utc>,
}

/// A `pop_change_log` row.
#[derive(Debug, Clone, PartialEq, Queryable, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct ChangeRow {
    pub id: i64,
    pub legacy_id: Option<i64>,
    pub pop_id: i64,
    pub user_id: Option<i64>,
    pub action: ChangeAction,
    pub field_name: String,
    pub old_value: Option<Value>,
    pub new_value: Option<Value>,
    pub autosave_sequence: i32,
    pub snapshot_id: Option<i64>,
    #[serde(with = "timestamp")]
    pub created_at: DateTime<Utc>,
}

/// A `pop_versions` row.
#[derive(Debug, Clone, PartialEq, Queryable, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct VersionRow {
    pub id: i64,
    pub legacy_id: Option<i64>,
    pub pop_id: i64,
    pub versao: i32,
    pub payload: Value,
    pub integrity_hash: String,
    pub published_by_id: Option<i64>,
    #[serde(with = "timestamp")]
    pub published_at: DateTime<Utc>,
    pub motivo: String,
    pub is_current: bool,
}

/// An `idempotency_keys` row.
#[derive(Debug, Clone, PartialEq, Queryable, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct IdempotencyRow {
    pub key: String,
    pub request_hash: String,
    pub response: Value,
    #[serde(with = "timestamp")]
    pub created_at: DateTime<Utc>,
}

/// One batch of rows of one table, in key order.
#[derive(Debug, Clone, PartialEq)]
pub enum Batch {
    /// `areas` rows.
    Areas(Vec<AreaRow>),
    /// `users` rows.
    Users(Vec<UserRow>),
    /// `api_tokens` rows.
    ApiTokens(Vec<ApiTokenRow>),
    /// `pops` rows.
    Pops(Vec<PopRow>),
    /// `pop_snapshots` rows.
    PopSnapshots(Vec<SnapshotRow>),
    /// `pop_change_log` rows.
    PopChangeLog(Vec<ChangeRow>),
    /// `pop_versions` rows.
    PopVersions(Vec<VersionRow>),
    /// `idempotency_keys` rows.
    IdempotencyKeys(Vec<IdempotencyRow>),
}

/// Where the next batch starts: after this id (or key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// Before the first row.
    Start,
    /// After the row with this id.
    Id(i64),
    /// After the row with this key (`idempotency_keys`).
    Key(String),
}

fn to_values<T: Serialize>(rows: &[T]) -> Result<Vec<Value>, AppError> {
    rows.iter()
        .map(|r| serde_json::to_value(r).map_err(AppError::internal))
        .collect()
}

impl Batch {
    /// An empty batch of `table`.
    pub fn empty(table: Table) -> Batch {
        match table {
            Table::Areas => Batch::Areas(Vec::new()),
            Table::Users => Batch::Users(Vec::new()),
            Table::ApiTokens => Batch::ApiTokens(Vec::new()),
            Table::Pops => Batch::Pops(Vec::new()),
            Table::PopSnapshots => Batch::PopSnapshots(Vec::new()),
            Table::PopChangeLog => Batch::PopChangeLog(Vec::new()),
            Table::PopVersions => Batch::PopVersions(Vec::new()),
            Table::IdempotencyKeys => Batch::IdempotencyKeys(Vec::new()),
        }
    }

    /// The table the rows belong to.
    pub fn table(&self) -> Table {
        match self {
            Batch::Areas(_) => Table::Areas,
            Batch::Users(_) => Table::Users,
            Batch::ApiTokens(_) => Table::ApiTokens,
            Batch::Pops(_) => Table::Pops,
            Batch::PopSnapshots(_) => Table::PopSnapshots,
            Batch::PopChangeLog(_) => Table::PopChangeLog,
            Batch::PopVersions(_) => Table::PopVersions,
            Batch::IdempotencyKeys(_) => Table::IdempotencyKeys,
        }
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        match self {
            Batch::Areas(r) => r.len(),
            Batch::Users(r) => r.len(),
            Batch::ApiTokens(r) => r.len(),
            Batch::Pops(r) => r.len(),
            Batch::PopSnapshots(r) => r.len(),
            Batch::PopChangeLog(r) => r.len(),
            Batch::PopVersions(r) => r.len(),
            Batch::IdempotencyKeys(r) => r.len(),
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cursor after the last row, if any.
    pub fn last_cursor(&self) -> Option<Cursor> {
        match self {
            Batch::Areas(r) => r.last().map(|x| Cursor::Id(x.id)),
            Batch::Users(r) => r.last().map(|x| Cursor::Id(x.id)),
            Batch::ApiTokens(r) => r.last().map(|x| Cursor::Id(x.id)),
            Batch::Pops(r) => r.last().map(|x| Cursor::Id(x.id)),
            Batch::PopSnapshots(r) => r.last().map(|x| Cursor::Id(x.id)),
            Batch::PopChangeLog(r) => r.last().map(|x| Cursor::Id(x.id)),
            Batch::PopVersions(r) => r.last().map(|x| Cursor::Id(x.id)),
            Batch::IdempotencyKeys(r) => r.last().map(|x| Cursor::Key(x.key.clone())),
        }
    }

    /// The rows in their JSON form (see the module docs).
    pub fn to_values(&self) -> Result<Vec<Value>, AppError> {
        match self {
            Batch::Areas(r) => to_values(r),
            Batch::Users(r) => to_values(r),
            Batch::ApiTokens(r) => to_values(r),
            Batch::Pops(r) => to_values(r),
            Batch::PopSnapshots(r) => to_values(r),
            Batch::PopChangeLog(r) => to_values(r),
            Batch::PopVersions(r) => to_values(r),
            Batch::IdempotencyKeys(r) => to_values(r),
        }
    }

    /// The JSON form of the last row, if any.
    pub fn to_last_value(&self) -> Result<Option<Value>, AppError> {
        fn last<T: Serialize>(rows: &[T]) -> Result<Option<Value>, AppError> {
            rows.last()
                .map(|r| serde_json::to_value(r).map_err(AppError::internal))
                .transpose()
        }
        match self {
            Batch::Areas(r) => last(r),
            Batch::Users(r) => last(r),
            Batch::ApiTokens(r) => last(r),
            Batch::Pops(r) => last(r),
            Batch::PopSnapshots(r) => last(r),
            Batch::PopChangeLog(r) => last(r),
            Batch::PopVersions(r) => last(r),
            Batch::IdempotencyKeys(r) => last(r),
        }
    }

    /// Appends a row given in its JSON form; the row must belong to this batch's table.
    pub fn push_value(&mut self, value: Value) -> Result<(), serde_json::Error> {
        match self {
            Batch::Areas(r) => r.push(serde_json::from_value(value)?),
            Batch::Users(r) => r.push(serde_json::from_value(value)?),
            Batch::ApiTokens(r) => r.push(serde_json::from_value(value)?),
            Batch::Pops(r) => r.push(serde_json::from_value(value)?),
            Batch::PopSnapshots(r) => r.push(serde_json::from_value(value)?),
            Batch::PopChangeLog(r) => r.push(serde_json::from_value(value)?),
            Batch::PopVersions(r) => r.push(serde_json::from_value(value)?),
            Batch::IdempotencyKeys(r) => r.push(serde_json::from_value(value)?),
        }
        Ok(())
    }
}

/// The key order of `idempotency_keys`: byte order on both backends.
fn key_order(conn: &Conn<'_>) -> &'static str {
    match conn {
        Conn::Pg(_) => "key COLLATE \"C\"",
        Conn::Sqlite(_) => "key",
    }
}

/// Reads up to `limit` rows of `table` after `cursor`, in key order.
pub async fn read_batch(
    conn: &mut Conn<'_>,
    table: Table,
    cursor: &Cursor,
    limit: i64,
) -> Result<Batch, AppError> {
    let after = match cursor {
        Cursor::Id(id) => *id,
        _ => i64::MIN,
    };
    Ok(match table {
        Table::Areas => Batch::Areas(with_backend!(conn, |c| schema::areas::table
            .filter(schema::areas::id.gt(after))
            .order(schema::areas::id)
            .limit(limit)
            .select((
                schema::areas::id,
                schema::areas::legacy_id,
                schema::areas::codigo,
                schema::areas::nome,
                schema::areas::nome_curto,
                schema::areas::slug,
                schema::areas::prefixo,
                schema::areas::ordem,
                schema::areas::ativo,
                schema::areas::descricao,
                schema::areas::parent_id,
                schema::areas::created_at,
                schema::areas::updated_at,
            ))
            .load::<AreaRow>(c)
            .await)?),
        Table::Users => Batch::Users(with_backend!(conn, |c| schema::users::table
            .filter(schema::users::id.gt(after))
            .order(schema::users::id)
            .limit(limit)
            .select((
                schema::users::id,
                schema::users::legacy_id,
                schema::users::username,
                schema::users::email,
                schema::users::password_hash,
                schema::users::is_staff,
                schema::users::is_superuser,
                schema::users::is_active,
                schema::users::area_codigo,
                schema::users::created_at,
                schema::users::last_login_at,
            ))
            .load::<UserRow>(c)
            .await)?),
        Table::ApiTokens => Batch::ApiTokens(with_backend!(conn, |c| schema::api_tokens::table
            .filter(schema::api_tokens::id.gt(after))
            .order(schema::api_tokens::id)
            .limit(limit)
            .select((
                schema::api_tokens::id,
                schema::api_tokens::user_id,
                schema::api_tokens::token_hash,
                schema::api_tokens::label,
                schema::api_tokens::created_at,
                schema::api_tokens::last_used_at,
                schema::api_tokens::revoked_at,
            ))
            .load::<ApiTokenRow>(c)
            .await)?),
        Table::Pops => Batch::Pops(with_backend!(conn, |c| schema::pops::table
            .filter(schema::pops::id.gt(after))
            .order(schema::pops::id)
            .limit(limit)
            .select((
                schema::pops::id,
                schema::pops::uuid,
                schema::pops::legacy_id,
                schema::pops::session_id,
                schema::pops::created_by_id,
                schema::pops::nome_usuario,
                schema::pops::area_codigo,
                schema::pops::area_nome,
                schema::pops::macroprocesso,
                schema::pops::codigo_processo,
                schema::pops::nome_processo,
                schema::pops::processo_especifico,
                schema::pops::entrega_esperada,
                schema::pops::dispositivos_normativos,
                schema::pops::sistemas_utilizados,
                schema::pops::operadores,
                schema::pops::pontos_atencao,
                schema::pops::etapas,
                schema::pops::documentos_utilizados,
                schema::pops::fluxos_entrada,
                schema::pops::fluxos_saida,
                schema::pops::versao,
                schema::pops::mes_ano,
                schema::pops::data_aprovacao,
                schema::pops::status,
                schema::pops::is_completo,
                schema::pops::integrity_hash,
                schema::pops::autosave_sequence,
                schema::pops::raw_payload,
                schema::pops::created_at,
                schema::pops::updated_at,
                schema::pops::last_autosave_at,
                schema::pops::last_activity_at,
                schema::pops::deleted_at,
                schema::pops::cap_duplicate,
            ))
            .load::<PopRow>(c)
            .await)?),
        Table::PopSnapshots => {
            Batch::PopSnapshots(with_backend!(conn, |c| schema::pop_snapshots::table
                .filter(schema::pop_snapshots::id.gt(after))
                .order(schema::pop_snapshots::id)
                .limit(limit)
                .select(crate::snapshot_columns!())
                .load::<SnapshotRow>(c)
                .await)?)
        }
        Table::PopChangeLog => {
            Batch::PopChangeLog(with_backend!(conn, |c| schema::pop_change_log::table
                .filter(schema::pop_change_log::id.gt(after))
                .order(schema::pop_change_log::id)
                .limit(limit)
                .select(crate::change_log_columns!())
                .load::<ChangeRow>(c)
                .await)?)
        }
        Table::PopVersions => {
            Batch::PopVersions(with_backend!(conn, |c| schema::pop_versions::table
                .filter(schema::pop_versions::id.gt(after))
                .order(schema::pop_versions::id)
                .limit(limit)
                .select(crate::version_columns!())
                .load::<VersionRow>(c)
                .await)?)
        }
        Table::IdempotencyKeys => {
            let order = key_order(conn);
            let after_key = match cursor {
                Cursor::Key(key) => Some(key.clone()),
                _ => None,
            };
            Batch::IdempotencyKeys(with_backend!(conn, |c| {
                let mut query = schema::idempotency_keys::table.into_boxed();
                if let Some(key) = after_key {
                    query = query.filter(
                        diesel::dsl::sql::<diesel::sql_types::Bool>(&format!("{order} > "))
                            .bind::<diesel::sql_types::Text, _>(key),
                    );
                }
                query
                    .order(diesel::dsl::sql::<diesel::sql_types::Text>(order))
                    .limit(limit)
                    .select((
                        schema::idempotency_keys::key,
                        schema::idempotency_keys::request_hash,
                        schema::idempotency_keys::response,
                        schema::idempotency_keys::created_at,
                    ))
                    .load::<IdempotencyRow>(c)
                    .await
            })?)
        }
    })
}

macro_rules! user_values {
    ($r:expr) => {{
        let r: &UserRow = $r;
        (
            schema::users::id.eq(r.id),
            schema::users::legacy_id.eq(r.legacy_id),
            schema::users::username.eq(&r.username),
            schema::users::email.eq(&r.email),
            schema::users::password_hash.eq(&r.password_hash),
            schema::users::is_staff.eq(r.is_staff),
            schema::users::is_superuser.eq(r.is_superuser),
            schema::users::is_active.eq(r.is_active),
            schema::users::area_codigo.eq(&r.area_codigo),
            schema::users::created_at.eq(r.created_at),
            schema::users::last_login_at.eq(r.last_login_at),
        )
    }};
}

macro_rules! area_values {
    ($r:expr) => {{
        let r: &AreaRow = $r;
        (
            schema::areas::id.eq(r.id),
            schema::areas::legacy_id.eq(r.legacy_id),
            schema::areas::codigo.eq(&r.codigo),
            schema::areas::nome.eq(&r.nome),
            schema::areas::nome_curto.eq(&r.nome_curto),
            schema::areas::slug.eq(&r.slug),
            schema::areas::prefixo.eq(&r.prefixo),
            schema::areas::ordem.eq(r.ordem),
            schema::areas::ativo.eq(r.ativo),
            schema::areas::descricao.eq(&r.descricao),
            schema::areas::parent_id.eq(r.parent_id),
            schema::areas::created_at.eq(r.created_at),
            schema::areas::updated_at.eq(r.updated_at),
        )
    }};
}

macro_rules! api_token_values {
    ($r:expr) => {{
        let r: &ApiTokenRow = $r;
        (
            schema::api_tokens::id.eq(r.id),
            schema::api_tokens::user_id.eq(r.user_id),
            schema::api_tokens::token_hash.eq(&r.token_hash),
            schema::api_tokens::label.eq(&r.label),
            schema::api_tokens::created_at.eq(r.created_at),
            schema::api_tokens::last_used_at.eq(r.last_used_at),
            schema::api_tokens::revoked_at.eq(r.revoked_at),
        )
    }};
}

macro_rules! pop_values {
    ($r:expr) => {{
        let r: &PopRow = $r;
        (
            (
                schema::pops::id.eq(r.id),
                schema::pops::uuid.eq(r.uuid),
                schema::pops::legacy_id.eq(r.legacy_id),
                schema::pops::session_id.eq(&r.session_id),
                schema::pops::created_by_id.eq(r.created_by_id),
                schema::pops::nome_usuario.eq(&r.nome_usuario),
                schema::pops::area_codigo.eq(&r.area_codigo),
                schema::pops::area_nome.eq(&r.area_nome),
                schema::pops::macroprocesso.eq(&r.macroprocesso),
                schema::pops::codigo_processo.eq(&r.codigo_processo),
                schema::pops::nome_processo.eq(&r.nome_processo),
                schema::pops::processo_especifico.eq(&r.processo_especifico),
                schema::pops::entrega_esperada.eq(&r.entrega_esperada),
                schema::pops::dispositivos_normativos.eq(&r.dispositivos_normativos),
                schema::pops::sistemas_utilizados.eq(&r.sistemas_utilizados),
                schema::pops::operadores.eq(&r.operadores),
                schema::pops::pontos_atencao.eq(&r.pontos_atencao),
            ),
            (
                schema::pops::etapas.eq(&r.etapas),
                schema::pops::documentos_utilizados.eq(&r.documentos_utilizados),
                schema::pops::fluxos_entrada.eq(&r.fluxos_entrada),
                schema::pops::fluxos_saida.eq(&r.fluxos_saida),
                schema::pops::versao.eq(r.versao),
                schema::pops::mes_ano.eq(&r.mes_ano),
                schema::pops::data_aprovacao.eq(r.data_aprovacao),
                schema::pops::status.eq(r.status),
                schema::pops::is_completo.eq(r.is_completo),
                schema::pops::integrity_hash.eq(&r.integrity_hash),
                schema::pops::autosave_sequence.eq(r.autosave_sequence),
                schema::pops::raw_payload.eq(&r.raw_payload),
                schema::pops::created_at.eq(r.created_at),
                schema::pops::updated_at.eq(r.updated_at),
                schema::pops::last_autosave_at.eq(r.last_autosave_at),
                schema::pops::last_activity_at.eq(r.last_activity_at),
                schema::pops::deleted_at.eq(r.deleted_at),
                schema::pops::cap_duplicate.eq(r.cap_duplicate),
            ),
        )
    }};
}

macro_rules! snapshot_values {
    ($r:expr) => {{
        let r: &SnapshotRow = $r;
        (
            schema::pop_snapshots::id.eq(r.id),
            schema::pop_snapshots::legacy_id.eq(r.legacy_id),
            schema::pop_snapshots::pop_id.eq(r.pop_id),
            schema::pop_snapshots::sequence.eq(r.sequence),
            schema::pop_snapshots::kind.eq(r.kind),
            schema::pop_snapshots::versao.eq(r.versao),
            schema::pop_snapshots::autosave_sequence.eq(r.autosave_sequence),
            schema::pop_snapshots::status.eq(r.status),
            schema::pop_snapshots::integrity_hash.eq(&r.integrity_hash),
            schema::pop_snapshots::payload.eq(&r.payload),
            schema::pop_snapshots::milestone.eq(r.milestone),
            schema::pop_snapshots::milestone_label.eq(&r.milestone_label),
            schema::pop_snapshots::label.eq(&r.label),
            schema::pop_snapshots::created_by_id.eq(r.created_by_id),
            schema::pop_snapshots::created_at.eq(r.created_at),
        )
    }};
}

macro_rules! change_values {
    ($r:expr) => {{
        let r: &ChangeRow = $r;
        (
            schema::pop_change_log::id.eq(r.id),
            schema::pop_change_log::legacy_id.eq(r.legacy_id),
            schema::pop_change_log::pop_id.eq(r.pop_id),
            schema::pop_change_log::user_id.eq(r.user_id),
            schema::pop_change_log::action.eq(r.action),
            schema::pop_change_log::field_name.eq(&r.field_name),
            schema::pop_change_log::old_value.eq(&r.old_value),
            schema::pop_change_log::new_value.eq(&r.new_value),
            schema::pop_change_log::autosave_sequence.eq(r.autosave_sequence),
            schema::pop_change_log::snapshot_id.eq(r.snapshot_id),
            schema::pop_change_log::created_at.eq(r.created_at),
        )
    }};
}

macro_rules! version_values {
    ($r:expr) => {{
        let r: &VersionRow = $r;
        (
            schema::pop_versions::id.eq(r.id),
            schema::pop_versions::legacy_id.eq(r.legacy_id),
            schema::pop_versions::pop_id.eq(r.pop_id),
            schema::pop_versions::versao.eq(r.versao),
            schema::pop_versions::payload.eq(&r.payload),
            schema::pop_versions::integrity_hash.eq(&r.integrity_hash),
            schema::pop_versions::published_by_id.eq(r.published_by_id),
            schema::pop_versions::published_at.eq(r.published_at),
            schema::pop_versions::motivo.eq(&r.motivo),
            schema::pop_versions::is_current.eq(r.is_current),
        )
    }};
}

macro_rules! idempotency_values {
    ($r:expr) => {{
        let r: &IdempotencyRow = $r;
        (
            schema::idempotency_keys::key.eq(&r.key),
            schema::idempotency_keys::request_hash.eq(&r.request_hash),
            schema::idempotency_keys::response.eq(&r.response),
            schema::idempotency_keys::created_at.eq(r.created_at),
        )
    }};
}

/// Inserts rows with their ids: one multi-row statement on PostgreSQL, row by row on SQLite
/// (in-process; its multi-row insert cannot express the nullable columns).
macro_rules! insert_all {
    ($conn:expr, $table:ident, $rows:expr, $values:ident) => {{
        match $conn {
            Conn::Pg(c) => {
                use crate::db::schema::pg as schema;
                let values: Vec<_> = $rows.iter().map(|r| $values!(r)).collect();
                diesel::insert_into(schema::$table::table)
                    .values(values)
                    .execute(&mut **c)
                    .await?;
            }
            Conn::Sqlite(c) => {
                use crate::db::schema::sqlite as schema;
                for r in $rows.iter() {
                    diesel::insert_into(schema::$table::table)
                        .values($values!(r))
                        .execute(&mut **c)
                        .await?;
                }
            }
        }
    }};
}

/// Inserts a batch, keeping every id and key.
///
/// Every writer of copies and loads passes here, so this is where a row holding a NUL
/// character (which PostgreSQL's `text` and `jsonb` cannot store, and which the API refuses on
/// both backends) is refused before anything of its batch is written, naming the table, the
/// row and the column, on either backend alike: the caller's transaction then rolls back.
pub async fn insert_batch(conn: &mut Conn<'_>, batch: &Batch) -> Result<(), AppError> {
    if batch.is_empty() {
        return Ok(());
    }
    refuse_nul(batch)?;
    match batch {
        // `parent_id` may name a later row (a sub-area moved under a newer area): the foreign key
        // is checked at commit (DEFERRABLE INITIALLY DEFERRED).
        Batch::Areas(rows) => insert_all!(conn, areas, rows, area_values),
        Batch::Users(rows) => insert_all!(conn, users, rows, user_values),
        Batch::ApiTokens(rows) => insert_all!(conn, api_tokens, rows, api_token_values),
        Batch::Pops(rows) => insert_all!(conn, pops, rows, pop_values),
        Batch::PopSnapshots(rows) => insert_all!(conn, pop_snapshots, rows, snapshot_values),
        Batch::PopChangeLog(rows) => insert_all!(conn, pop_change_log, rows, change_values),
        Batch::PopVersions(rows) => insert_all!(conn, pop_versions, rows, version_values),
        Batch::IdempotencyKeys(rows) => {
            insert_all!(conn, idempotency_keys, rows, idempotency_values)
        }
    }
    Ok(())
}

/// `BAD_USER_INPUT` naming the first row of `batch` with a NUL character in a string (or in a
/// JSON key), with the cleaning the operator has to do.
fn refuse_nul(batch: &Batch) -> Result<(), AppError> {
    for row in batch.to_values()? {
        let Value::Object(columns) = &row else {
            continue;
        };
        if let Some(column) = columns
            .iter()
            .find_map(|(name, value)| nul_path(value).map(|path| format!("{name}{path}")))
        {
            let id = columns
                .get("id")
                .map_or_else(|| "?".to_owned(), Value::to_string);
            return Err(AppError::BadUserInput {
                message: format!(
                    "row {id} of {table} holds a NUL character (\\u0000) in {column}, which \
                     PostgreSQL cannot store and MapaGov does not accept; remove it in the source \
                     and run again (nothing was written)",
                    table = batch.table().name()
                ),
                field: None,
            });
        }
    }
    Ok(())
}

/// Where in `value` a string or key holds NUL: `""` for the value itself, `.key` / `.0` below.
pub(crate) fn nul_path(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => text.contains('\0').then(String::new),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| nul_path(item).map(|path| format!(".{index}{path}"))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                Some(String::new())
            } else {
                nul_path(item).map(|path| format!(".{key}{path}"))
            }
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    }
}

/// How many rows a table holds.
pub async fn count(conn: &mut Conn<'_>, table: Table) -> Result<i64, AppError> {
    Ok(match table {
        Table::Areas => with_backend!(conn, |c| schema::areas::table
            .count()
            .get_result::<i64>(c)
            .await)?,
        Table::Users => with_backend!(conn, |c| schema::users::table
            .count()
            .get_result::<i64>(c)
            .await)?,
        Table::ApiTokens => with_backend!(conn, |c| schema::api_tokens::table
            .count()
            .get_result::<i64>(c)
            .await)?,
        Table::Pops => with_backend!(conn, |c| schema::pops::table
            .count()
            .get_result::<i64>(c)
            .await)?,
        Table::PopSnapshots => with_backend!(conn, |c| schema::pop_snapshots::table
            .count()
            .get_result::<i64>(c)
            .await)?,
        Table::PopChangeLog => with_backend!(conn, |c| schema::pop_change_log::table
            .count()
            .get_result::<i64>(c)
            .await)?,
        Table::PopVersions => with_backend!(conn, |c| schema::pop_versions::table
            .count()
            .get_result::<i64>(c)
            .await)?,
        Table::IdempotencyKeys => with_backend!(conn, |c| schema::idempotency_keys::table
            .count()
            .get_result::<i64>(c)
            .await)?,
    })
}

/// Deletes every row of every table, children first.
pub async fn delete_all(conn: &mut Conn<'_>) -> Result<(), AppError> {
    with_backend!(conn, |c| {
        diesel::delete(schema::idempotency_keys::table)
            .execute(&mut *c)
            .await?;
        diesel::delete(schema::pop_versions::table)
            .execute(&mut *c)
            .await?;
        diesel::delete(schema::pop_change_log::table)
            .execute(&mut *c)
            .await?;
        diesel::delete(schema::pop_snapshots::table)
            .execute(&mut *c)
            .await?;
        diesel::delete(schema::pops::table).execute(&mut *c).await?;
        diesel::delete(schema::api_tokens::table)
            .execute(&mut *c)
            .await?;
        diesel::delete(schema::users::table)
            .execute(&mut *c)
            .await?;
        // Sub-areas name their parents; the check is deferred to the commit.
        diesel::delete(schema::areas::table).execute(&mut *c).await
    })?;
    Ok(())
}

/// On PostgreSQL, moves every identity sequence past the largest id, so the next row created gets
/// a fresh id (SQLite derives the next id from the table itself).
pub async fn reset_sequences(conn: &mut Conn<'_>) -> Result<(), AppError> {
    if let Conn::Pg(c) = conn {
        for table in Table::ALL.into_iter().filter(|t| t.has_identity()) {
            let name = table.name();
            diesel::sql_query(format!(
                "SELECT setval(pg_get_serial_sequence('{name}', 'id'), \
                 COALESCE((SELECT MAX(id) FROM {name}), 0) + 1, false)"
            ))
            .execute(&mut **c)
            .await?;
        }
    }
    Ok(())
}
