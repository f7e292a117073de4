//! A consistent read of the whole database: one read-only transaction (`REPEATABLE READ` on
//! PostgreSQL; on SQLite a deferred transaction, which in WAL mode reads one snapshot), so a dump
//! or copy taken while the server runs sees every table as of one moment.

use crate::db::{Conn, Db, PooledConn};
use crate::error::AppError;
use diesel_async::{AnsiTransactionManager, AsyncConnection, TransactionManager};
use scoped_futures::ScopedBoxFuture;

/// Runs `f` inside one read-only transaction, always rolled back at the end. `f` fails with
/// [`AppError`] or with an error that wraps one (an operator command's `anyhow::Error`).
pub async fn read_consistent<'a, T, E, F>(db: &Db, f: F) -> Result<T, E>
where
    E: From<AppError>,
    F: for<'r> FnOnce(Conn<'r>) -> ScopedBoxFuture<'a, 'r, Result<T, E>>,
{
    let mut pooled = db.get().await?;
    match &mut pooled {
        PooledConn::Pg(conn) => {
            let conn: &mut diesel_async::AsyncPgConnection = conn;
            AnsiTransactionManager::begin_transaction_sql(
                conn,
                "BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
            )
            .await
            .map_err(AppError::from)?;
            let outcome = f(Conn::Pg(conn)).await;
            AnsiTransactionManager::rollback_transaction(conn)
                .await
                .map_err(AppError::from)?;
            outcome
        }
        PooledConn::Sqlite(conn) => {
            let conn: &mut crate::db::SqliteConn = conn;
            conn.spawn_blocking(|c| {
                diesel::connection::AnsiTransactionManager::begin_transaction_sql(c, "BEGIN")
            })
            .await
            .map_err(AppError::from)?;
            let outcome = f(Conn::Sqlite(conn)).await;
            <crate::db::SqliteConn as AsyncConnection>::TransactionManager::rollback_transaction(
                conn,
            )
            .await
            .map_err(AppError::from)?;
            outcome
        }
    }
}
