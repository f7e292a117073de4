//! Embedded migrations, one folder per backend, run at start-up and by `mapagov migrate`.

use super::{tls::PgConnector, SqliteConn};
use crate::config::{DatabaseConfig, DatabaseUrl};
use crate::error::AppError;
use diesel::backend::Backend;
use diesel::migration::MigrationSource;
use diesel_async::{AsyncConnection, AsyncMigrationHarness, SimpleAsyncConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

/// PostgreSQL migrations (`migrations/postgres`).
pub const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// SQLite migrations (`migrations/sqlite`).
pub const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// What to do with the migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Apply every pending migration.
    Up,
    /// Revert the most recent migration.
    DownOne,
    /// Revert every migration (an empty database; for tests and rehearsals).
    DownAll,
}

/// Migration versions applied and pending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// Versions present in the database.
    pub applied: Vec<String>,
    /// Versions embedded in this binary but not yet applied.
    pub pending: Vec<String>,
}

type HarnessResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Runs migrations on a dedicated connection (not a pooled one) and returns the versions touched.
///
/// Needs the multi-threaded tokio runtime: diesel's migration harness is synchronous.
pub async fn run(config: &DatabaseConfig, direction: Direction) -> Result<Vec<String>, AppError> {
    match &config.url {
        DatabaseUrl::Postgres(url) => {
            let connector = PgConnector::new(config.tls.clone()).map_err(AppError::internal)?;
            let mut harness = AsyncMigrationHarness::new(connector.connect(url).await?);
            apply(&mut harness, POSTGRES, direction)
        }
        DatabaseUrl::Sqlite(path) => {
            let mut harness = AsyncMigrationHarness::new(open_sqlite(path, config).await?);
            apply(&mut harness, SQLITE, direction)
        }
    }
    .map_err(|e| AppError::internal(format!("migration failed: {e}")))
}

/// Which migrations are applied and which are pending.
pub async fn status(config: &DatabaseConfig) -> Result<Status, AppError> {
    match &config.url {
        DatabaseUrl::Postgres(url) => {
            let connector = PgConnector::new(config.tls.clone()).map_err(AppError::internal)?;
            let mut harness = AsyncMigrationHarness::new(connector.connect(url).await?);
            read_status(&mut harness, POSTGRES)
        }
        DatabaseUrl::Sqlite(path) => {
            let mut harness = AsyncMigrationHarness::new(open_sqlite(path, config).await?);
            read_status(&mut harness, SQLITE)
        }
    }
    .map_err(|e| AppError::internal(format!("could not read migration status: {e}")))
}

/// A connection of its own to the SQLite file, which waits for the file's lock as the pool's
/// connections do (`DB_STATEMENT_TIMEOUT`) instead of failing at once with `database is locked`
/// while the server writes (the readiness check reads the migrations of a running server).
async fn open_sqlite(
    path: &std::path::Path,
    config: &DatabaseConfig,
) -> Result<SqliteConn, AppError> {
    let path = path
        .to_str()
        .ok_or_else(|| AppError::internal("the SQLite path is not valid UTF-8"))?;
    let mut conn = SqliteConn::establish(path).await?;
    let busy_ms = config.statement_timeout.as_millis();
    conn.batch_execute(&format!("PRAGMA busy_timeout = {busy_ms}"))
        .await?;
    Ok(conn)
}

fn apply<DB: Backend>(
    harness: &mut impl MigrationHarness<DB>,
    source: impl MigrationSource<DB>,
    direction: Direction,
) -> HarnessResult<Vec<String>> {
    let versions = match direction {
        Direction::Up => harness.run_pending_migrations(source)?,
        Direction::DownOne => vec![harness.revert_last_migration(source)?],
        Direction::DownAll => harness.revert_all_migrations(source)?,
    };
    Ok(versions.iter().map(ToString::to_string).collect())
}

fn read_status<DB: Backend>(
    harness: &mut impl MigrationHarness<DB>,
    source: impl MigrationSource<DB>,
) -> HarnessResult<Status> {
    let applied = harness
        .applied_migrations()?
        .iter()
        .map(ToString::to_string)
        .collect();
    let pending = harness
        .pending_migrations(source)?
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    Ok(Status { applied, pending })
}
