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
    let mut command = Command::new(BINARY);
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
        let port = TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port();
        let base = format!("http://127.0.0.1:{port}");
        let child = command(database_url)
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
