//! The real `mapagov` binary (built by cargo for this bench, i.e. with the release profile) run as
//! a separate process: `user create` for a token, `serve` on a free port, and its memory read
//! from `/proc/<pid>/status`.

use crate::BoxError;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The `mapagov` executable cargo built alongside this bench.
pub const BINARY: &str = env!("CARGO_BIN_EXE_mapagov");

/// Settings every `mapagov` process of the bench gets (besides `DATABASE_URL`).
const COMMON_ENV: [(&str, &str); 3] = [
    ("DB_SSLMODE", "disable"),
    ("RUST_LOG", "warn"),
    ("LOG_FORMAT", "text"),
];

/// A `mapagov` command against `database_url`, isolated from any `.env` of the caller.
pub fn command(database_url: &str) -> Command {
    command_of(BINARY, database_url)
}

/// As [`command`], running `binary`.
fn command_of(binary: &str, database_url: &str) -> Command {
    let mut command = Command::new(binary);
    command
        .env("DATABASE_URL", database_url)
        .envs(COMMON_ENV)
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null());
    command
}

/// Runs a `mapagov` subcommand to completion; its stdout, or an error with its stderr.
pub fn run(database_url: &str, args: &[&str]) -> Result<String, BoxError> {
    let output = command(database_url).args(args).output()?;
    if !output.status.success() {
        return Err(format!(
            "mapagov {} failed ({}):\n{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Creates staff user `username` and returns its API token (the last line printed).
pub fn create_staff_token(database_url: &str, username: &str) -> Result<String, BoxError> {
    let out = run(database_url, &["user", "create", username, "--staff"])?;
    out.lines()
        .last()
        .map(|line| line.trim().to_owned())
        .filter(|token| !token.is_empty())
        .ok_or_else(|| "mapagov user create printed no token".into())
}

/// A running `mapagov serve`; killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl Server {
    /// Starts `mapagov serve` with `env` on a free port and waits for `/healthz`.
    pub async fn start(database_url: &str, env: &[(&str, &str)]) -> Result<Server, BoxError> {
        Server::start_binary(BINARY, database_url, env).await
    }

    /// As [`Server::start`], with another build of `mapagov` (e.g. a baseline).
    pub async fn start_binary(
        binary: &str,
        database_url: &str,
        env: &[(&str, &str)],
    ) -> Result<Server, BoxError> {
        let port = TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port();
        let base = format!("http://127.0.0.1:{port}");
        let child = command_of(binary, database_url)
            .arg("serve")
            .env("BIND", format!("127.0.0.1:{port}"))
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .spawn()?;
        let mut server = Server { child, base };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = server.child.try_wait()? {
                return Err(format!("mapagov serve exited at start-up ({status})").into());
            }
            let healthy = http
                .get(format!("{}/healthz", server.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if healthy {
                return Ok(server);
            }
            if Instant::now() > deadline {
                server.stop();
                return Err("mapagov serve did not become healthy within 60 s".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `kB` field (`VmRSS`, `VmHWM`) of `/proc/<pid>/status`, in MiB.
pub fn proc_mib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        let kib: f64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib / 1024.0)
    })
}

/// Samples one `/proc/<pid>/status` field every 50 ms until told to stop; the largest value seen.
pub struct MemorySampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<f64>,
}

impl MemorySampler {
    /// Starts sampling `field` (`VmRSS` for the current size, `VmHWM` for the kernel's peak).
    pub fn start(pid: u32, field: &'static str) -> MemorySampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut peak: f64 = 0.0;
            while !flag.load(Ordering::Relaxed) {
                if let Some(mib) = proc_mib(pid, field) {
                    peak = peak.max(mib);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            peak
        });
        MemorySampler { stop, handle }
    }

    /// Stops sampling and returns the largest value, MiB.
    pub fn finish(self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or(0.0)
    }
}

/// CPU time (user + system) used so far by process `pid` and its direct children (PostGraphile's
/// cluster workers), in seconds, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: u32) -> f64 {
    let ticks_per_second = clock_ticks();
    let mut ticks = own_ticks(pid).unwrap_or(0);
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if stat_fields(child)
                .is_some_and(|f| f.get(1).and_then(|p| p.parse().ok()) == Some(pid))
            {
                ticks += own_ticks(child).unwrap_or(0);
            }
        }
    }
    ticks as f64 / ticks_per_second
}

/// The fields of `/proc/<pid>/stat` after the command name (so field 3, the state, is index 0).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    Some(after_name.split_whitespace().map(str::to_owned).collect())
}

/// utime + stime of one process, in clock ticks.
fn own_ticks(pid: u32) -> Option<u64> {
    let fields = stat_fields(pid)?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// cutime + cstime of one process (its children that have exited and been waited for), in
/// clock ticks.
fn waited_ticks(pid: u32) -> Option<u64> {
    let fields = stat_fields(pid)?;
    let cutime: u64 = fields.get(13)?.parse().ok()?;
    let cstime: u64 = fields.get(14)?.parse().ok()?;
    Some(cutime + cstime)
}

/// `getconf CLK_TCK` (100 on Linux unless the kernel says otherwise).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Whose CPU time a [`CpuWindow`] counts.
#[derive(Debug, Clone, Copy)]
pub enum CpuOf {
    /// A process and its direct children ([`cpu_seconds`]): a server, PostgreSQL's postmaster
    /// and its backends.
    Tree(u32),
    /// One process alone, without its children: the benchmark's own load client (whose children
    /// are the servers it measures).
    Process(u32),
}

impl CpuOf {
    fn seconds(self) -> f64 {
        match self {
            // With the children it has waited for: a PostgreSQL backend that exits in the
            // window (a recycled connection, an autovacuum worker) moves its time there.
            CpuOf::Tree(pid) => {
                cpu_seconds(pid) + waited_ticks(pid).unwrap_or(0) as f64 / clock_ticks()
            }
            CpuOf::Process(pid) => own_ticks(pid).unwrap_or(0) as f64 / clock_ticks(),
        }
    }
}

/// The CPU seconds some processes use during a load run's measured window: sampled when the
/// warm-up ends and when the window closes.
pub struct CpuWindow {
    handle: std::thread::JoinHandle<Vec<f64>>,
    processes: usize,
}

impl CpuWindow {
    /// Starts timing the window that opens after `warmup` and lasts `window`.
    pub fn start(of: Vec<CpuOf>, warmup: Duration, window: Duration) -> CpuWindow {
        let processes = of.len();
        let handle = std::thread::spawn(move || {
            std::thread::sleep(warmup);
            let before: Vec<f64> = of.iter().map(|o| o.seconds()).collect();
            std::thread::sleep(window);
            of.iter()
                .zip(before)
                .map(|(o, b)| o.seconds() - b)
                .collect()
        });
        CpuWindow { handle, processes }
    }

    /// CPU milliseconds per operation of each process given to [`CpuWindow::start`], in its
    /// order, for `count` operations completed in the window.
    pub fn per_operation_ms(self, count: u64) -> Vec<f64> {
        let processes = self.processes;
        let seconds = (self.handle.join()).unwrap_or_else(|_| vec![0.0; processes]);
        seconds
            .into_iter()
            .map(|s| s * 1000.0 / count.max(1) as f64)
            .collect()
    }
}
