//! The findings of `mapagov check`: one [`Finding`] per item, graded ok / warn / fail.
//!
//! The checks that need more than the configuration live here: the recommended indexes, looked
//! up in the database catalog by their columns (so a renamed index still counts, and an index
//! whose name is right but whose columns are not does not), and the most recent backup.

use super::backup::{self, Backup};
use crate::db::Conn;
use crate::error::AppError;
use chrono::{DateTime, Duration, Utc};
use diesel::sql_types::Text;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use std::fmt;
use std::path::Path;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// As it should be.
    Ok,
    /// Worth fixing; does not fail the check.
    Warn,
    /// Must be fixed; the check exits non-zero.
    Fail,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "fail",
        })
    }
}

/// One checked item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What was checked, e.g. `database` or `index pops(status)`.
    pub item: String,
    /// The verdict.
    pub level: Level,
    /// A short reason (never a secret).
    pub reason: String,
}

impl Finding {
    /// A finding.
    pub fn new(item: impl Into<String>, level: Level, reason: impl Into<String>) -> Self {
        Finding {
            item: item.into(),
            level,
            reason: reason.into(),
        }
    }
}

/// An index the migration guide recommends (its section 8), by table and leading columns.
#[derive(Debug, Clone, Copy)]
pub struct RecommendedIndex {
    /// The table.
    pub table: &'static str,
    /// The columns an index must start with, in order.
    pub columns: &'static [&'static str],
    /// Only PostgreSQL has it (SQLite serves the same queries another way, e.g. FTS5).
    pub postgres_only: bool,
}

/// The recommended indexes; add to this list to have `check --deploy` look for more.
pub const RECOMMENDED_INDEXES: &[RecommendedIndex] = &[
    RecommendedIndex {
        table: "pops",
        columns: &["status"],
        postgres_only: false,
    },
    RecommendedIndex {
        table: "pops",
        columns: &["session_id", "status"],
        postgres_only: false,
    },
    RecommendedIndex {
        table: "pops",
        columns: &["created_at"],
        postgres_only: false,
    },
    RecommendedIndex {
        table: "pop_snapshots",
        columns: &["pop_id"],
        postgres_only: false,
    },
    // Beyond the guide: full-text search and document containment (GIN).
    RecommendedIndex {
        table: "pops",
        columns: &["search_vector"],
        postgres_only: true,
    },
    RecommendedIndex {
        table: "pops",
        columns: &["document"],
        postgres_only: true,
    },
];

impl RecommendedIndex {
    /// `table(col, col)`.
    pub fn describe(&self) -> String {
        format!("{}({})", self.table, self.columns.join(", "))
    }
}

#[derive(QueryableByName)]
struct IndexColumn {
    #[diesel(sql_type = Text)]
    index_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
}

/// An index: its name and key columns in order (`""` for an expression).
pub type IndexColumns = (String, Vec<String>);

/// The full (non-partial) indexes of `table` with their key columns, from the catalog.
pub async fn indexes_of(conn: &mut Conn<'_>, table: &str) -> Result<Vec<IndexColumns>, AppError> {
    // `table` comes from RECOMMENDED_INDEXES, never from input; keep it a plain identifier anyway.
    if !table.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
        return Err(AppError::internal(format!("not a table name: {table}")));
    }
    let rows: Vec<IndexColumn> = match conn {
        Conn::Pg(c) => {
            diesel::sql_query(format!(
                "SELECT i.relname::text AS index_name, COALESCE(a.attname::text, '') AS column_name \
                 FROM pg_index x \
                 JOIN pg_class t ON t.oid = x.indrelid \
                 JOIN pg_class i ON i.oid = x.indexrelid \
                 CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, position) \
                 LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
                 WHERE t.relname = '{table}' AND pg_table_is_visible(t.oid) \
                   AND x.indpred IS NULL AND x.indisvalid AND k.position <= x.indnkeyatts \
                 ORDER BY i.relname, k.position"
            ))
            .load(&mut *c)
            .await?
        }
        Conn::Sqlite(c) => {
            diesel::sql_query(format!(
                "SELECT il.name AS index_name, COALESCE(ii.name, '') AS column_name \
                 FROM pragma_index_list('{table}') AS il \
                 JOIN pragma_index_info(il.name) AS ii \
                 WHERE il.partial = 0 \
                 ORDER BY il.name, ii.seqno"
            ))
            .load(&mut **c)
            .await?
        }
    };
    let mut indexes: Vec<IndexColumns> = Vec::new();
    for row in rows {
        match indexes.last_mut() {
            Some((name, columns)) if *name == row.index_name => columns.push(row.column_name),
            _ => indexes.push((row.index_name, vec![row.column_name])),
        }
    }
    Ok(indexes)
}

