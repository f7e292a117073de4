//! Database failures that are not bugs: which ones they are, and what readiness makes of them.
//!
//! A connection that broke (the server restarted or shut down, the backend was terminated, the
//! network dropped), a write lock that could not be had in time and a full disk are faults of the
//! environment: the client gets a retryable code (`SERVICE_UNAVAILABLE`, `STORAGE_FULL`) instead
//! of `INTERNAL_SERVER_ERROR`, and its `extensions.writeOutcome` says whether the write may have
//! happened (see [`crate::db::Db::write`]).
//!
//! Recognition: diesel reports a connection that is gone as `ClosedConnection` or
//! `UnableToSendCommand`; beyond that it passes on only the database's message (not PostgreSQL's
//! SQLSTATE), so the rest is recognised by message. SQLite's messages are fixed English text;
//! PostgreSQL's are English unless the server's `lc_messages` says otherwise, in which case those
//! faults stay `INTERNAL_SERVER_ERROR` — except a connection that dies under a write, which
//! [`crate::db::Db::write`] recognises by its failed rollback whatever the language.
//!
//! [`StorageWatch`] remembers a write that failed for lack of space, so that `/readyz` reports it
//! (check `storage`) until a write commits, the SQLite file's filesystem has gained
//! [`RECOVERED_BYTES`] of free space since, or [`RETRY_AFTER`] has passed (PostgreSQL's disk is
//! not visible from here: the instance becomes ready again to try).

use crate::error::AppError;
use diesel::result::{DatabaseErrorKind, Error};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A database failure caused by the environment, not by the request or the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The connection is gone, or the server is shutting down or starting up.
    ConnectionLost,
    /// Storage is full.
    StorageFull,
    /// A lock was not granted in time (SQLite's `database is locked`).
    Busy,
}

impl From<Fault> for AppError {
    fn from(fault: Fault) -> Self {
        match fault {
            Fault::ConnectionLost => AppError::ConnectionLost {
                outcome_unknown: false,
            },
            Fault::StorageFull => AppError::StorageFull,
            Fault::Busy => AppError::Unavailable,
        }
    }
}

/// PostgreSQL (57P01, 57P02, 57P03, 53100) and SQLite messages of faults, lowercase.
const CONNECTION_LOST: &[&str] = &[
    "terminating connection due to administrator command",
    "terminating connection due to crash of another server process",
    "terminating connection due to unexpected postmaster exit",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "connection closed",
];
const STORAGE_FULL: &[&str] = &["database or disk is full", "no space left on device"];
const BUSY: &[&str] = &["database is locked", "database table is locked"];

/// Which fault `err` is, if it is one.
pub fn classify(err: &Error) -> Option<Fault> {
    let Error::DatabaseError(kind, info) = err else {
        return None;
    };
    if matches!(
        kind,
        DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand
    ) {
        return Some(Fault::ConnectionLost);
    }
    let message = info.message().to_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| message.contains(n));
    if any(STORAGE_FULL) {
        Some(Fault::StorageFull)
    } else if any(CONNECTION_LOST) {
        Some(Fault::ConnectionLost)
    } else if any(BUSY) {
        Some(Fault::Busy)
    } else {
        None
    }
}

/// Free space the SQLite file's filesystem must gain after a failed write before readiness
/// passes again.
pub const RECOVERED_BYTES: u64 = 1024 * 1024;
/// How long readiness fails after a write failed for lack of space, unless space is seen coming
/// back sooner.
pub const RETRY_AFTER: Duration = Duration::from_secs(30);

/// Remembers the last write that failed because storage was full (see the module docs).
#[derive(Debug)]
pub struct StorageWatch {
    /// The directory of the SQLite file; `None` on PostgreSQL.
    dir: Option<PathBuf>,
    full: Mutex<Option<Full>>,
}

#[derive(Debug, Clone, Copy)]
struct Full {
    at: Instant,
    free_then: Option<u64>,
}

impl StorageWatch {
    /// A watch on the filesystem holding `sqlite_file`, or on nothing visible (PostgreSQL).
    pub fn new(sqlite_file: Option<&std::path::Path>) -> Self {
        let dir = sqlite_file.map(|file| match file.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        });
        Self {
            dir,
            full: Mutex::new(None),
        }
    }

    /// Notes how a write ended.
    pub fn observe<T>(&self, outcome: &Result<T, AppError>) {
        match outcome {
            Ok(_) => self.set(None),
            Err(AppError::StorageFull) => self.set(Some(Full {
                at: Instant::now(),
                free_then: self.free_bytes(),
            })),
            Err(_) => {}
        }
    }

    /// `Ok(detail)` while writes may succeed, `Err(detail)` while storage looks full.
    pub fn check(&self) -> Result<String, String> {
        let free = self.free_bytes();
        let free_text = free.map_or_else(
            || "managed by the PostgreSQL server".to_owned(),
            |bytes| format!("{bytes} bytes free"),
        );
        let Some(full) = self.get() else {
            return Ok(free_text);
        };
        let recovered = match (full.free_then, free) {
            (Some(then), Some(now)) => now >= then.saturating_add(RECOVERED_BYTES),
            _ => false,
        };
        if recovered || full.at.elapsed() >= RETRY_AFTER {
            self.set(None);
            return Ok(free_text);
        }
        Err(format!(
            "full: a write failed for lack of space {}s ago ({free_text})",
            full.at.elapsed().as_secs()
        ))
    }

    fn free_bytes(&self) -> Option<u64> {
        let dir = self.dir.as_ref()?;
        let stat = rustix::fs::statvfs(dir).ok()?;
        Some(stat.f_bavail.saturating_mul(stat.f_frsize))
    }

    fn get(&self) -> Option<Full> {
        *self
            .full
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set(&self, value: Option<Full>) {
        *self
            .full
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_error(kind: DatabaseErrorKind, message: &str) -> Error {
        Error::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn faults_are_recognised() {
        use DatabaseErrorKind::{ClosedConnection, UnableToSendCommand, Unknown};
        let cases = [
            (
                db_error(UnableToSendCommand, "x"),
                Some(Fault::ConnectionLost),
            ),
            (db_error(ClosedConnection, "x"), Some(Fault::ConnectionLost)),
            (
                db_error(
                    Unknown,
                    "terminating connection due to administrator command",
                ),
                Some(Fault::ConnectionLost),
            ),
            (
                db_error(Unknown, "database or disk is full"),
                Some(Fault::StorageFull),
            ),
            (
                db_error(
                    Unknown,
                    "could not extend file \"base/1/2\": No space left on device",
                ),
                Some(Fault::StorageFull),
            ),
            (db_error(Unknown, "database is locked"), Some(Fault::Busy)),
            (db_error(Unknown, "relation \"pops\" does not exist"), None),
            (Error::NotFound, None),
        ];
        for (err, fault) in cases {
            assert_eq!(classify(&err), fault, "{err}");
        }
    }

    #[test]
    fn a_full_disk_fails_readiness_until_a_write_commits() {
        let dir = tempfile::tempdir().expect("temp dir");
        let watch = StorageWatch::new(Some(&dir.path().join("db.sqlite3")));
        assert!(watch.check().is_ok());
        watch.observe::<()>(&Err(AppError::StorageFull));
        assert!(watch.check().expect_err("full").starts_with("full: "));
        watch.observe::<()>(&Err(AppError::Unavailable));
        assert!(watch.check().is_err());
        watch.observe(&Ok(()));
        assert!(watch.check().is_ok());
    }
}
