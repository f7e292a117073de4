//! The database layer: pools for both backends, the backend switch and migrations.
//!
//! PostgreSQL runs through diesel-async's `AsyncPgConnection`; SQLite through
//! `SyncConnectionWrapper<SqliteConnection>` (the bundled SQLite, in WAL mode, with
//! `synchronous = FULL` unless `SQLITE_SYNCHRONOUS` says otherwise: every commit is on disk before
//! it is acknowledged). Both sit in a bb8
//! pool behind [`Db`]. Queries are written once against [`schema`] and run on either backend with
//! [`crate::with_backend!`]; every write goes through [`Db::write`], one transaction that on SQLite
//! takes the write lock up front (`BEGIN IMMEDIATE`) and on PostgreSQL relies on row locks.

pub mod events;
pub mod explain;
pub mod fault;
pub mod history;
pub mod json;
pub mod migrate;
pub mod models;
pub mod pool;
pub mod prepared;
pub mod presence;
pub mod queries;
pub mod replica;
pub mod row;
pub mod schema;
pub mod search;
pub mod tls;
pub mod types;
pub mod versions;

use crate::config::{DatabaseConfig, DatabaseUrl};
use crate::error::AppError;
use diesel::SqliteConnection;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{
    AnsiTransactionManager, AsyncConnection, AsyncPgConnection, SimpleAsyncConnection,
    TransactionManager,
};
use pool::{AgedManager, MaxAge};
use scoped_futures::ScopedBoxFuture;
use std::sync::Arc;
use std::time::Duration;

/// The SQLite connection type.
pub type SqliteConn = SyncConnectionWrapper<SqliteConnection>;
pub(crate) type PgPool = bb8::Pool<AgedManager<AsyncPgConnection>>;
type SqlitePool = bb8::Pool<AgedManager<SqliteConn>>;

/// Which database engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

/// A borrowed connection of either backend, as queries see it.
///
/// A PostgreSQL connection is borrowed shared: diesel-async runs queries through `&AsyncPgConnection`
/// and pipelines the ones in flight at once (see [`crate::pipelined!`]); its transaction is
/// managed by [`Db::write`], which holds the connection itself.
pub enum Conn<'a> {
    /// A PostgreSQL connection.
    Pg(&'a AsyncPgConnection),
    /// A SQLite connection.
    Sqlite(&'a mut SqliteConn),
}

/// Runs one query expression on whichever backend `$conn` (a `&mut Conn`) holds.
///
/// Inside the body, `$c` is the concrete connection and `schema` names the matching table module,
/// so the same text is type-checked against both backends. `for_update!(query)` locks the rows a
/// select reads: `FOR UPDATE` on PostgreSQL, nothing on SQLite (whose writers are already
/// serialized by `BEGIN IMMEDIATE` in [`Db::write`]). `insert_rows!(c, table, rows)` inserts a
/// slice of rows: one statement on PostgreSQL, one per row on SQLite (diesel-async's SQLite
/// connection has no multi-row insert); both give `QueryResult<usize>`.
#[macro_export]
macro_rules! with_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::Conn::Pg(inner) => {
                #[allow(unused_imports)]
                use $crate::db::schema::pg as schema;
                #[allow(unused_macros)]
                macro_rules! for_update {
                    ($query:expr) => {
                        diesel::QueryDsl::for_update($query)
                    };
                }
                #[allow(unused_macros)]
                macro_rules! insert_rows {
                    ($on:ident, $table:expr, $rows:expr) => {
                        diesel_async::RunQueryDsl::execute(
                            $crate::db::prepared::Prepared(
                                diesel::insert_into($table).values($rows),
                            ),
                            $on,
                        )
                        .await
                    };
                }
                let mut shared: &diesel_async::AsyncPgConnection = &**inner;
                let $c = &mut shared;
                $body
            }
            $crate::db::Conn::Sqlite(inner) => {
                #[allow(unused_imports)]
                use $crate::db::schema::sqlite as schema;
                #[allow(unused_macros)]
                macro_rules! for_update {
                    ($query:expr) => {
                        $query
                    };
                }
                #[allow(unused_macros)]
                macro_rules! insert_rows {
                    ($on:ident, $table:expr, $rows:expr) => {{
                        let mut inserted = Ok(0);
                        for row in $rows {
                            match diesel_async::RunQueryDsl::execute(
                                diesel::insert_into($table).values(row),
                                &mut *$on,
                            )
                            .await
                            {
                                Ok(n) => inserted = inserted.map(|total: usize| total + n),
                                Err(err) => {
                                    inserted = Err(err);
                                    break;
                                }
                            }
                        }
                        inserted
                    }};
                }
                let $c = &mut **inner;
                $body
            }
        }
    };
}

