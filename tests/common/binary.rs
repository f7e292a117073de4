//! The real `mapagov` binary, run as an operator would: a command to completion (with its output
//! checked by the test, [`run`], or required to succeed, [`run_ok`]), or `serve` on a free loopback
//! port until it is sent SIGTERM.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_mapagov");

/// A `mapagov` command on `database_url` with `extra` variables, in a scratch directory (so no
/// `.env` is read).
pub fn command(database_url: &str, dir: &std::path::Path, extra: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env("DATABASE_URL", database_url)
        .env("DB_SSLMODE", "disable")
        .env_remove("SENTRY_DSN")
        .env_remove("RUST_LOG");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd
}

/// Runs a command to completion and returns its output, failing the test if it fails.
pub fn run_ok(mut cmd: Command) -> Output {
    let output = cmd.output().expect("run mapagov");
    assert!(
        output.status.success(),
        "mapagov failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Creates a user with `mapagov user create` and returns its API token.
pub fn create_user(database_url: &str, dir: &std::path::Path, username: &str) -> String {
    let mut cmd = command(database_url, dir, &[]);
    cmd.args(["user", "create", username]);
    let output = run_ok(cmd);
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .expect("a token line")
        .trim()
        .to_owned()
}

/// `mapagov serve` running as a child process; what it prints goes to files (a pipe nobody reads
/// would fill up and block it).
pub struct Served {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    child: Option<Child>,
    stdout: PathBuf,
    stderr: PathBuf,
}

/// How `mapagov serve` ended.
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error (the logs).
    pub stderr: String,
}

impl Served {
    /// Starts `mapagov serve --no-bootstrap-admin` and waits until `/healthz` answers 200.
    pub async fn start(
        database_url: &str,
        dir: &std::path::Path,
        extra: &[(&str, &str)],
    ) -> Served {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let bind = format!("127.0.0.1:{port}");
        let stdout = dir.join(format!("serve-{port}.out"));
        let stderr = dir.join(format!("serve-{port}.err"));
        let mut cmd = command(database_url, dir, extra);
        let child = cmd
            .env("BIND", &bind)
            .args(["serve", "--no-bootstrap-admin"])
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("spawn mapagov serve");
        let served = Served {
            base: format!("http://{bind}"),
            child: Some(child),
            stdout,
            stderr,
        };
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if http
                .get(format!("{}/healthz", served.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return served;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let output = served.terminate();
        panic!("mapagov serve did not become healthy: {}", output.stderr);
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Sends SIGTERM and waits for the process; returns everything it printed and its status.
    pub fn terminate(self) -> Finished {
        self.sigterm();
        self.wait()
    }

    /// Waits for the process to exit; returns everything it printed and its status.
    pub fn wait(mut self) -> Finished {
        let status = self
            .child
            .take()
            .expect("running")
            .wait()
            .expect("wait for mapagov");
        let read = |path: &PathBuf| std::fs::read_to_string(path).expect("read output");
        Finished {
            status,
            stdout: read(&self.stdout),
            stderr: read(&self.stderr),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    /// The exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Both streams, for failure messages and leak checks.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs `mapagov ARGS` with `DATABASE_URL=url` (when given), plaintext to the test PostgreSQL,
/// and `env` on top of an otherwise empty environment, from a directory without a `.env`.
pub fn run(url: Option<&str>, env: &[(&str, &str)], args: &[&str]) -> Run {
    let workdir = tempfile::tempdir().expect("work directory");
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("DB_SSLMODE", "disable")
        .env("RUST_LOG", "error")
        .current_dir(workdir.path())
        .args(args);
    if let Some(url) = url {
        cmd.env("DATABASE_URL", url);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run mapagov");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Like [`run`], but a process still running after `limit` is killed and the test fails (a bad
/// setting that is accepted would otherwise leave `serve` running for ever).
pub fn run_bounded(
    url: Option<&str>,
    env: &[(&str, &str)],
    args: &[&str],
    limit: std::time::Duration,
) -> Run {
    let workdir = tempfile::tempdir().expect("work directory");
    let stdout = workdir.path().join("stdout");
    let stderr = workdir.path().join("stderr");
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("DB_SSLMODE", "disable")
        .env("RUST_LOG", "error")
        .current_dir(workdir.path())
        .args(args)
        .stdout(std::fs::File::create(&stdout).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr).expect("stderr file"));
    if let Some(url) = url {
        cmd.env("DATABASE_URL", url);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run mapagov");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for mapagov") {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let read = |path: &PathBuf| std::fs::read_to_string(path).expect("read output");
    let run = Run {
        code: status.and_then(|s| s.code()).unwrap_or(-1),
        stdout: read(&stdout),
        stderr: read(&stderr),
    };
    assert!(
        status.is_some(),
        "mapagov {args:?} with {env:?} was still running after {limit:?}: {}",
        run.all()
    );
    run
}
