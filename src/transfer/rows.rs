//! Every column of every table as one typed row, read in key-ordered batches and written back
//! with its ids: the unit of dumps, loads, copies and checksums.
//!
//! A row's JSON form (its serde serialization) is the dump format's `row` object: column names as
//! keys, timestamps as RFC 3339 UTC with microseconds (`2025-10-12T02:53:26.239427Z`, what both
//! backends store), dates as `YYYY-MM-DD`, uuids hyphenated, JSON columns as JSON.
//!
//! Where the application's model already reads every column (`Area`, `Snapshot`,
//! `ChangeLogEntry`, `PublishedVersion` in [`crate::db::models`]), the model is the dump's row,
//! with the dump's serde formats; the tables whose model leaves columns out (`users` without the
//! password hash, `pops` split in two) have a full row declared here.

use crate::db::models::{Area, ChangeLogEntry, PublishedVersion, Snapshot};
use crate::db::types::DbUuid;
use crate::db::Conn;
use crate::domain::Status;
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

pub use crate::db::types::timestamp;

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

crate::db_row! {
    /// A `users` row, password hash included.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(missing_docs)]
    pub struct UserRow in users {
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
}

crate::db_row! {
    /// An `api_tokens` row: the token's SHA-256 digest, never the token itself.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(missing_docs)]
    pub struct ApiTokenRow in api_tokens {
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
}

crate::db_row! {
    /// A `pops` row.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(missing_docs)]
    pub struct PopRow in pops {
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
}

crate::db_row! {
    /// An `idempotency_keys` row.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(missing_docs)]
    pub struct IdempotencyRow in idempotency_keys {
        pub key: String,
        pub request_hash: String,
        pub response: Value,
        #[serde(with = "timestamp")]
        pub created_at: DateTime<Utc>,
    }
}

/// One batch of rows of one table, in key order.
#[derive(Debug, Clone, PartialEq)]
pub enum Batch {
    /// `areas` rows.
    Areas(Vec<Area>),
    /// `users` rows.
    Users(Vec<UserRow>),
    /// `api_tokens` rows.
    ApiTokens(Vec<ApiTokenRow>),
    /// `pops` rows.
    Pops(Vec<PopRow>),
    /// `pop_snapshots` rows.
    PopSnapshots(Vec<Snapshot>),
    /// `pop_change_log` rows.
    PopChangeLog(Vec<ChangeLogEntry>),
    /// `pop_versions` rows.
    PopVersions(Vec<PublishedVersion>),
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
            .select(Area::as_select())
            .load::<Area>(c)
            .await)?),
        Table::Users => Batch::Users(with_backend!(conn, |c| schema::users::table
            .filter(schema::users::id.gt(after))
            .order(schema::users::id)
            .limit(limit)
            .select(UserRow::as_select())
            .load::<UserRow>(c)
            .await)?),
        Table::ApiTokens => Batch::ApiTokens(with_backend!(conn, |c| schema::api_tokens::table
            .filter(schema::api_tokens::id.gt(after))
            .order(schema::api_tokens::id)
            .limit(limit)
            .select(ApiTokenRow::as_select())
            .load::<ApiTokenRow>(c)
            .await)?),
        Table::Pops => Batch::Pops(with_backend!(conn, |c| schema::pops::table
            .filter(schema::pops::id.gt(after))
            .order(schema::pops::id)
            .limit(limit)
            .select(PopRow::as_select())
            .load::<PopRow>(c)
            .await)?),
        Table::PopSnapshots => {
            Batch::PopSnapshots(with_backend!(conn, |c| schema::pop_snapshots::table
                .filter(schema::pop_snapshots::id.gt(after))
                .order(schema::pop_snapshots::id)
                .limit(limit)
                .select(Snapshot::as_select())
                .load::<Snapshot>(c)
                .await)?)
        }
        Table::PopChangeLog => {
            Batch::PopChangeLog(with_backend!(conn, |c| schema::pop_change_log::table
                .filter(schema::pop_change_log::id.gt(after))
                .order(schema::pop_change_log::id)
                .limit(limit)
                .select(ChangeLogEntry::as_select())
                .load::<ChangeLogEntry>(c)
                .await)?)
        }
        Table::PopVersions => {
            Batch::PopVersions(with_backend!(conn, |c| schema::pop_versions::table
                .filter(schema::pop_versions::id.gt(after))
                .order(schema::pop_versions::id)
                .limit(limit)
                .select(PublishedVersion::as_select())
                .load::<PublishedVersion>(c)
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
                    .select(IdempotencyRow::as_select())
                    .load::<IdempotencyRow>(c)
                    .await
            })?)
        }
    })
}

/// Inserts `rows` of `table` with their ids: one statement on PostgreSQL, one per row on SQLite.
macro_rules! insert_rows_of {
    ($conn:expr, $table:ident, $rows:expr) => {
        with_backend!($conn, |c| insert_rows!(
            c,
            schema::$table::table,
            $rows.as_slice()
        ))?
    };
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
        Batch::Areas(rows) => insert_rows_of!(conn, areas, rows),
        Batch::Users(rows) => insert_rows_of!(conn, users, rows),
        Batch::ApiTokens(rows) => insert_rows_of!(conn, api_tokens, rows),
        Batch::Pops(rows) => insert_rows_of!(conn, pops, rows),
        Batch::PopSnapshots(rows) => insert_rows_of!(conn, pop_snapshots, rows),
        Batch::PopChangeLog(rows) => insert_rows_of!(conn, pop_change_log, rows),
        Batch::PopVersions(rows) => insert_rows_of!(conn, pop_versions, rows),
        Batch::IdempotencyKeys(rows) => insert_rows_of!(conn, idempotency_keys, rows),
    };
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
            .execute(&mut *c)
            .await?;
        }
    }
    Ok(())
}