/// Runs independent statements of one unit of work: `pipelined!(conn, |c| a(c), b(c), …)` on
/// `conn` (a `&mut Conn`), where each step is an expression using `c` (a `&mut Conn`) that gives a future of
/// `Result<_, AppError>`; the result is `Result<(a, b, …), AppError>`.
///
/// On PostgreSQL the steps run concurrently on the one connection, so diesel-async pipelines
/// them: their statements go out together and are answered in order, one round trip instead of
/// one each (they still run one after another in the server, in the order given, inside the
/// caller's transaction). On SQLite they run one after another. Either way the first error, in
/// the order given, is the one returned; no step may depend on another's effect or result.
#[macro_export]
macro_rules! pipelined {
    ($conn:expr, |$c:ident| $($step:expr),+ $(,)?) => {
        match &mut *$conn {
            $crate::db::Conn::Pg(shared) => {
                let shared: &diesel_async::AsyncPgConnection = *shared;
                futures_util::try_join!($(async {
                    let mut own = $crate::db::Conn::Pg(shared);
                    let $c = &mut own;
                    $step.await
                }),+)
            }
            other => {
                let $c = other;
                async { Ok::<_, $crate::error::AppError>(($($step.await?,)+)) }.await
            }
        }
    };
}

enum Pools {
    Pg(PgPool),
    Sqlite {
        pool: SqlitePool,
        write_lock: Arc<tokio::sync::Mutex<()>>,
    },
}

/// The application's handle on its database: cheap to clone, shared by HTTP and GraphQL.
#[derive(Clone)]
pub struct Db {
    pools: Arc<Pools>,
    /// `DB_POOL_TIMEOUT`: also bounds a SQLite writer's wait for its turn.
    pool_timeout: Duration,
    /// `DB_STATEMENT_TIMEOUT`: SQLite's `busy_timeout` outside `BEGIN IMMEDIATE`.
    statement_timeout: Duration,
    storage: Arc<fault::StorageWatch>,
    /// The subscribers of this process, told of every committed write ([`events`]).
    hub: Arc<crate::live::Hub>,
    /// Recently authenticated tokens ([`crate::auth::cache`]).
    tokens: Arc<crate::auth::cache::TokenCache>,
    /// `DATABASE_REPLICA_URL`: where queries may read ([`replica`]).
    replica: Option<Arc<replica::Replica>>,
}

/// A connection checked out of the pool; returns to it when dropped.
#[expect(
    clippy::large_enum_variant,
    reason = "a short-lived stack value; boxing would allocate on every checkout"
)]
pub enum PooledConn<'a> {
    /// From the PostgreSQL pool.
    Pg(bb8::PooledConnection<'a, AgedManager<AsyncPgConnection>>),
    /// From the SQLite pool.
    Sqlite(bb8::PooledConnection<'a, AgedManager<SqliteConn>>),
}

impl PooledConn<'_> {
    /// Borrows the connection for queries.
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            PooledConn::Pg(c) => Conn::Pg(c),
            PooledConn::Sqlite(c) => Conn::Sqlite(c),
        }
    }
}

/// Pool statistics, for health checks and metrics.
#[derive(Debug, Clone, Copy)]
pub struct PoolState {
    /// Open connections.
    pub connections: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// Configured maximum.
    pub max_size: u32,
    /// Check-outs so far that had to wait for a connection.
    pub waited: u64,
    /// Check-outs so far that gave up waiting (`SERVICE_UNAVAILABLE`).
    pub timed_out: u64,
}