/// The first index whose key columns start with `columns`.
pub fn covering<'a>(indexes: &'a [IndexColumns], columns: &[&str]) -> Option<&'a str> {
    indexes
        .iter()
        .find(|(_, have)| {
            have.len() >= columns.len() && have.iter().zip(columns).all(|(h, w)| h == w)
        })
        .map(|(name, _)| name.as_str())
}

/// One finding per recommended index. A missing one is a warning: queries stay correct, they
/// only slow down as the tables grow.
pub async fn check_indexes(conn: &mut Conn<'_>) -> Result<Vec<Finding>, AppError> {
    let mut findings = Vec::new();
    let postgres = matches!(conn, Conn::Pg(_));
    for wanted in RECOMMENDED_INDEXES
        .iter()
        .filter(|w| postgres || !w.postgres_only)
    {
        let indexes = indexes_of(conn, wanted.table).await?;
        let item = format!("index {}", wanted.describe());
        findings.push(match covering(&indexes, wanted.columns) {
            Some(name) => Finding::new(item, Level::Ok, format!("served by {name}")),
            None => Finding::new(
                item,
                Level::Warn,
                "no index starts with these columns: lists and lookups will scan the table",
            ),
        });
    }
    Ok(findings)
}

/// The newest complete backup in `dir` (manifest present and every file at its recorded size).
pub fn newest_backup(dir: &Path) -> anyhow::Result<Option<Backup>> {
    Ok(backup::list(dir)?
        .into_iter()
        .filter(Backup::is_complete)
        .max_by_key(|b| b.manifest.created_at))
}

/// Is there a complete backup in `dir` no older than `max_age` at `now`? A missing or stale one
/// fails: without it a lost database cannot be restored.
pub fn check_backup(
    dir: Option<&Path>,
    max_age: Duration,
    now: DateTime<Utc>,
) -> anyhow::Result<Finding> {
    let item = "recent backup";
    let Some(dir) = dir else {
        return Ok(Finding::new(
            item,
            Level::Fail,
            "BACKUP_DIR is not set: nothing to look for",
        ));
    };
    let Some(newest) = newest_backup(dir)? else {
        return Ok(Finding::new(
            item,
            Level::Fail,
            format!("no complete backup in {}", dir.display()),
        ));
    };
    let age = now - newest.manifest.created_at;
    let hours = age.num_minutes() as f64 / 60.0;
    Ok(if age <= max_age {
        Finding::new(
            item,
            Level::Ok,
            format!("{} ({hours:.1} h old)", newest.dir.display()),
        )
    } else {
        Finding::new(
            item,
            Level::Fail,
            format!(
                "the newest, {}, is {hours:.1} h old (more than {} h)",
                newest.dir.display(),
                max_age.num_hours()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_covers_a_prefix_of_its_columns_only() {
        let indexes = vec![
            (
                "a".to_owned(),
                vec!["session_id".to_owned(), "status".to_owned()],
            ),
            ("b".to_owned(), vec![String::new(), "status".to_owned()]),
        ];
        assert_eq!(covering(&indexes, &["session_id"]), Some("a"));
        assert_eq!(covering(&indexes, &["session_id", "status"]), Some("a"));
        assert_eq!(covering(&indexes, &["status"]), None);
    }
}
