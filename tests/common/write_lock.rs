//! The database's write lock, held from outside the server on a connection of its own, so a test
//! can make the server's writers wait: PostgreSQL, an exclusive lock on `pops`; SQLite,
//! `BEGIN IMMEDIATE` (waiting up to 10 s for a writer already in).

use diesel_async::{AsyncConnection, SimpleAsyncConnection};

/// A held write lock; [`WriteLock::release`] commits.
pub enum WriteLock {
    /// PostgreSQL.
    Pg(Box<diesel_async::AsyncPgConnection>),
    /// SQLite.
    Sqlite(mapagov::db::SqliteConn),
}

impl WriteLock {
    /// Takes the write lock of the database at `url`.
    pub async fn take(url: &str) -> WriteLock {
        match url.strip_prefix("sqlite://") {
            Some(path) => {
                let mut c = mapagov::db::SqliteConn::establish(path).await.unwrap();
                c.batch_execute("PRAGMA busy_timeout = 10000; BEGIN IMMEDIATE")
                    .await
                    .unwrap();
                WriteLock::Sqlite(c)
            }
            None => {
                let mut c = diesel_async::AsyncPgConnection::establish(url)
                    .await
                    .unwrap();
                c.batch_execute("BEGIN; LOCK TABLE pops IN ACCESS EXCLUSIVE MODE")
                    .await
                    .unwrap();
                WriteLock::Pg(Box::new(c))
            }
        }
    }

    /// Commits, releasing the lock.
    pub async fn release(self) {
        match self {
            WriteLock::Pg(mut c) => c.batch_execute("COMMIT").await.unwrap(),
            WriteLock::Sqlite(mut c) => c.batch_execute("COMMIT").await.unwrap(),
        }
    }
}
