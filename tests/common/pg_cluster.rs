//! A throwaway PostgreSQL server for integration tests.
//!
//! [`PgCluster::start`] runs `initdb` into a fresh temporary directory,
//! starts the server on a free port of 127.0.0.1 and creates the
//! application role `mapagov` (LOGIN CREATEDB, no superuser) with a random
//! password. Dropping the cluster stops the server and deletes everything.
//!
//! [`PgCluster::start_standby`] makes a streaming replica of a running
//! cluster with `pg_basebackup -R -X stream` and starts it on another port
//! (hot standby: it answers read-only queries).
//!
//! PostgreSQL refuses to run as root, so when the tests run as root the
//! server tools are run as the `postgres` system user through `runuser`, and
//! the temporary directory is handed over to that user.
//!
//! The server binaries are found through `PG_BINDIR`, then
//! `pg_config --bindir`, then `/usr/lib/postgresql/<version>/bin` (Debian's
//! layout). On Debian or Ubuntu, `apt-get install -y postgresql` provides them.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

/// Name of the unprivileged role the application connects as.
pub const APP_ROLE: &str = "mapagov";

/// Name of the superuser role created by `initdb`.
pub const ADMIN_ROLE: &str = "postgres";

/// How many times to pick a new port when another process takes it first.
const PORT_ATTEMPTS: usize = 5;

/// Lines of the server log quoted in failure messages.
const LOG_TAIL_LINES: usize = 40;

/// A server certificate and its private key, both PEM.
pub struct SslFiles {
    /// The certificate chain presented by the server.
    pub cert_pem: Vec<u8>,
    /// The certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: Vec<u8>,
}

/// What to configure before the server first starts.
#[derive(Default)]
pub struct ClusterOptions {
    /// When set, the server gets this certificate and `ssl = on`.
    pub ssl: Option<SslFiles>,
    /// Extra `postgresql.conf` settings; each value is written single-quoted,
    /// which PostgreSQL accepts for every type of setting.
    pub extra_conf: Vec<(String, String)>,
}

/// A running PostgreSQL server owned by one test.
pub struct PgCluster {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_file: PathBuf,
    as_postgres_user: bool,
    port: u16,
    admin_password: String,
    app_password: String,
    running: AtomicBool,
    // Declared last so the directory is removed after the server has stopped.
    root: tempfile::TempDir,
}

