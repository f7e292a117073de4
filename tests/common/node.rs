//! Node scripts of the test suite (`tests/js`): found, installed from the lock file when
//! `node_modules` is missing, and run. Without Node and npm the test fails, saying what to install.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Mutex;

/// Serialises installs: two tests of one binary must not run `npm ci` in the same folder at once.
static INSTALL: Mutex<()> = Mutex::new(());

/// `tests/js`, with its dependencies installed (`npm ci` from `package-lock.json` if needed).
pub fn project() -> PathBuf {
    installed("tests/js")
}

/// The Node project at `path` (relative to the repository), with its dependencies installed:
/// `npm ci` when `node_modules` is missing or older than `package-lock.json`.
pub fn installed(path: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    let _installing = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    for program in ["node", "npm"] {
        let found = Command::new(program).arg("--version").output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "`{program}` is missing: install Node.js 18 or newer and npm (Debian: nodejs, npm)"
        );
    }
    let modified = |file: &str| {
        std::fs::metadata(dir.join(file))
            .and_then(|m| m.modified())
            .ok()
    };
    let installed_at = modified("node_modules/.package-lock.json");
    if installed_at.is_none() || installed_at < modified("package-lock.json") {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .output()
            .expect("run npm ci");
        assert!(
            out.status.success(),
            "npm ci in {path} failed:\n{}",
            text(&out)
        );
    }
    dir
}

/// Runs `npm run <script>` in the installed project `dir`; returns its output.
pub fn npm_run(dir: &std::path::Path, script: &str) -> Output {
    Command::new("npm")
        .args(["run", "--silent", script])
        .current_dir(dir)
        .output()
        .expect("run npm")
}

/// The reference TypeScript client (`clients/typescript`), installed, checked against the
/// current `schema.graphql` (generated types current, type check clean) and built into `dist/`,
/// once per test binary.
pub fn typescript_client() -> PathBuf {
    static BUILT: Mutex<bool> = Mutex::new(false);
    let dir = installed("clients/typescript");
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !*built {
        for script in ["check", "build"] {
            let out = npm_run(&dir, script);
            assert!(
                out.status.success(),
                "npm run {script} in clients/typescript failed:\n{}",
                text(&out)
            );
        }
        *built = true;
    }
    dir
}

/// Runs `node script args…` in `tests/js` and returns its output, whatever its exit status
/// (on a blocking thread, so an in-process server keeps answering meanwhile).
pub async fn run(script: &str, args: &[&str]) -> Output {
    let script = script.to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let dir = project();
        Command::new("node")
            .arg(script)
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("run node")
    })
    .await
    .expect("the node thread")
}

/// Standard output and standard error of a finished process, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
