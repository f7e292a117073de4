//! `mapagov copy` SQLite → PostgreSQL at two sizes: rows per second and the child's peak memory
//! (`VmHWM`), next to PostgreSQL's own `pg_dump | psql` of the copied rows.

use crate::data;
use crate::pg_cluster::{PgCluster, APP_ROLE};
use crate::server::{self, MemorySampler};
use crate::BoxError;
use diesel::{Connection, RunQueryDsl, SqliteConnection};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Snapshots per POP in the copied database.
const PER_POP: u64 = 500;

/// One copy run.
pub struct CopyRun {
    /// Snapshots in the source.
    pub snapshots: u64,
    /// Rows written (users, POPs, snapshots).
    pub rows: u64,
    /// Wall time of `mapagov copy` (including its verification), seconds.
    pub secs: f64,
    /// Peak resident memory of the `mapagov copy` process, MiB.
    pub peak_mib: f64,
    /// The PostgreSQL database written.
    pub database: String,
}

impl CopyRun {
    /// Rows per second.
    pub fn rate(&self) -> f64 {
        self.rows as f64 / self.secs.max(1e-9)
    }
}

/// Builds a SQLite database of `snapshots` snapshots and copies it into a new PostgreSQL database.
pub fn copy(cluster: &PgCluster, snapshots: u64) -> Result<CopyRun, BoxError> {
    let pops = snapshots.div_ceil(PER_POP).max(1);
    let dir = tempfile::Builder::new().prefix("mapagov-copy-").tempdir()?;
    let path = dir.path().join("source.sqlite3");
    let source = format!("sqlite://{}", path.display());
    server::run(&source, &["migrate"])?;
    let mut conn = SqliteConnection::establish(&path.display().to_string())?;
    for statement in data::sqlite_bulk(pops, PER_POP) {
        diesel::sql_query(statement).execute(&mut conn)?;
    }
    drop(conn);

    let database = format!("copy_{snapshots}");
    cluster.create_database(&database);
    let target = cluster.url(&database);
    let started = Instant::now();
    let mut child = server::command(&source)
        .args(["copy", "--from", &source, "--to", &target])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let sampler = MemorySampler::start(child.id(), "VmHWM");
    let status = child.wait()?;
    let secs = started.elapsed().as_secs_f64();
    let peak_mib = sampler.finish();
    if !status.success() {
        let mut stderr = String::new();
        if let Some(mut err) = child.stderr.take() {
            use std::io::Read;
            let _ = err.read_to_string(&mut stderr);
        }
        return Err(format!("mapagov copy failed ({status}):\n{stderr}").into());
    }
    let rows: u64 = cluster
        .psql(
            &database,
            "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM pops)
                  + (SELECT count(*) FROM pop_snapshots)",
        )
        .trim()
        .parse()?;
    let copied: u64 = cluster
        .psql(&database, "SELECT count(*) FROM pop_snapshots")
        .trim()
        .parse()?;
    if copied != pops * PER_POP {
        return Err(format!("copy wrote {copied} snapshots, expected {}", pops * PER_POP).into());
    }
    Ok(CopyRun {
        snapshots: copied,
        rows,
        secs,
        peak_mib,
        database,
    })
}

/// The baseline: `pg_dump --data-only` of the copied tables piped into `psql` on a freshly
/// migrated database; rows per second.
pub fn dump_restore(cluster: &PgCluster, run: &CopyRun) -> Result<f64, BoxError> {
    let bin = crate::pgbench::bin_dir();
    let database = format!("{}_restore", run.database);
    cluster.create_database(&database);
    server::run(&cluster.url(&database), &["migrate"])?;
    let connect = |command: &mut Command, db: &str| {
        command
            .args(["-h", "127.0.0.1", "-U", APP_ROLE, "-d", db])
            .arg(format!("-p{}", cluster.port()))
            .env("PGPASSWORD", cluster.password());
    };
    let started = Instant::now();
    let mut dump = Command::new(bin.join("pg_dump"));
    connect(&mut dump, &run.database);
    let mut dump = dump
        .args([
            "--data-only",
            "-t",
            "users",
            "-t",
            "pops",
            "-t",
            "pop_snapshots",
        ])
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = dump.stdout.take().ok_or("pg_dump has no stdout")?;
    let mut restore = Command::new(bin.join("psql"));
    connect(&mut restore, &database);
    let restored = restore
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"])
        .stdin(stdout)
        .stdout(Stdio::null())
        .status()?;
    let dumped = dump.wait()?;
    let secs = started.elapsed().as_secs_f64();
    if !dumped.success() || !restored.success() {
        return Err(format!("pg_dump | psql failed ({dumped}, {restored})").into());
    }
    cluster.psql("postgres", &format!("DROP DATABASE \"{database}\";"));
    Ok(run.rows as f64 / secs.max(1e-9))
}