impl Db {
    /// Opens the pool for `config` (connections are opened lazily, on first use).
    pub async fn connect(config: &DatabaseConfig) -> Result<Db, AppError> {
        let max_age = match config.conn_max_age {
            None => MaxAge::Unlimited,
            Some(age) => MaxAge::Limit(age),
        };
        let (pools, sqlite_file) = match &config.url {
            DatabaseUrl::Postgres(url) => (Pools::Pg(pg_pool(url, config, max_age)?), None),
            DatabaseUrl::Sqlite(path) => (
                Pools::Sqlite {
                    pool: sqlite_pool(path, config, max_age)?,
                    write_lock: Arc::new(tokio::sync::Mutex::new(())),
                },
                Some(path.as_path()),
            ),
        };
        let replica = match (&config.replica, &pools) {
            (Some(settings), Pools::Pg(_)) => match &settings.url {
                DatabaseUrl::Postgres(url) => Some(Arc::new(replica::Replica::new(
                    pg_pool(url, config, max_age)?,
                    settings.read_your_writes,
                ))),
                DatabaseUrl::Sqlite(_) => None,
            },
            _ => None,
        };
        Ok(Db {
            replica,
            pools: Arc::new(pools),
            pool_timeout: config.pool_timeout,
            statement_timeout: config.statement_timeout,
            storage: Arc::new(fault::StorageWatch::new(sqlite_file)),
            hub: Arc::default(),
            tokens: Arc::new(crate::auth::cache::TokenCache::new(config.auth_cache)),
        })
    }

    /// The subscribers of this process ([`crate::live`]).
    pub fn hub(&self) -> &Arc<crate::live::Hub> {
        &self.hub
    }

    /// The tokens this process has authenticated recently ([`crate::auth::cache`]).
    pub fn token_cache(&self) -> &Arc<crate::auth::cache::TokenCache> {
        &self.tokens
    }

    /// The read replica, if `DATABASE_REPLICA_URL` configured one.
    pub fn replica(&self) -> Option<&Arc<replica::Replica>> {
        self.replica.as_ref()
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        match &*self.pools {
            Pools::Pg(_) => Backend::Postgres,
            Pools::Sqlite { .. } => Backend::Sqlite,
        }
    }

