//! `verify`: is the database sound? Counts, orphaned rows, sequences, hashes, and the old system's
//! warnings (slow `SELECT 1`, snapshots piling up).
//!
//! Findings are graded: a *failure* means data is wrong or the next write would fail (a hash that
//! does not match, an orphaned row, a sequence behind its table); a *warning* means something to
//! look at (slowness, growth). [`VerifyReport::exit_code`] maps them to 2 and 1.

use super::rows::{read_batch, Batch, Cursor, PopRow, Table, BATCH_SIZE};
use crate::db::models::PopContent;
use crate::db::{Conn, Db};
use crate::domain::document::document_parts;
use crate::domain::hash::integrity_hash;
use crate::domain::versions::version_hash;
use crate::error::AppError;
use crate::with_backend;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A `SELECT 1` slower than this is a warning.
pub const SLOW_PING: Duration = Duration::from_millis(500);
/// More snapshots than this many times the POP count is a warning.
pub const SNAPSHOTS_PER_POP_WARNING: i64 = 25;

/// What `verify` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Rows per table.
    pub counts: BTreeMap<String, i64>,
    /// Milliseconds `SELECT 1` took.
    pub ping_ms: u128,
    /// POPs re-hashed.
    pub pops_checked: u64,
    /// Snapshots re-hashed.
    pub snapshots_checked: u64,
    /// Published versions re-hashed.
    pub versions_checked: u64,
    /// Integrity failures.
    pub failures: Vec<String>,
    /// Warnings.
    pub warnings: Vec<String>,
}

impl VerifyReport {
    /// 0: all well; 1: warnings only; 2: integrity failures.
    pub fn exit_code(&self) -> u8 {
        if !self.failures.is_empty() {
            2
        } else if !self.warnings.is_empty() {
            1
        } else {
            0
        }
    }
}

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct SeqName {
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
}

#[derive(QueryableByName)]
struct SeqState {
    #[diesel(sql_type = BigInt)]
    last_value: i64,
    #[diesel(sql_type = Bool)]
    is_called: bool,
}

/// Orphan and consistency checks: a name and SQL counting the rows at fault (the same text on
/// both backends).
const ORPHANS: [(&str, &str); 9] = [
    (
        "api_tokens naming a missing user",
        "SELECT COUNT(*) AS n FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id WHERE u.id IS NULL",
    ),
    (
        "pop_snapshots without their POP",
        "SELECT COUNT(*) AS n FROM pop_snapshots s LEFT JOIN pops p ON p.id = s.pop_id WHERE p.id IS NULL",
    ),
    (
        "pop_change_log rows without their POP",
        "SELECT COUNT(*) AS n FROM pop_change_log c LEFT JOIN pops p ON p.id = c.pop_id WHERE p.id IS NULL",
    ),
    (
        "pop_change_log rows naming a missing snapshot",
        "SELECT COUNT(*) AS n FROM pop_change_log c LEFT JOIN pop_snapshots s ON s.id = c.snapshot_id \
         WHERE c.snapshot_id IS NOT NULL AND s.id IS NULL",
    ),
    (
        "pop_versions without their POP",
        "SELECT COUNT(*) AS n FROM pop_versions v LEFT JOIN pops p ON p.id = v.pop_id WHERE p.id IS NULL",
    ),
    (
        "pop_versions naming a missing publisher",
        "SELECT COUNT(*) AS n FROM pop_versions v LEFT JOIN users u ON u.id = v.published_by_id \
         WHERE v.published_by_id IS NOT NULL AND u.id IS NULL",
    ),
    (
        "current pop_versions of a POP that is not published",
        "SELECT COUNT(*) AS n FROM pop_versions v JOIN pops p ON p.id = v.pop_id \
         WHERE v.is_current AND (p.status <> 'published' OR p.deleted_at IS NOT NULL)",
    ),
    (
        "pops naming a missing creator",
        "SELECT COUNT(*) AS n FROM pops p LEFT JOIN users u ON u.id = p.created_by_id \
         WHERE p.created_by_id IS NOT NULL AND u.id IS NULL",
    ),
    (
        "pop_change_log rows naming a missing user",
        "SELECT COUNT(*) AS n FROM pop_change_log c LEFT JOIN users u ON u.id = c.user_id \
         WHERE c.user_id IS NOT NULL AND u.id IS NULL",
    ),
];

