//! `copy`: one database into another (SQLite → PostgreSQL or back), streaming, then verified.
//!
//! The source is read inside one read-only transaction (a consistent view, never written); the
//! target is written inside one write transaction. Rows keep their ids, PostgreSQL sequences are
//! moved past them, and before committing the target's per-table counts and checksums are
//! recomputed and compared with the source's: any difference rolls the copy back and names the
//! tables. A dry run only reads the source and reports what would be copied.

use super::checksum::{checksums, compare, Checksums, Hasher, Mismatch};
use super::report::Progress;
use super::rows::{
    count, delete_all, insert_batch, read_batch, reset_sequences, Cursor, Table, BATCH_SIZE,
};
use super::snapshot_read::read_consistent;
use crate::db::{Conn, Db};
use crate::error::AppError;
use scoped_futures::ScopedFutureExt;

/// What a copy did (or, for a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// The source's rows and checksums.
    pub source: Checksums,
    /// The target's after the copy (`None` for a dry run).
    pub target: Option<Checksums>,
}

/// Reads the source's counts and checksums without writing anything anywhere.
pub async fn dry_run(source: &Db) -> Result<CopyReport, AppError> {
    let sums = read_consistent(source, |mut conn| {
        async move { checksums(&mut conn).await }.scope_boxed()
    })
    .await?;
    Ok(CopyReport {
        source: sums,
        target: None,
    })
}

/// Copies every row of `source` into `target` (migrated, and empty unless `replace`).
pub async fn copy(
    source: &Db,
    target: &Db,
    replace: bool,
    progress: &mut Progress,
) -> Result<CopyReport, AppError> {
    let reborrowed = &mut *progress;
    let report = target
        .write(|mut tconn| {
            async move {
                prepare_target(&mut tconn, replace).await?;
                let tconn_ref = &mut tconn;
                let source_sums = read_consistent(source, |mut sconn| {
                    async move { stream(&mut sconn, tconn_ref, reborrowed).await }.scope_boxed()
                })
                .await?;
                reset_sequences(&mut tconn).await?;
                let target_sums = checksums(&mut tconn).await?;
                let differ = compare(&source_sums, &target_sums);
                if !differ.is_empty() {
                    return Err(AppError::internal(format!(
                        "the copy does not match the source; nothing was written: {}",
                        differ
                            .iter()
                            .map(Mismatch::describe)
                            .collect::<Vec<_>>()
                            .join("; ")
                    )));
                }
                Ok(CopyReport {
                    source: source_sums,
                    target: Some(target_sums),
                })
            }
            .scope_boxed()
        })
        .await?;
    progress.finish();
    Ok(report)
}

async fn prepare_target(conn: &mut Conn<'_>, replace: bool) -> Result<(), AppError> {
    if replace {
        return delete_all(conn).await;
    }
    for table in Table::ALL {
        let n = count(conn, table).await?;
        if n > 0 {
            return Err(AppError::BadUserInput {
                message: format!(
                    "the target database is not empty ({} has {n} rows); nothing was copied. \
                     Use --replace to delete everything in it first",
                    table.name()
                ),
                field: None,
            });
        }
    }
    Ok(())
}

async fn stream(
    source: &mut Conn<'_>,
    target: &mut Conn<'_>,
    progress: &mut Progress,
) -> Result<Checksums, AppError> {
    let mut sums = Checksums::new();
    for table in Table::ALL {
        let mut hasher = Hasher::new();
        let mut cursor = Cursor::Start;
        loop {
            let batch = read_batch(source, table, &cursor, BATCH_SIZE).await?;
            for row in batch.to_values()? {
                hasher.add(&row);
            }
            insert_batch(target, &batch).await?;
            progress.add(table.name(), batch.len() as u64);
            match batch.last_cursor() {
                Some(next) if batch.len() as i64 == BATCH_SIZE => cursor = next,
                _ => break,
            }
        }
        sums.insert(table.name().to_owned(), hasher.sum());
    }
    Ok(sums)
}