    /// Checks a connection out of the pool.
    pub async fn get(&self) -> Result<PooledConn<'_>, AppError> {
        match &*self.pools {
            Pools::Pg(pool) => pool
                .get()
                .await
                .map(PooledConn::Pg)
                .map_err(AppError::from_pool),
            Pools::Sqlite { pool, .. } => pool
                .get()
                .await
                .map(PooledConn::Sqlite)
                .map_err(AppError::from_pool),
        }
    }

    /// Checks a connection out for read-only work: from the replica when [`replica`]'s rule
    /// allows it (inside a query, [`replica::reading_as`]), otherwise from the primary, exactly as
    /// [`Db::get`]. Never use it for a read that a write depends on.
    pub async fn read(&self) -> Result<PooledConn<'_>, AppError> {
        if let (Some(replica), Some(reader)) = (&self.replica, replica::current_reader()) {
            let by_replica = replica.route(reader) == replica::Route::Replica;
            if by_replica {
                if let Some(conn) = replica.checkout().await {
                    replica.served(true);
                    return Ok(PooledConn::Pg(conn));
                }
            }
            replica.served(false);
        }
        self.get().await
    }

    /// A mutation of `user` begins: with a replica, the returned mark records and announces the
    /// write when the mutation ends ([`replica::WriteMark`]); without one, nothing to do.
    pub fn writing(&self, user: i64) -> Option<replica::WriteMark> {
        self.replica.as_ref()?;
        Some(replica::WriteMark::new(self.clone(), user))
    }

    /// Records that `user` wrote, in this process and, through `NOTIFY` on the primary, in every
    /// process listening ([`replica::CHANNEL`]); returns the primary's WAL position after the
    /// announcement (so after the write). A failed announcement is logged, never reported to the
    /// writer: its write is done.
    pub async fn announce_write(&self, user: i64) -> Option<replica::Position> {
        let replica = self.replica.as_ref()?;
        replica.wrote(user);
        let notify = async {
            use diesel_async::RunQueryDsl;
            #[derive(diesel::QueryableByName)]
            struct Announced {
                #[diesel(sql_type = diesel::sql_types::Text)]
                position: String,
            }
            let mut pooled = self.get().await?;
            let Conn::Pg(mut conn) = pooled.conn() else {
                return Err(AppError::internal("a replica beside SQLite"));
            };
            let announced: Announced = diesel::sql_query(
                "SELECT pg_current_wal_insert_lsn()::text AS position \
                 FROM (SELECT pg_notify($1, $2)) AS notified",
            )
            .bind::<diesel::sql_types::Text, _>(replica::CHANNEL)
            .bind::<diesel::sql_types::Text, _>(user.to_string())
            .get_result(&mut conn)
            .await?;
            Ok::<_, AppError>(announced.position.parse().ok())
        };
        match tokio::time::timeout(replica::POLL_TIMEOUT, notify).await {
            Ok(Ok(position)) => position,
            Ok(Err(err)) => {
                tracing::warn!(
                    code = err.code(),
                    "could not announce a write to the other processes; their reads of this \
                     user may come from the replica for up to REPLICA_READ_YOUR_WRITES"
                );
                None
            }
            Err(_) => {
                tracing::warn!(
                    "announcing a write to the other processes timed out; their reads of this \
                     user may come from the replica for up to REPLICA_READ_YOUR_WRITES"
                );
                None
            }
        }
    }

    /// Runs `f` in one write transaction, committed if it returns `Ok` and rolled back otherwise.
    ///
    /// On SQLite, writers queue on an in-process lock and then `BEGIN IMMEDIATE`, so concurrent
    /// writers wait their turn instead of failing with "database is locked"; the whole wait (the
    /// queue, a pooled connection, SQLite's write lock, which another process may hold) is bounded
    /// by `DB_POOL_TIMEOUT`, after which the write answers `SERVICE_UNAVAILABLE`, as a wait for a
    /// PostgreSQL connection does. On PostgreSQL the transaction is `READ COMMITTED`; callers lock
    /// the rows they read-modify-write. Once it has committed, the events it recorded are
    /// announced ([`events`]: on PostgreSQL a `NOTIFY` sent after the `COMMIT`, which therefore
    /// does not serialize the commits of concurrent writes; on SQLite, to this process's
    /// [`crate::live::Hub`]).
    ///
    /// Faults ([`fault`]): a connection lost before `COMMIT` was sent answers
    /// [`AppError::ConnectionLost`] with the outcome known (nothing written); lost during `COMMIT`,
    /// with the outcome unknown. A full disk answers [`AppError::StorageFull`] (SQLite rolls the
    /// transaction back) and is reported by readiness.
    ///
    /// Cancellation: if the future is dropped half-way (client gone, `REQUEST_TIMEOUT`), a
    /// PostgreSQL connection is left inside its transaction and the pool discards it, which rolls
    /// the transaction back at once. A SQLite statement runs on a blocking thread that cannot be
    /// interrupted (diesel exposes no `sqlite3_interrupt`): the statement in progress finishes
    /// (each statement of a write touches a few rows, so milliseconds; a lock wait inside it is
    /// bounded by `DB_STATEMENT_TIMEOUT`), then the connection, still inside its transaction, is
    /// discarded by the pool and SQLite rolls the transaction back when it closes. Until then the
    /// next writer waits for SQLite's write lock — within its own `DB_POOL_TIMEOUT`.
    pub async fn write<'a, T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: for<'r> FnOnce(Conn<'r>) -> ScopedBoxFuture<'a, 'r, Result<T, AppError>>,
    {
        let outcome = match &*self.pools {
            Pools::Pg(pool) => {
                let mut pooled = pool.get().await.map_err(AppError::from_pool)?;
                let conn: &mut AsyncPgConnection = &mut pooled;
                AnsiTransactionManager::begin_transaction(conn).await?;
                let (outcome, recorded) = events::recording(async {
                    let outcome = f(Conn::Pg(&*conn)).await;
                    finish::<AnsiTransactionManager, _, _>(conn, outcome).await
                })
                .await;
                if outcome.is_ok() && !recorded.is_empty() {
                    if let Err(err) = events::announce(conn, &recorded).await {
                        // The write is done; subscribers elsewhere read its events at their next
                        // hint or re-check.
                        tracing::warn!(
                            code = err.code(),
                            "could not announce a committed write's events to the other processes"
                        );
                    }
                }
                outcome
            }
            Pools::Sqlite { pool, write_lock } => {
                let deadline = tokio::time::Instant::now() + self.pool_timeout;
                let _turn = tokio::time::timeout_at(deadline, write_lock.lock())
                    .await
                    .map_err(|_| AppError::Unavailable)?;
                let mut pooled = tokio::time::timeout_at(deadline, pool.get())
                    .await
                    .map_err(|_| AppError::Unavailable)?
                    .map_err(AppError::from_pool)?;
                let conn: &mut SqliteConn = &mut pooled;
                let lock_wait = deadline.saturating_duration_since(tokio::time::Instant::now());
                begin_immediate(conn, lock_wait, self.statement_timeout).await?;
                let (outcome, recorded) = events::recording(async {
                    let outcome = f(Conn::Sqlite(conn)).await;
                    finish::<<SqliteConn as AsyncConnection>::TransactionManager, _, _>(
                        conn, outcome,
                    )
                    .await
                })
                .await;
                if outcome.is_ok() {
                    for (pop_id, sequence) in recorded {
                        self.hub.publish(pop_id, sequence);
                    }
                }
                outcome
            }
        };
        self.storage.observe(&outcome);
        outcome
    }

    /// Readiness of storage: `Err` while the last write failed for lack of space (see
    /// [`fault::StorageWatch`]).
    pub fn storage_check(&self) -> Result<String, String> {
        self.storage.check()
    }

    /// Runs `SELECT 1`: is the database answering?
    pub async fn ping(&self) -> Result<(), AppError> {
        let mut pooled = self.get().await?;
        match pooled.conn() {
            Conn::Pg(mut c) => c.batch_execute("SELECT 1").await?,
            Conn::Sqlite(c) => c.batch_execute("SELECT 1").await?,
        }
        Ok(())
    }

    /// Current pool statistics.
    pub fn pool_state(&self) -> PoolState {
        let (state, max_size) = match &*self.pools {
            Pools::Pg(pool) => (pool.state(), pool.max_size()),
            Pools::Sqlite { pool, .. } => (pool.state(), pool.max_size()),
        };
        PoolState {
            connections: state.connections,
            idle: state.idle_connections,
            max_size,
            waited: state.statistics.get_waited,
            timed_out: state.statistics.get_timed_out,
        }
    }
}