/// Checks of published versions and process codes that are worth knowing but not wrong data: a
/// name and SQL counting the rows.
const NOTICES: [(&str, &str); 3] = [
    (
        "published POPs without a current version (the catalogue does not answer them)",
        "SELECT COUNT(*) AS n FROM pops p WHERE p.status = 'published' AND p.deleted_at IS NULL \
         AND NOT EXISTS (SELECT 1 FROM pop_versions v WHERE v.pop_id = p.id AND v.is_current)",
    ),
    (
        "live POPs marked as sharing a process code held first by another (cap_duplicate): give \
         them a new code",
        "SELECT COUNT(*) AS n FROM pops WHERE cap_duplicate AND deleted_at IS NULL",
    ),
    (
        "current pop_versions whose number is not their POP's versao",
        "SELECT COUNT(*) AS n FROM pop_versions v JOIN pops p ON p.id = v.pop_id \
         WHERE v.is_current AND v.versao <> p.versao",
    ),
];

/// Runs every check; `sample` limits re-hashing to the newest N POPs, N snapshots and N
/// published versions.
pub async fn verify(db: &Db, sample: Option<i64>) -> Result<VerifyReport, AppError> {
    let mut report = VerifyReport::default();
    let started = Instant::now();
    db.ping().await?;
    let ping = started.elapsed();
    report.ping_ms = ping.as_millis();
    if ping > SLOW_PING {
        report.warnings.push(format!(
            "SELECT 1 took {} ms (more than {} ms)",
            ping.as_millis(),
            SLOW_PING.as_millis()
        ));
    }
    let mut pooled = db.get().await?;
    let mut conn = pooled.conn();
    for table in Table::ALL {
        let n = super::rows::count(&mut conn, table).await?;
        report.counts.insert(table.name().to_owned(), n);
    }
    let (pops, snapshots) = (report.counts["pops"], report.counts["pop_snapshots"]);
    if snapshots > SNAPSHOTS_PER_POP_WARNING * pops.max(1) {
        report.warnings.push(format!(
            "{snapshots} snapshots for {pops} POPs (more than {SNAPSHOTS_PER_POP_WARNING} per POP): \
             run the retention cleanup"
        ));
    }
    for (what, sql) in ORPHANS {
        let n = with_backend!(&mut conn, |c| diesel::sql_query(sql)
            .get_result::<Number>(c)
            .await)?
        .n;
        if n > 0 {
            report.failures.push(format!("{n} {what}"));
        }
    }
    for (what, sql) in NOTICES {
        let n = with_backend!(&mut conn, |c| diesel::sql_query(sql)
            .get_result::<Number>(c)
            .await)?
        .n;
        if n > 0 {
            report.warnings.push(format!("{n} {what}"));
        }
    }
    check_sequences(&mut conn, &mut report).await?;
    rehash(&mut conn, Table::Pops, sample, &mut report).await?;
    rehash(&mut conn, Table::PopSnapshots, sample, &mut report).await?;
    rehash(&mut conn, Table::PopVersions, sample, &mut report).await?;
    Ok(report)
}

async fn check_sequences(conn: &mut Conn<'_>, report: &mut VerifyReport) -> Result<(), AppError> {
    let Conn::Pg(c) = conn else {
        return Ok(());
    };
    for table in Table::ALL.into_iter().filter(|t| t.has_identity()) {
        let name = table.name();
        let seq = diesel::sql_query(format!(
            "SELECT pg_get_serial_sequence('{name}', 'id') AS name"
        ))
        .get_result::<SeqName>(&mut *c)
        .await?;
        let Some(seq) = seq.name else {
            report.failures.push(format!("{name}.id has no sequence"));
            continue;
        };
        let state = diesel::sql_query(format!("SELECT last_value, is_called FROM {seq}"))
            .get_result::<SeqState>(&mut *c)
            .await?;
        let max = diesel::sql_query(format!("SELECT COALESCE(MAX(id), 0) AS n FROM {name}"))
            .get_result::<Number>(&mut *c)
            .await?
            .n;
        let next = if state.is_called {
            state.last_value + 1
        } else {
            state.last_value
        };
        if next <= max {
            report.failures.push(format!(
                "the id sequence of {name} would hand out {next}, but ids go up to {max}: \
                 the next insert will fail"
            ));
        }
    }
    Ok(())
}

