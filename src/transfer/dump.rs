//! `mapagov dump`: the whole database as JSON lines (see `docs/DUMP_FORMAT.md`).
//!
//! Line 1 is the [`Header`]; then one line per row, `{"table":"pops","row":{…}}`, tables in
//! [`Table::ALL`] order and rows in key order; the last line is the [`Trailer`] with each table's
//! row count and checksum ([`super::checksum`]). Rows are read in batches of
//! [`BATCH_SIZE`] inside one read-only transaction, so memory stays constant and the dump is
//! consistent even while the server writes.

use super::checksum::{Checksums, Hasher};
use super::report::Progress;
use super::rows::{read_batch, Cursor, Table, BATCH_SIZE};
use super::snapshot_read::read_consistent;
use crate::db::{Backend, Conn, Db};
use anyhow::Context;
use chrono::Utc;
use scoped_futures::ScopedFutureExt;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The `format` of a dump's header.
pub const FORMAT: &str = "mapagov-dump";
/// The format version this binary writes and the newest it reads.
pub const VERSION: u32 = 2;

/// The first line of a dump.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// Format version ([`VERSION`] when written by this binary).
    pub version: u32,
    /// When the dump was taken (RFC 3339 UTC).
    pub created_at: String,
    /// `postgres` or `sqlite`.
    pub source_backend: String,
    /// The newest migration applied to the source (the schema the rows fit).
    #[serde(default)]
    pub schema_version: Option<String>,
    /// The tables that follow, in order.
    pub tables: Vec<String>,
}

/// The last line of a dump: `{"trailer": {"tables": {…}}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trailer {
    /// Row count and checksum per table.
    pub tables: Checksums,
}

/// The name a backend has in a dump header.
pub fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "postgres",
        Backend::Sqlite => "sqlite",
    }
}

/// What a failed write of a dump line says before its cause.
const CANNOT_WRITE: &str = "cannot write the dump";

/// Writes the whole database to `out`; returns the checksums written in the trailer.
pub async fn dump<W: Write + Send>(
    db: &Db,
    schema_version: Option<String>,
    out: &mut W,
    progress: &mut Progress,
) -> anyhow::Result<Checksums> {
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        created_at: super::rows::timestamp::format(&Utc::now()),
        source_backend: backend_name(db.backend()).into(),
        schema_version,
        tables: Table::ALL.iter().map(|t| t.name().to_owned()).collect(),
    };
    serde_json::to_writer(&mut *out, &header).context(CANNOT_WRITE)?;
    out.write_all(b"\n").context(CANNOT_WRITE)?;
    let reborrowed = &mut *progress;
    let sums = read_consistent(db, |mut conn| {
        async move { write_rows(&mut conn, out, reborrowed).await }.scope_boxed()
    })
    .await?;
    progress.finish();
    Ok(sums)
}

async fn write_rows<W: Write + Send>(
    conn: &mut Conn<'_>,
    out: &mut W,
    progress: &mut Progress,
) -> anyhow::Result<Checksums> {
    let mut sums = Checksums::new();
    for table in Table::ALL {
        let mut hasher = Hasher::new();
        let mut cursor = Cursor::Start;
        let prefix = format!("{{\"table\":\"{}\",\"row\":", table.name());
        loop {
            let batch = read_batch(conn, table, &cursor, BATCH_SIZE).await?;
            for row in batch.to_values()? {
                hasher.add(&row);
                out.write_all(prefix.as_bytes()).context(CANNOT_WRITE)?;
                serde_json::to_writer(&mut *out, &row).context(CANNOT_WRITE)?;
                out.write_all(b"}\n").context(CANNOT_WRITE)?;
            }
            progress.add(table.name(), batch.len() as u64);
            match batch.last_cursor() {
                Some(next) if batch.len() as i64 == BATCH_SIZE => cursor = next,
                _ => break,
            }
        }
        sums.insert(table.name().to_owned(), hasher.sum());
    }
    let trailer = serde_json::json!({ "trailer": Trailer { tables: sums.clone() } });
    serde_json::to_writer(&mut *out, &trailer).context(CANNOT_WRITE)?;
    out.write_all(b"\n").context(CANNOT_WRITE)?;
    out.flush().context(CANNOT_WRITE)?;
    Ok(sums)
}

/// Dumps to `path` through a `.partial` file, so an interrupted dump never looks complete.
pub async fn dump_to_file(
    db: &Db,
    schema_version: Option<String>,
    path: &Path,
    progress: &mut Progress,
) -> anyhow::Result<Checksums> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let result = dump(db, schema_version, &mut out, progress).await;
    let finished = result.and_then(|sums| {
        out.flush()
            .and_then(|()| out.get_ref().sync_all())
            .with_context(|| format!("cannot write {}", partial.display()))?;
        std::fs::rename(&partial, path)
            .with_context(|| format!("cannot rename to {}", path.display()))?;
        Ok(sums)
    });
    if finished.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    finished
}