/// `BEGIN IMMEDIATE`, waiting at most `lock_wait` for SQLite's write lock (then
/// `SERVICE_UNAVAILABLE`); statements inside the transaction wait up to `statement_timeout` again.
async fn begin_immediate(
    conn: &mut SqliteConn,
    lock_wait: Duration,
    statement_timeout: Duration,
) -> Result<(), AppError> {
    let (wait_ms, statement_ms) = (lock_wait.as_millis(), statement_timeout.as_millis());
    conn.spawn_blocking(move |c| {
        use diesel::connection::SimpleConnection;
        c.batch_execute(&format!("PRAGMA busy_timeout = {wait_ms}"))?;
        let begun =
            diesel::connection::AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE");
        let restored = c.batch_execute(&format!("PRAGMA busy_timeout = {statement_ms}"));
        begun.and(restored)
    })
    .await
    .map_err(AppError::from)
}

/// Commits after `Ok`, rolls back after `Err` (keeping the original error, unless the rollback
/// shows the connection is gone: then the write surely was not applied, whatever the error said).
/// A commit that fails because the connection broke leaves the outcome unknown.
async fn finish<M, C, T>(conn: &mut C, outcome: Result<T, AppError>) -> Result<T, AppError>
where
    M: TransactionManager<C>,
    C: AsyncConnection<TransactionManager = M>,
{
    match outcome {
        Ok(value) => match M::commit_transaction(conn).await {
            Ok(()) => Ok(value),
            Err(err) => Err(match fault::classify(&err) {
                Some(fault::Fault::ConnectionLost) => {
                    tracing::warn!(error = %err, "connection lost during COMMIT");
                    AppError::ConnectionLost {
                        outcome_unknown: true,
                    }
                }
                _ => AppError::from(err),
            }),
        },
        Err(err) => match M::rollback_transaction(conn).await {
            Ok(()) => Err(err),
            Err(rollback) => {
                tracing::warn!(error = %rollback, "rollback failed; the connection will be discarded");
                match (&err, fault::classify(&rollback)) {
                    (AppError::Internal(_), Some(fault::Fault::ConnectionLost)) => {
                        Err(AppError::ConnectionLost {
                            outcome_unknown: false,
                        })
                    }
                    _ => Err(err),
                }
            }
        },
    }
}