impl PgCluster {
    /// Creates and starts a cluster; panics with the reason and the end of
    /// the server log when anything fails.
    pub fn start(opts: ClusterOptions) -> PgCluster {
        let bin_dir = find_bin_dir();
        let as_postgres_user = effective_uid() == 0;

        let root = tempfile::Builder::new()
            .prefix("mapagov-pg-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        let data_dir = root.path().join("data");
        let socket_dir = root.path().join("socket");
        let log_file = root.path().join("postgres.log");
        let password_file = root.path().join("admin-password");
        fs::create_dir(&socket_dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", socket_dir.display()));

        let admin_password = random_password();
        write_private(&password_file, format!("{admin_password}\n").as_bytes());

        if as_postgres_user {
            run_ok(
                Command::new("chown")
                    .arg("-R")
                    .arg("postgres:")
                    .arg(root.path()),
                "hand the temporary directory to the postgres user",
            );
            let reachable = Command::new("runuser")
                .args(["-u", "postgres", "--", "test", "-w"])
                .arg(root.path())
                .current_dir(root.path())
                .status()
                .map(|status| status.success())
                .unwrap_or(false);
            assert!(
                reachable,
                "the postgres user cannot reach {}: point TMPDIR at a directory every user can \
                 traverse",
                root.path().display()
            );
        }

        let mut cluster = PgCluster {
            bin_dir,
            data_dir,
            socket_dir,
            log_file,
            as_postgres_user,
            port: 0,
            admin_password,
            app_password: random_password(),
            running: AtomicBool::new(false),
            root,
        };

        let initdb = cluster.tool("initdb");
        let output = cluster
            .command(&initdb)
            .arg("-D")
            .arg(&cluster.data_dir)
            .args([
                "-U",
                ADMIN_ROLE,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", password_file.display()))
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", initdb.display()));
        if !output.status.success() {
            panic!("initdb failed:\n{}", describe(&output));
        }
        // The password now lives (hashed) in the catalog only.
        let _ = fs::remove_file(&password_file);

        cluster.write_config(&opts);
        cluster.start_on_free_port();

        cluster.psql(
            "postgres",
            &format!(
                "CREATE ROLE {APP_ROLE} LOGIN CREATEDB PASSWORD {};",
                quote_literal(&cluster.app_password)
            ),
        );
        cluster
    }

    /// Makes a streaming replica of this cluster (`pg_basebackup -R -X stream`
    /// over the Unix socket, as the superuser, whom `initdb` lets replicate
    /// locally), starts it on a free port and waits until it is in recovery
    /// and has replayed everything this cluster had written. Its roles,
    /// passwords and databases are this cluster's, so [`url`] works on it;
    /// dropping it stops it and deletes its files.
    ///
    /// [`url`]: PgCluster::url
    pub fn start_standby(&self) -> PgCluster {
        let root = tempfile::Builder::new()
            .prefix("mapagov-pg-standby-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        let socket_dir = root.path().join("socket");
        fs::create_dir(&socket_dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", socket_dir.display()));
        if self.as_postgres_user {
            run_ok(
                Command::new("chown")
                    .arg("-R")
                    .arg("postgres:")
                    .arg(root.path()),
                "hand the standby's directory to the postgres user",
            );
        }
        let mut standby = PgCluster {
            bin_dir: self.bin_dir.clone(),
            data_dir: root.path().join("data"),
            socket_dir,
            log_file: root.path().join("postgres.log"),
            as_postgres_user: self.as_postgres_user,
            port: 0,
            admin_password: self.admin_password.clone(),
            app_password: self.app_password.clone(),
            running: AtomicBool::new(false),
            root,
        };
        let basebackup = self.tool("pg_basebackup");
        let output = self
            .command(&basebackup)
            .arg("-h")
            .arg(&self.socket_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", ADMIN_ROLE, "-D"])
            .arg(&standby.data_dir)
            .args(["-R", "-X", "stream", "--no-sync", "-c", "fast"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", basebackup.display()));
        if !output.status.success() {
            panic!(
                "pg_basebackup failed:\n{}{}",
                describe(&output),
                self.log_tail()
            );
        }
        // The copied postgresql.conf names the primary's socket directory and port; later lines
        // win.
        standby.append_config(&format!(
            "\n# The standby's own settings.\nunix_socket_directories = {}\nhot_standby = 'on'\n",
            quote_literal(&standby.socket_dir.display().to_string())
        ));
        standby.start_on_free_port();
        for _ in 0..600 {
            if standby.psql("postgres", "SELECT pg_is_in_recovery()") == "t" {
                standby.wait_for_replay(self);
                return standby;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the standby is not in recovery{}", standby.log_tail());
    }

    /// Waits (up to 30 s) until this standby has replayed everything `primary` had written
    /// when the wait began.
    pub fn wait_for_replay(&self, primary: &PgCluster) {
        let position = primary.psql("postgres", "SELECT pg_current_wal_insert_lsn()");
        let sql = format!(
            "SELECT coalesce(pg_last_wal_replay_lsn() >= {}::pg_lsn, false)",
            quote_literal(&position)
        );
        for _ in 0..600 {
            if self.psql("postgres", &sql) == "t" {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!(
            "the standby did not replay up to {position} within 30 s{}",
            self.log_tail()
        );
    }

    /// Pauses this standby's replay (`pg_wal_replay_pause()`) and waits until it has
    /// stopped: it keeps receiving WAL but shows nothing new.
    pub fn pause_replay(&self) {
        self.psql("postgres", "SELECT pg_wal_replay_pause()");
        for _ in 0..600 {
            if self.psql("postgres", "SELECT pg_get_wal_replay_pause_state()") == "paused" {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the standby's replay did not pause{}", self.log_tail());
    }

    /// Resumes this standby's replay.
    pub fn resume_replay(&self) {
        self.psql("postgres", "SELECT pg_wal_replay_resume()");
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// URL for the unprivileged application role:
    /// `postgres://mapagov:<password>@127.0.0.1:<port>/<db>`.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://{APP_ROLE}:{}@127.0.0.1:{}/{db}",
            self.app_password, self.port
        )
    }

    /// URL for the superuser role over TCP.
    pub fn admin_url(&self, db: &str) -> String {
        format!(
            "postgres://{ADMIN_ROLE}:{}@127.0.0.1:{}/{db}",
            self.admin_password, self.port
        )
    }

    /// The application role's password, so tests can check it never leaks.
    pub fn password(&self) -> &str {
        &self.app_password
    }

    /// Creates database `name` owned by the application role.
    pub fn create_database(&self, name: &str) {
        self.psql(
            "postgres",
            &format!(
                "CREATE DATABASE {} OWNER {APP_ROLE};",
                quote_identifier(name)
            ),
        );
    }

    /// Creates database `name` as a copy of `template`, owned by the application role.
    pub fn clone_database(&self, template: &str, name: &str) {
        self.psql(
            "postgres",
            &format!(
                "CREATE DATABASE {} TEMPLATE {} OWNER {APP_ROLE};",
                quote_identifier(name),
                quote_identifier(template)
            ),
        );
    }

    /// Runs `sql` as the superuser in database `db` (over the Unix socket)
    /// and returns psql's unaligned, tuples-only output without the final
    /// newline. Panics when psql reports an error.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let psql = self.tool("psql");
        let mut child = self
            .command(&psql)
            .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.socket_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", ADMIN_ROLE, "-d", db, "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", psql.display()));
        // The SQL goes through stdin so that passwords stay off command lines.
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(sql.as_bytes())
                .unwrap_or_else(|e| panic!("cannot send SQL to psql: {e}"));
        }
        let output = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("psql did not finish: {e}"));
        if !output.status.success() {
            panic!(
                "psql failed in database {db}:\n{}{}",
                describe(&output),
                self.log_tail()
            );
        }
        let mut stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if stdout.ends_with('\n') {
            stdout.pop();
        }
        stdout
    }

    /// Restarts the server (fast shutdown) on the same port and waits until
    /// it accepts connections; also starts a cluster that was stopped.
    pub fn restart(&self) {
        self.pg_ctl(&["restart", "-m", "fast"], "restart the server");
        self.running.store(true, Ordering::SeqCst);
    }

    /// The postmaster's process id.
    pub fn postmaster_pid(&self) -> u32 {
        let pid_file = std::fs::read_to_string(self.data_dir.join("postmaster.pid"))
            .expect("read postmaster.pid");
        pid_file
            .lines()
            .next()
            .and_then(|line| line.trim().parse().ok())
            .expect("a pid in postmaster.pid")
    }

    /// The postmaster and its children.
    pub fn processes(&self) -> Vec<u32> {
        let postmaster = self.postmaster_pid();
        let children = Command::new("pgrep")
            .args(["-P", &postmaster.to_string()])
            .output()
            .expect("run pgrep");
        let mut pids = vec![postmaster];
        pids.extend(
            String::from_utf8_lossy(&children.stdout)
                .lines()
                .filter_map(|line| line.trim().parse::<u32>().ok()),
        );
        pids
    }

    /// The backends serving connections to database `db`.
    pub fn backends_of(&self, db: &str) -> Vec<u32> {
        self.processes()
            .into_iter()
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|cmd| String::from_utf8_lossy(&cmd).contains(&format!(" {db} ")))
            })
            .collect()
    }

    /// Stops the server (fast shutdown). The data stays, so [`restart`]
    /// can bring it back; dropping the cluster removes it.
    ///
    /// [`restart`]: PgCluster::restart
    pub fn stop(&self) {
        if self.running.swap(false, Ordering::SeqCst) {
            self.pg_ctl(&["stop", "-m", "fast"], "stop the server");
        }
    }

    /// Makes sure the server stops and its files go when this process ends, even if the cluster
    /// is never dropped (a cluster kept in a `static` for a whole test binary is not): a small
    /// shell watchdog waits for this process to exit, then stops the server and removes the
    /// temporary directory.
    pub fn stop_when_process_exits(&self) {
        let mut stop = Vec::new();
        if self.as_postgres_user {
            stop.extend(["runuser", "-u", "postgres", "--"].map(String::from));
        }
        stop.push(self.tool("pg_ctl").display().to_string());
        let script = r#"while kill -0 "$1" 2>/dev/null; do sleep 1; done
shift; root="$1"; shift
"$@" -D "$root/data" -m immediate -w stop >/dev/null 2>&1
rm -rf "$root""#;
        let spawned = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("watchdog")
            .arg(std::process::id().to_string())
            .arg(self.root.path())
            .args(&stop)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Err(e) = spawned {
            panic!("cannot start the cluster watchdog: {e}");
        }
    }

    /// Writes the test settings into `postgresql.conf`, plus the certificate
    /// and key when TLS is wanted.
    fn write_config(&self, opts: &ClusterOptions) {
        let mut conf = vec![
            ("listen_addresses".to_owned(), "127.0.0.1".to_owned()),
            (
                "unix_socket_directories".to_owned(),
                self.socket_dir.display().to_string(),
            ),
            ("fsync".to_owned(), "off".to_owned()),
            ("synchronous_commit".to_owned(), "off".to_owned()),
            ("full_page_writes".to_owned(), "off".to_owned()),
            ("max_connections".to_owned(), "200".to_owned()),
            ("shared_buffers".to_owned(), "128MB".to_owned()),
            ("logging_collector".to_owned(), "off".to_owned()),
        ];
        if let Some(ssl) = &opts.ssl {
            let cert = self.data_dir.join("server.crt");
            let key = self.data_dir.join("server.key");
            write_private(&cert, &ssl.cert_pem);
            write_private(&key, &ssl.key_pem);
            if self.as_postgres_user {
                run_ok(
                    Command::new("chown").arg("postgres:").arg(&cert).arg(&key),
                    "hand the TLS files to the postgres user",
                );
            }
            conf.push(("ssl".to_owned(), "on".to_owned()));
            conf.push(("ssl_cert_file".to_owned(), "server.crt".to_owned()));
            conf.push(("ssl_key_file".to_owned(), "server.key".to_owned()));
        }
        conf.extend(opts.extra_conf.iter().cloned());

        let mut text = String::from("\n# Settings for a throwaway test cluster.\n");
        for (name, value) in &conf {
            text.push_str(&format!("{name} = {}\n", quote_literal(value)));
        }
        self.append_config(&text);
    }

    fn append_config(&self, text: &str) {
        let path = self.data_dir.join("postgresql.conf");
        let mut file = fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
        file.write_all(text.as_bytes())
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Starts the server on a port that was free a moment ago, trying again
    /// with another port if some other process grabbed it in between.
    fn start_on_free_port(&mut self) {
        for attempt in 1..=PORT_ATTEMPTS {
            self.port = free_port();
            // A later line wins, so each attempt simply appends its port.
            self.append_config(&format!("port = {}\n", self.port));
            let output = self.pg_ctl_output(&["start"]);
            if output.status.success() {
                self.running.store(true, Ordering::SeqCst);
                return;
            }
            let log = self.read_log();
            let port_taken = log.contains("could not bind") || log.contains("already in use");
            if !(port_taken && attempt < PORT_ATTEMPTS) {
                panic!(
                    "cannot start PostgreSQL on port {}:\n{}{}",
                    self.port,
                    describe(&output),
                    self.log_tail()
                );
            }
            // Start the next attempt with a clean log.
            let _ = fs::write(&self.log_file, b"");
        }
    }

    fn pg_ctl(&self, args: &[&str], what: &str) {
        let output = self.pg_ctl_output(args);
        if !output.status.success() {
            panic!(
                "pg_ctl could not {what}:\n{}{}",
                describe(&output),
                self.log_tail()
            );
        }
    }

    fn pg_ctl_output(&self, args: &[&str]) -> Output {
        let pg_ctl = self.tool("pg_ctl");
        self.command(&pg_ctl)
            .args(args)
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(&self.log_file)
            .args(["-w", "-t", "60"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", pg_ctl.display()))
    }

    fn tool(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    /// A command for a PostgreSQL tool, run as the postgres user when the
    /// tests run as root, with no `PG*` variables that could redirect it.
    fn command(&self, program: &Path) -> Command {
        let mut command = if self.as_postgres_user {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PG") {
                command.env_remove(name);
            }
        }
        // The postgres user may not be allowed into the current directory.
        command.current_dir(self.root.path());
        command
    }

    /// The server log so far (what `log_statement` and friends wrote).
    pub fn log(&self) -> String {
        self.read_log()
    }

    fn read_log(&self) -> String {
        fs::read(&self.log_file)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let log = self.read_log();
        let lines: Vec<&str> = log.lines().collect();
        let start = lines.len().saturating_sub(LOG_TAIL_LINES);
        format!(
            "\n--- end of the server log ({}) ---\n{}",
            self.log_file.display(),
            lines[start..].join("\n")
        )
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running.swap(false, Ordering::SeqCst) {
            let output = self.pg_ctl_output(&["stop", "-m", "immediate"]);
            if !output.status.success() {
                eprintln!(
                    "could not stop the test PostgreSQL server:\n{}",
                    describe(&output)
                );
            }
        }
    }
}

/// The directory with `initdb` and `pg_ctl`.
fn find_bin_dir() -> PathBuf {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();

    if let Some(dir) = std::env::var_os("PG_BINDIR").map(PathBuf::from) {
        assert!(
            has_tools(&dir),
            "PG_BINDIR={} has no initdb and pg_ctl",
            dir.display()
        );
        return dir;
    }
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if output.status.success() && has_tools(&dir) {
            return dir;
        }
    }
    // Debian keeps each major version apart; take the newest.
    let mut candidates: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| {
                    let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
                    Some((version, entry.path().join("bin")))
                })
                .filter(|(_, dir)| has_tools(dir))
                .collect()
        })
        .unwrap_or_default();
    candidates.sort();
    match candidates.pop() {
        Some((_, dir)) => dir,
        None => panic!(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install PostgreSQL \
             (`apt-get install -y postgresql` on Debian or Ubuntu) or set PG_BINDIR"
        ),
    }
}

/// The effective user id, from `/proc` or else from `id -u`.
fn effective_uid() -> u32 {
    let from_proc = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1))
                .and_then(|id| id.parse().ok())
        });
    from_proc.unwrap_or_else(|| {
        let output = Command::new("id")
            .arg("-u")
            .output()
            .unwrap_or_else(|e| panic!("cannot run `id -u`: {e}"));
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("unexpected output from `id -u`: {e}"))
    })
}

/// 32 hex digits from the kernel's random source; safe in URLs unescaped.
fn random_password() -> String {
    let mut bytes = [0u8; 16];
    fs::File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(&mut bytes))
        .unwrap_or_else(|e| panic!("cannot read /dev/urandom: {e}"));
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|e| panic!("cannot find a free port on 127.0.0.1: {e}"))
}

/// Writes a file readable by its owner only (PostgreSQL insists on this for
/// the private key).
fn write_private(path: &Path, contents: &[u8]) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    file.write_all(contents)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

fn run_ok(command: &mut Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot {what}: {e}"));
    if !output.status.success() {
        panic!("cannot {what}:\n{}", describe(&output));
    }
}

fn describe(output: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout).trim_end(),
        String::from_utf8_lossy(&output.stderr).trim_end()
    )
}

/// `value` as an SQL (and `postgresql.conf`) string literal.
fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// `name` as a quoted SQL identifier.
fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
