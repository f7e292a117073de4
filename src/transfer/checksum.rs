//! Per-table checksums that come out the same on both backends.
//!
//! A table's checksum is the lowercase hex SHA-256 over its rows in key order (`id`, or `key` in
//! byte order for `idempotency_keys`), each row contributing the canonical text of its JSON form
//! followed by a newline. The canonical text is [`python_json_dumps`] (keys sorted at every level,
//! fixed separators), and the JSON form is the dump's (see [`super::rows`]): timestamps as RFC 3339
//! UTC with microseconds, uuids hyphenated, JSON columns as JSON. So a PostgreSQL database and its
//! SQLite copy have equal checksums exactly when they hold the same data.

use super::rows::{read_batch, Cursor, Table, BATCH_SIZE};
use crate::db::Conn;
use crate::domain::hash::python_json_dumps;
use crate::error::AppError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Row count and checksum of one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSum {
    /// Rows.
    pub rows: u64,
    /// Hex SHA-256 (see the module docs).
    pub sha256: String,
}

/// Checksums of every table, by table name.
pub type Checksums = BTreeMap<String, TableSum>;

/// A checksum being computed, one row at a time.
#[derive(Clone)]
pub struct Hasher {
    rows: u64,
    hasher: Sha256,
}

impl Hasher {
    /// An empty table's state.
    pub fn new() -> Self {
        Hasher {
            rows: 0,
            hasher: Sha256::new(),
        }
    }

    /// Adds the next row (in its JSON form).
    pub fn add(&mut self, row: &Value) {
        self.rows += 1;
        self.hasher.update(python_json_dumps(row).as_bytes());
        self.hasher.update(b"\n");
    }

    /// The result so far.
    pub fn sum(&self) -> TableSum {
        TableSum {
            rows: self.rows,
            sha256: hex::encode(self.hasher.clone().finalize()),
        }
    }
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

/// Streams one table in batches and returns its checksum.
pub async fn table_checksum(conn: &mut Conn<'_>, table: Table) -> Result<TableSum, AppError> {
    let mut hasher = Hasher::new();
    let mut cursor = Cursor::Start;
    loop {
        let batch = read_batch(conn, table, &cursor, BATCH_SIZE).await?;
        for row in batch.to_values()? {
            hasher.add(&row);
        }
        match batch.last_cursor() {
            Some(next) if batch.len() as i64 == BATCH_SIZE => cursor = next,
            _ => break,
        }
    }
    Ok(hasher.sum())
}

/// Checksums of every table.
pub async fn checksums(conn: &mut Conn<'_>) -> Result<Checksums, AppError> {
    let mut out = Checksums::new();
    for table in Table::ALL {
        out.insert(table.name().to_owned(), table_checksum(conn, table).await?);
    }
    Ok(out)
}

/// One table that differs between two sets of checksums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The table.
    pub table: String,
    /// Its sum on the expected side (`None`: missing there).
    pub expected: Option<TableSum>,
    /// Its sum on the actual side (`None`: missing there).
    pub actual: Option<TableSum>,
}

impl Mismatch {
    /// One line naming the table and what differs.
    pub fn describe(&self) -> String {
        let show = |s: &Option<TableSum>| match s {
            Some(s) => format!(
                "{} rows, sha256 {}",
                s.rows,
                &s.sha256[..s.sha256.len().min(12)]
            ),
            None => "absent".into(),
        };
        format!(
            "{}: expected {}, found {}",
            self.table,
            show(&self.expected),
            show(&self.actual)
        )
    }
}

/// The tables whose counts or checksums differ.
pub fn compare(expected: &Checksums, actual: &Checksums) -> Vec<Mismatch> {
    let mut names: Vec<&String> = expected.keys().chain(actual.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let (e, a) = (expected.get(name), actual.get(name));
            (e != a).then(|| Mismatch {
                table: name.clone(),
                expected: e.cloned(),
                actual: a.cloned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_inside_a_row_does_not_matter_but_row_order_does() {
        let (a, b) = (json!({"id": 1, "x": {"b": 1, "a": 2}}), json!({"id": 2}));
        let mut one = Hasher::new();
        one.add(&a);
        one.add(&b);
        let mut two = Hasher::new();
        two.add(&json!({"x": {"a": 2, "b": 1}, "id": 1}));
        two.add(&b);
        assert_eq!(one.sum(), two.sum());
        let mut three = Hasher::new();
        three.add(&b);
        three.add(&a);
        assert_ne!(one.sum(), three.sum());
        assert_eq!(one.sum().rows, 2);
    }

    #[test]
    fn compare_names_the_table() {
        let mut x = Checksums::new();
        x.insert(
            "pops".into(),
            TableSum {
                rows: 1,
                sha256: "aa".into(),
            },
        );
        let mut y = x.clone();
        assert!(compare(&x, &y).is_empty());
        y.insert(
            "pops".into(),
            TableSum {
                rows: 2,
                sha256: "bb".into(),
            },
        );
        let diff = compare(&x, &y);
        assert_eq!(diff.len(), 1);
        assert!(diff[0].describe().starts_with("pops:"));
    }
}
