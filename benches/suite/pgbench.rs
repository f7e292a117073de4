//! The baseline: PostgreSQL's own `pgbench` running an SQL script equivalent to what the API does,
//! with the same number of clients against the same database, for the same warm-up and window.
//! Latencies come from pgbench's per-transaction log (`-l`), so percentiles are computed the same
//! way as for the API.

use crate::measure::{self, Measurement};
use crate::BoxError;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// How to reach the benchmark database as the application role.
pub struct PgBench {
    bin: PathBuf,
    port: u16,
    user: String,
    password: String,
    database: String,
}

impl PgBench {
    /// pgbench from `pg_config --bindir` (else the `PATH`), for `database` on 127.0.0.1:`port`.
    pub fn new(port: u16, user: &str, password: &str, database: &str) -> PgBench {
        let bin = bin_dir().join("pgbench");
        PgBench {
            bin,
            port,
            user: user.to_owned(),
            password: password.to_owned(),
            database: database.to_owned(),
        }
    }

    /// Runs `script` with `clients` connections: `warmup` discarded, then `window` measured.
    /// `defines` become pgbench variables (`-D name=value`).
    pub fn run(
        &self,
        script: &str,
        clients: usize,
        warmup: Duration,
        window: Duration,
        defines: &[(&str, String)],
    ) -> Result<Measurement, BoxError> {
        self.run_scripts(&[script.to_owned()], clients, warmup, window, defines)
    }

    /// [`PgBench::run`] with several scripts: each transaction runs one of them, chosen at
    /// random with equal weights.
    pub fn run_scripts(
        &self,
        scripts: &[String],
        clients: usize,
        warmup: Duration,
        window: Duration,
        defines: &[(&str, String)],
    ) -> Result<Measurement, BoxError> {
        let dir = tempfile::Builder::new()
            .prefix("mapagov-pgbench-")
            .tempdir()?;
        let mut paths = Vec::with_capacity(scripts.len());
        for (n, script) in scripts.iter().enumerate() {
            let path = dir.path().join(format!("script{n}.sql"));
            fs::write(&path, script)?;
            paths.push(path);
        }
        if !warmup.is_zero() {
            self.invoke(&paths, clients, warmup, defines, None)?;
        }
        let prefix = dir.path().join("log");
        self.invoke(&paths, clients, window, defines, Some(&prefix))?;
        let mut hist = measure::histogram();
        for entry in fs::read_dir(dir.path())? {
            let path = entry?.path();
            let is_log = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("log."));
            if !is_log {
                continue;
            }
            // Each line: client_id transaction_no time_us script_no epoch_s epoch_us.
            for line in fs::read_to_string(&path)?.lines() {
                let micros: u64 = line
                    .split_whitespace()
                    .nth(2)
                    .and_then(|t| t.parse().ok())
                    .ok_or_else(|| format!("unexpected pgbench log line: {line}"))?;
                measure::record(&mut hist, Duration::from_micros(micros));
            }
        }
        if hist.is_empty() {
            return Err("pgbench completed no transaction".into());
        }
        Ok(Measurement::from_histogram(&hist, window))
    }

    fn invoke(
        &self,
        scripts: &[PathBuf],
        clients: usize,
        duration: Duration,
        defines: &[(&str, String)],
        log_prefix: Option<&std::path::Path>,
    ) -> Result<(), BoxError> {
        let mut command = Command::new(&self.bin);
        command
            .args(["-n", "-M", "prepared", "-h", "127.0.0.1"])
            .arg(format!("-p{}", self.port))
            .arg(format!("-U{}", self.user))
            .arg(format!("-c{clients}"))
            .arg(format!("-j{}", clients.min(4)))
            .arg(format!("-T{}", duration.as_secs().max(1)));
        for script in scripts {
            command.arg("-f").arg(script);
        }
        for (name, value) in defines {
            command.arg("-D").arg(format!("{name}={value}"));
        }
        if let Some(prefix) = log_prefix {
            command
                .arg("-l")
                .arg(format!("--log-prefix={}", prefix.display()));
        }
        // The password goes through the environment, never the command line.
        let output = command
            .arg(&self.database)
            .env("PGPASSWORD", &self.password)
            .env_remove("PGSERVICE")
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.bin.display()))?;
        if !output.status.success() {
            return Err(format!(
                "pgbench failed ({}):\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        Ok(())
    }
}

/// PostgreSQL's client programs: `pg_config --bindir`, else whatever the `PATH` finds.
pub fn bin_dir() -> PathBuf {
    Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        .filter(|dir| dir.join("pgbench").is_file())
        .unwrap_or_default()
}
