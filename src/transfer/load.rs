//! `mapagov load`: a dump back into a database, in one transaction.
//!
//! The header is checked first (format, version not newer than [`VERSION`], schema version equal
//! to the target's). Then, in one write transaction: the target must be empty unless `replace`
//! (which deletes every row first); rows are inserted in batches with their ids; the trailer must
//! come last and match the rows read; PostgreSQL sequences are moved past the largest ids; and the
//! checksums recomputed from the target must equal the trailer's. Anything wrong (a truncated
//! file, a bad line, a mismatch) rolls everything back: the target is left as it was.
//!
//! A table the dump does not carry at all (named neither in its header's `tables` nor in its
//! trailer, as in dumps written before `api_tokens` joined the format) is expected empty: it loads
//! with no rows. A table the header names but the trailer leaves out is a damaged dump.

use super::checksum::{checksums, compare, Checksums, Hasher};
use super::dump::{Header, Trailer, FORMAT, VERSION};
use super::report::Progress;
use super::rows::{count, delete_all, insert_batch, reset_sequences, Batch, Table, BATCH_SIZE};
use crate::db::{Conn, Db};
use crate::error::AppError;
use scoped_futures::ScopedFutureExt;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::BufRead;

/// What a load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// The dump's header.
    pub source_backend: String,
    /// Rows and checksums loaded (equal to the dump's trailer and to the target after loading).
    pub tables: Checksums,
    /// Whether existing rows were deleted first.
    pub replaced: bool,
}

fn bad(message: impl Into<String>) -> AppError {
    AppError::BadUserInput {
        message: message.into(),
        field: None,
    }
}

/// Reads and checks the header line.
pub fn read_header(line: &str, target_schema: Option<&str>) -> Result<Header, AppError> {
    let value: Value = serde_json::from_str(line)
        .map_err(|_| bad("not a mapagov dump: the first line is not JSON"))?;
    if value.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(bad(format!(
            "not a mapagov dump: the first line must have \"format\": \"{FORMAT}\""
        )));
    }
    let version = value.get("version").and_then(Value::as_u64).unwrap_or(0);
    if version > u64::from(VERSION) {
        return Err(bad(format!(
            "this dump uses format version {version}, newer than the newest this mapagov reads \
             ({VERSION}); load it with a newer mapagov"
        )));
    }
    let header: Header = serde_json::from_value(value)
        .map_err(|e| bad(format!("the dump header is invalid: {e}")))?;
    if let (Some(dump), Some(target)) = (header.schema_version.as_deref(), target_schema) {
        if dump != target {
            return Err(bad(format!(
                "the dump was taken at schema version {dump} but the target is at {target}; \
                 load it with the mapagov version that took it, or migrate the source first"
            )));
        }
    }
    Ok(header)
}

/// Loads a dump whose header line has been read already; `lines` yields the rest.
pub async fn load<R: BufRead + Send>(
    db: &Db,
    header: Header,
    lines: R,
    replace: bool,
    progress: &mut Progress,
) -> Result<LoadReport, AppError> {
    let reborrowed = &mut *progress;
    let declared = &header.tables;
    let tables = db
        .write(|mut conn| {
            async move { write(&mut conn, declared, lines, replace, reborrowed).await }
                .scope_boxed()
        })
        .await?;
    progress.finish();
    Ok(LoadReport {
        source_backend: header.source_backend,
        tables,
        replaced: replace,
    })
}

/// The checksums the loaded rows must match: the trailer's, plus the empty sum of every table
/// the dump does not carry at all (absent from both `declared`, the header's list, and the
/// trailer).
fn expected_sums(declared: &[String], trailer: &Checksums) -> Checksums {
    let mut expected = trailer.clone();
    for table in Table::ALL {
        let name = table.name();
        if !expected.contains_key(name) && !declared.iter().any(|d| d == name) {
            expected.insert(name.to_owned(), Hasher::new().sum());
        }
    }
    expected
}

