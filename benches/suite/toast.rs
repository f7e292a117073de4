//! The cost of compressing documents in PostgreSQL: pgbench inserting the autosave's ~6 KB
//! document, bound as a parameter as the server sends it, into a `jsonb` column compressed with
//! pglz (PostgreSQL's default) and into one compressed with lz4 (what migration
//! `2026-12-02-000180_lz4_documents` sets), one after the other in the same run, with
//! PostgreSQL's CPU per insert.

use crate::pg_cluster::APP_ROLE;
use crate::pgbench::PgBench;
use crate::report::{Report, Row};
use crate::server::{CpuOf, CpuWindow};
use crate::{data, BoxError, Settings, DB};

/// Inserts into `table` for the run's window; the measurement and PostgreSQL's CPU per insert.
fn inserts(
    pgbench: &PgBench,
    pg: u32,
    table: &str,
    doc: &str,
    s: &Settings,
) -> Result<(crate::measure::Measurement, f64), BoxError> {
    let cpu = CpuWindow::start(vec![CpuOf::Tree(pg)], s.warmup, s.window);
    let script = format!("INSERT INTO {table} (doc) VALUES (CAST(:doc AS jsonb));\n");
    let measured = pgbench.run(
        &script,
        s.clients,
        s.warmup,
        s.window,
        &[("doc", doc.to_owned())],
    )?;
    let pg_ms = cpu.per_operation_ms(measured.count)[0];
    Ok((measured, pg_ms))
}

/// Measures both compressions and adds their table to `report`.
pub fn section(report: &mut Report, s: &Settings) -> Result<(), BoxError> {
    let cluster = crate::hot_path::durable_cluster();
    cluster.psql(
        DB,
        "CREATE TABLE toast_pglz (id BIGSERIAL PRIMARY KEY, doc JSONB COMPRESSION pglz);
         CREATE TABLE toast_lz4 (id BIGSERIAL PRIMARY KEY, doc JSONB COMPRESSION lz4);
         ALTER TABLE toast_pglz OWNER TO mapagov;
         ALTER TABLE toast_lz4 OWNER TO mapagov;",
    );
    let doc = data::content(0, 6 * 1024, 1, 4).to_string();
    let pgbench = PgBench::new(cluster.port(), APP_ROLE, cluster.password(), DB);
    let pg = cluster.postmaster_pid();
    let (lz4, lz4_ms) = inserts(&pgbench, pg, "toast_lz4", &doc, s)?;
    let (pglz, pglz_ms) = inserts(&pgbench, pg, "toast_pglz", &doc, s)?;
    report.table(
        &format!(
            "PostgreSQL compression of a ~6 KB `jsonb` document: lz4 vs pglz ({} pgbench \
             clients inserting it as a parameter, `fsync` on)",
            s.clients
        ),
        "pglz (the default), same run",
        &[
            Row {
                what: "inserts/s, lz4 (what MapaGov sets)",
                value: lz4.rate,
                baseline: pglz.rate,
                unit: "/s",
                goal: None,
            },
            Row {
                what: "  PostgreSQL CPU per insert",
                value: lz4_ms,
                baseline: pglz_ms,
                unit: "ms",
                goal: None,
            },
        ],
    );
    Ok(())
}
