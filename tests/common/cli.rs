//! Running the real `mapagov` binary, as an operator would.

use std::process::Command;

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
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mapagov"));
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
