//! A Django database of the later versions (publication, areas, roles), built for a test from the
//! older fixture: a copy of `legacy-mapagov.sqlite3` with the later columns and tables added by SQL
//! and rows the test chooses.

use diesel::{Connection, RunQueryDsl, SqliteConnection};
use std::path::PathBuf;

/// A later-version copy of the legacy fixture in its own temporary directory.
pub struct LaterLegacy {
    /// The database file.
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl LaterLegacy {
    /// Copies the fixture and runs `sql` (statements separated by `;`) against the copy.
    pub fn with_sql(sql: &str) -> LaterLegacy {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("later.sqlite3");
        std::fs::copy(super::fixture("legacy-mapagov.sqlite3"), &path).unwrap();
        let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        diesel::connection::SimpleConnection::batch_execute(&mut conn, sql).unwrap();
        drop(conn);
        LaterLegacy { path, _dir: dir }
    }

    /// Runs one more statement against the copy.
    pub fn exec(&self, sql: &str) {
        let mut conn = SqliteConnection::establish(self.path.to_str().unwrap()).unwrap();
        diesel::sql_query(sql).execute(&mut conn).unwrap();
    }
}