fn pop_row_hash(row: &PopRow) -> String {
    let content = PopContent {
        nome_usuario: row.nome_usuario.clone(),
        area_codigo: row.area_codigo.clone(),
        area_nome: row.area_nome.clone(),
        macroprocesso: row.macroprocesso.clone(),
        codigo_processo: row.codigo_processo.clone(),
        nome_processo: row.nome_processo.clone(),
        processo_especifico: row.processo_especifico.clone(),
        entrega_esperada: row.entrega_esperada.clone(),
        dispositivos_normativos: row.dispositivos_normativos.clone(),
        sistemas_utilizados: row.sistemas_utilizados.clone().into(),
        operadores: row.operadores.clone(),
        pontos_atencao: row.pontos_atencao.clone(),
        etapas: row.etapas.clone().into(),
        documentos_utilizados: row.documentos_utilizados.clone().into(),
        fluxos_entrada: row.fluxos_entrada.clone().into(),
        fluxos_saida: row.fluxos_saida.clone().into(),
    };
    integrity_hash(&document_parts(
        &content,
        row.status.as_str(),
        row.versao,
        row.created_at,
        &row.uuid.to_string(),
    ))
}

/// Where to start so that only the newest `sample` rows are read.
async fn sample_start(conn: &mut Conn<'_>, table: Table, sample: i64) -> Result<Cursor, AppError> {
    let ids: Vec<i64> = match table {
        Table::Pops => with_backend!(conn, |c| schema::pops::table
            .order(schema::pops::id.desc())
            .limit(sample)
            .select(schema::pops::id)
            .load(c)
            .await)?,
        Table::PopVersions => with_backend!(conn, |c| schema::pop_versions::table
            .order(schema::pop_versions::id.desc())
            .limit(sample)
            .select(schema::pop_versions::id)
            .load(c)
            .await)?,
        _ => with_backend!(conn, |c| schema::pop_snapshots::table
            .order(schema::pop_snapshots::id.desc())
            .limit(sample)
            .select(schema::pop_snapshots::id)
            .load(c)
            .await)?,
    };
    Ok(ids
        .last()
        .map_or(Cursor::Start, |oldest| Cursor::Id(oldest - 1)))
}

async fn rehash(
    conn: &mut Conn<'_>,
    table: Table,
    sample: Option<i64>,
    report: &mut VerifyReport,
) -> Result<(), AppError> {
    let mut cursor = match sample {
        Some(n) => sample_start(conn, table, n).await?,
        None => Cursor::Start,
    };
    loop {
        let batch = read_batch(conn, table, &cursor, BATCH_SIZE).await?;
        match &batch {
            Batch::Pops(rows) => {
                for row in rows {
                    report.pops_checked += 1;
                    if pop_row_hash(row) != row.integrity_hash {
                        report.failures.push(format!(
                            "POP {} ({}) does not match its integrity hash",
                            row.id, row.uuid
                        ));
                    }
                }
            }
            Batch::PopSnapshots(rows) => {
                for row in rows {
                    report.snapshots_checked += 1;
                    if integrity_hash(&row.payload) != row.integrity_hash {
                        report.failures.push(format!(
                            "snapshot {} (POP {}, sequence {}) does not match its integrity hash",
                            row.id, row.pop_id, row.sequence
                        ));
                    }
                }
            }
            Batch::PopVersions(rows) => {
                for row in rows {
                    report.versions_checked += 1;
                    if version_hash(&row.payload, row.versao) != row.integrity_hash {
                        report.failures.push(format!(
                            "published version {} (POP {}, version {}) does not match its \
                             integrity hash",
                            row.id, row.pop_id, row.versao
                        ));
                    }
                }
            }
            _ => {}
        }
        match batch.last_cursor() {
            Some(next) if batch.len() as i64 == BATCH_SIZE => cursor = next,
            _ => break,
        }
    }
    Ok(())
}