trait MaxSize {
    fn max_size(&self) -> u32;
}

impl<M: bb8::ManageConnection> MaxSize for bb8::Pool<M> {
    fn max_size(&self) -> u32 {
        self.config().max_size
    }
}

fn builder<M: bb8::ManageConnection>(config: &DatabaseConfig) -> bb8::Builder<M> {
    bb8::Pool::builder()
        .max_size(config.pool_size)
        .connection_timeout(config.pool_timeout)
        .test_on_check_out(true)
        .max_lifetime(None)
        .idle_timeout(Some(Duration::from_secs(600)))
}

fn pg_pool(url: &str, config: &DatabaseConfig, max_age: MaxAge) -> Result<PgPool, AppError> {
    let connector =
        Arc::new(tls::PgConnector::new(config.tls.clone()).map_err(AppError::internal)?);
    let statement_timeout_ms = config.statement_timeout.as_millis();
    let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
    manager_config.recycling_method = RecyclingMethod::Verified;
    manager_config.custom_setup = Box::new(move |url| {
        let connector = Arc::clone(&connector);
        let url = url.to_owned();
        Box::pin(async move {
            let mut conn = connector.connect(&url).await?;
            conn.batch_execute(&format!(
                "SET statement_timeout = {statement_timeout_ms}; SET application_name = 'mapagov'; SET TIME ZONE 'UTC'"
            ))
            .await
            .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
            Ok(conn)
        })
    });
    let manager = AsyncDieselConnectionManager::new_with_config(url, manager_config);
    Ok(builder(config).build_unchecked(AgedManager::new(manager, max_age, config.conn_check_idle)))
}

fn sqlite_pool(
    path: &std::path::Path,
    config: &DatabaseConfig,
    max_age: MaxAge,
) -> Result<SqlitePool, AppError> {
    let busy_ms = config.statement_timeout.as_millis();
    let synchronous = config.sqlite_synchronous.pragma();
    let mut manager_config = ManagerConfig::<SqliteConn>::default();
    // Nothing to ping for a file; open transactions are still checked.
    manager_config.recycling_method = RecyclingMethod::Fast;
    manager_config.custom_setup = Box::new(move |url| {
        let url = url.to_owned();
        Box::pin(async move {
            let mut conn = SqliteConn::establish(&url).await?;
            conn.batch_execute(&format!(
                "PRAGMA busy_timeout = {busy_ms}; PRAGMA journal_mode = WAL; \
                 PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = ON;"
            ))
            .await
            .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
            conn.spawn_blocking(search::sqlite::register)
                .await
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
            Ok(conn)
        })
    });
    let path = path
        .to_str()
        .ok_or_else(|| AppError::internal("the SQLite path is not valid UTF-8"))?;
    let manager = AsyncDieselConnectionManager::new_with_config(path, manager_config);
    Ok(builder(config).build_unchecked(AgedManager::new(manager, max_age, config.conn_check_idle)))
}