async fn write<R: BufRead>(
    conn: &mut Conn<'_>,
    declared: &[String],
    lines: R,
    replace: bool,
    progress: &mut Progress,
) -> Result<Checksums, AppError> {
    if replace {
        delete_all(conn).await?;
    } else {
        for table in Table::ALL {
            let n = count(conn, table).await?;
            if n > 0 {
                return Err(bad(format!(
                    "the target database is not empty ({} has {n} rows); nothing was loaded. \
                     Use --replace to delete everything in it first",
                    table.name()
                )));
            }
        }
    }
    let mut hashers: BTreeMap<Table, Hasher> = Table::ALL.map(|t| (t, Hasher::new())).into();
    let mut batch: Option<Batch> = None;
    let mut trailer: Option<Trailer> = None;
    for (index, line) in lines.lines().enumerate() {
        let number = index + 2;
        let line = line.map_err(|e| bad(format!("cannot read the dump: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        if trailer.is_some() {
            return Err(bad(format!(
                "line {number}: data after the trailer; the dump is damaged"
            )));
        }
        let mut value: Value = serde_json::from_str(&line).map_err(|e| {
            bad(format!(
                "line {number}: not JSON ({e}); the dump is damaged"
            ))
        })?;
        if let Some(t) = value.get_mut("trailer") {
            let parsed: Trailer = serde_json::from_value(t.take())
                .map_err(|e| bad(format!("line {number}: invalid trailer: {e}")))?;
            trailer = Some(parsed);
            continue;
        }
        let table = value
            .get("table")
            .and_then(Value::as_str)
            .and_then(Table::parse)
            .ok_or_else(|| bad(format!("line {number}: not a row of a known table")))?;
        let row = value
            .get_mut("row")
            .map(Value::take)
            .ok_or_else(|| bad(format!("line {number}: a row line without \"row\"")))?;
        let current = batch.as_ref().map(Batch::table);
        if current.is_some_and(|t| t > table) {
            return Err(bad(format!(
                "line {number}: a {} row after {} rows; tables must come parents first",
                table.name(),
                current.map(Table::name).unwrap_or_default()
            )));
        }
        if current != Some(table) || batch.as_ref().is_some_and(|b| b.len() as i64 >= BATCH_SIZE) {
            if let Some(full) = batch.take() {
                insert_batch(conn, &full).await?;
                progress.add(full.table().name(), full.len() as u64);
            }
            batch = Some(Batch::empty(table));
        }
        let Some(open) = batch.as_mut() else {
            return Err(AppError::internal("no open batch"));
        };
        open.push_value(row)
            .map_err(|e| bad(format!("line {number}: invalid {} row: {e}", table.name())))?;
        // Hash the row as it will be stored (its typed, normalized form).
        if let Some(last) = open.to_last_value()? {
            if let Some(h) = hashers.get_mut(&table) {
                h.add(&last);
            }
        }
    }
    if let Some(rest) = batch.take() {
        insert_batch(conn, &rest).await?;
        progress.add(rest.table().name(), rest.len() as u64);
    }
    let Some(trailer) = trailer else {
        return Err(bad(
            "the dump is truncated (no trailer line); nothing was loaded",
        ));
    };
    let expected = expected_sums(declared, &trailer.tables);
    let read: Checksums = hashers
        .iter()
        .map(|(t, h)| (t.name().to_owned(), h.sum()))
        .collect();
    let differ = compare(&expected, &read);
    if !differ.is_empty() {
        return Err(bad(format!(
            "the rows do not match the dump's trailer; nothing was loaded: {}",
            differ
                .iter()
                .map(|m| m.describe())
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    reset_sequences(conn).await?;
    let stored = checksums(conn).await?;
    let differ = compare(&expected, &stored);
    if !differ.is_empty() {
        return Err(AppError::internal(format!(
            "the loaded rows read back differently; nothing was loaded: {}",
            differ
                .iter()
                .map(|m| m.describe())
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    Ok(stored)
}
