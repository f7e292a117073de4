//! The partitioning experiment: the current `pop_snapshots` against a copy range-partitioned by
//! month of `created_at`, under the server's real queries by POP (a history page, the latest
//! snapshot, the next sequence) and retention deletes (per POP keep the newest 10 snapshots,
//! milestones and the last 90 days), all in the same run on the same rows.

use crate::measure::Measurement;
use crate::pg_cluster::PgCluster;
use crate::pgbench::PgBench;
use crate::{BoxError, Settings, DB};

/// The partitioned copy: same columns, checks and indexes as `pop_snapshots`; the primary key must
/// include the partition key, and `(pop_id, sequence)` can no longer be unique across partitions.
const CREATE: &str = "
CREATE TABLE snap_part (LIKE pop_snapshots INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
  PARTITION BY RANGE (created_at);
DO $$
DECLARE m timestamptz;
BEGIN
  FOR m IN SELECT generate_series(date_trunc('month', min(created_at)),
                                  date_trunc('month', max(created_at)), interval '1 month')
           FROM pop_snapshots LOOP
    EXECUTE format('CREATE TABLE %I PARTITION OF snap_part FOR VALUES FROM (%L) TO (%L)',
                   'snap_part_' || to_char(m, 'YYYYMM'), m, m + interval '1 month');
  END LOOP;
END $$;
CREATE TABLE snap_part_default PARTITION OF snap_part DEFAULT;
INSERT INTO snap_part SELECT * FROM pop_snapshots;
ALTER TABLE snap_part ADD PRIMARY KEY (id, created_at);
CREATE INDEX snap_part_pop_id_sequence_idx ON snap_part (pop_id, sequence);
CREATE INDEX snap_part_pop_id_id_idx ON snap_part (pop_id, id);
CREATE INDEX snap_part_created_at_idx ON snap_part (created_at);
ALTER TABLE snap_part OWNER TO mapagov;
ANALYZE snap_part;
";

/// The server's queries by POP (`list_snapshots`, `latest_snapshot`, `insert_snapshot`'s max).
const HISTORY: &str = "\\set p random(:lo, :hi)
SELECT * FROM TABLE WHERE pop_id = :p ORDER BY id DESC LIMIT 21;
SELECT * FROM TABLE WHERE pop_id = :p ORDER BY sequence DESC LIMIT 1;
SELECT max(sequence) FROM TABLE WHERE pop_id = :p;
";

/// Retention of one POP, rolled back so every run deletes the same rows.
const RETAIN_ONE: &str = "\\set p random(:lo, :hi)
BEGIN;
DELETE FROM TABLE WHERE pop_id = :p AND NOT milestone
  AND created_at < now() - interval '90 days'
  AND sequence <= (SELECT max(sequence) - 10 FROM TABLE WHERE pop_id = :p);
ROLLBACK;
";

/// Retention of every POP at once (the nightly job), as one statement.
const RETAIN_ALL: &str = "DELETE FROM TABLE s USING (SELECT pop_id, max(sequence) AS top FROM TABLE
  GROUP BY pop_id) m WHERE s.pop_id = m.pop_id AND s.sequence <= m.top - 10 AND NOT s.milestone
  AND s.created_at < now() - interval '90 days'";

/// How many rows [`RETAIN_ALL`] removes from the current table.
const COUNT_RETAIN_ALL: &str = "SELECT count(*) FROM pop_snapshots s JOIN (SELECT pop_id,
  max(sequence) AS top FROM pop_snapshots GROUP BY pop_id) m ON s.pop_id = m.pop_id
  WHERE s.sequence <= m.top - 10 AND NOT s.milestone AND s.created_at < now() - interval '90 days'";

/// Figures for one table.
pub struct TableFigures {
    /// The history mix with all clients.
    pub history: Measurement,
    /// Per-POP retention delete with all clients.
    pub retain_one: Measurement,
    /// The all-POPs retention delete, execution time in ms.
    pub retain_all_ms: f64,
    /// Table plus indexes, MiB.
    pub size_mib: f64,
}

/// The experiment's outcome.
pub struct Outcome {
    /// Snapshots in each table.
    pub rows: u64,
    /// Monthly partitions (plus the default one).
    pub partitions: u64,
    /// Rows the all-POPs retention removes.
    pub retained_away: u64,
    /// The current table.
    pub plain: TableFigures,
    /// The partitioned copy.
    pub partitioned: TableFigures,
}

/// Builds the partitioned copy, measures both tables, drops the copy.
pub fn compare(
    cluster: &PgCluster,
    pgbench: &PgBench,
    s: &Settings,
    lo: i64,
    hi: i64,
) -> Result<Outcome, BoxError> {
    cluster.psql(DB, CREATE);
    let count = |sql: &str| -> Result<u64, BoxError> { Ok(cluster.psql(DB, sql).trim().parse()?) };
    let rows = count("SELECT count(*) FROM pop_snapshots")?;
    let partitions =
        count("SELECT count(*) - 1 FROM pg_inherits WHERE inhparent = 'snap_part'::regclass")?;
    let retained_away = count(COUNT_RETAIN_ALL)?;
    let plain = measure(cluster, pgbench, s, "pop_snapshots", lo, hi)?;
    let partitioned = measure(cluster, pgbench, s, "snap_part", lo, hi)?;
    cluster.psql(DB, "DROP TABLE snap_part;");
    Ok(Outcome {
        rows,
        partitions,
        retained_away,
        plain,
        partitioned,
    })
}

fn measure(
    cluster: &PgCluster,
    pgbench: &PgBench,
    s: &Settings,
    table: &str,
    lo: i64,
    hi: i64,
) -> Result<TableFigures, BoxError> {
    let range = [("lo", lo.to_string()), ("hi", hi.to_string())];
    let history = pgbench.run(
        &HISTORY.replace("TABLE", table),
        s.clients,
        s.warmup,
        s.window,
        &range,
    )?;
    let retain_one = pgbench.run(
        &RETAIN_ONE.replace("TABLE", table),
        s.clients,
        s.warmup,
        s.window,
        &range,
    )?;
    let plan = cluster.psql(
        DB,
        &format!(
            "BEGIN; EXPLAIN (ANALYZE, FORMAT JSON) {}; ROLLBACK;",
            RETAIN_ALL.replace("TABLE", table)
        ),
    );
    let plan: serde_json::Value = serde_json::from_str(plan.trim())?;
    let retain_all_ms = plan[0]["Execution Time"]
        .as_f64()
        .ok_or("EXPLAIN gave no execution time")?;
    let size: f64 = cluster
        .psql(
            DB,
            &format!(
                "SELECT CASE WHEN relkind = 'p'
                   THEN (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree(oid))
                   ELSE pg_total_relation_size(oid) END
                 FROM pg_class WHERE oid = '{table}'::regclass"
            ),
        )
        .trim()
        .parse()?;
    Ok(TableFigures {
        history,
        retain_one,
        retain_all_ms,
        size_mib: size / 1024.0 / 1024.0,
    })
}
