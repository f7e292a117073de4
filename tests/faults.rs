//! Faults broken for real, each answered with a true code and nothing acknowledged lost:
//!
//! - a PostgreSQL backend terminated while its request waits (`SERVICE_UNAVAILABLE`, nothing
//!   written), PostgreSQL paused (SIGSTOP), restarted and killed under load;
//! - SQLite on a full filesystem (`STORAGE_FULL`, readiness fails, liveness does not, and it
//!   recovers when space comes back); commits synced to disk (fsyncs counted with strace on the
//!   real binary); a writer waiting for SQLite's write lock gives up after `DB_POOL_TIMEOUT`;
//! - kill -9 of the server under load, and an exhausted pool under load, on both backends.
//!
//! SIGTERM under load is in `ops_shutdown.rs`. `scripts/faults` runs them all, one at a time,
//! including the PostgreSQL pause/restart/kill test that the normal suite skips.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::binary::{self, Served};
use common::write_lock::WriteLock;
use common::writers::{self, Writers};
use common::{Backend, TestServer};
use diesel::sql_types::BigInt;
use diesel::QueryableByName;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};

both_backends!(
    kill_9_under_load_loses_nothing,
    pool_exhaustion_under_load_loses_nothing
);

const SAVE: &str = "mutation($s: String!, $c: String) { autosavePop(input: {sessionId: $s, \
    content: {nomeProcesso: $c}}) { autosaveSequence } }";

fn save(session: &str, content: &str) -> Value {
    json!({"s": session, "c": content})
}

/// Sends `signal` (e.g. `-KILL`) to process `pid` (started by this test).
fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

async fn readyz(base: &str) -> (u16, Value) {
    let resp = reqwest::get(format!("{base}/readyz")).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn healthz(base: &str) -> u16 {
    reqwest::get(format!("{base}/healthz"))
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// A dropped PostgreSQL connection under a waiting autosave is a retryable fault, not a bug, and
/// the write was not applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_postgres_connection_is_retryable() {
    let server = TestServer::start(Backend::Postgres).await;
    let first = server.data(SAVE, save("s", "one")).await;
    assert_eq!(first["autosavePop"]["autosaveSequence"], 1);

    use diesel_async::AsyncConnection;
    let mut holder = diesel_async::AsyncPgConnection::establish(&server.database_url)
        .await
        .unwrap();
    holder
        .batch_execute("BEGIN; LOCK TABLE pops IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let client = (*server).clone();
    let waiting = tokio::spawn(async move { client.gql(SAVE, save("s", "two")).await });

    // Terminate the server's backend that waits for the lock.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let terminated: Count = diesel::sql_query(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND wait_event_type = 'Lock'",
        )
        .get_result(&mut holder)
        .await
        .unwrap();
        if terminated.n == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the autosave never waited for the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let body = waiting.await.unwrap();
    let error = &body["errors"][0];
    assert_eq!(
        error["extensions"]["code"], "SERVICE_UNAVAILABLE",
        "{body:#}"
    );
    assert_eq!(
        error["extensions"]["writeOutcome"], "NOT_APPLIED",
        "{body:#}"
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("nothing was written"),
        "{body:#}"
    );
    holder.batch_execute("COMMIT").await.unwrap();

    // Retrying is safe: the failed save was not applied.
    let retried = server.data(SAVE, save("s", "two")).await;
    assert_eq!(retried["autosavePop"]["autosaveSequence"], 2);
}

/// Pooled connections the server ended while they sat idle (a restart, an administrator's
/// `pg_terminate_backend`) are replaced at their next check-out without failing a request, although
/// a check-out no longer sends `SELECT 1` first: the driver knows the socket closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_ended_by_the_server_are_replaced_without_an_error() {
    let server = TestServer::start(Backend::Postgres).await;
    // Several connections open and back in the pool.
    let saves = (0..6).map(|i| server.data(SAVE, save(&format!("idle-{i}"), "one")));
    futures_util::future::join_all(saves).await;

    use diesel_async::AsyncConnection;
    let mut admin = diesel_async::AsyncPgConnection::establish(&server.database_url)
        .await
        .unwrap();
    let ended: Count = diesel::sql_query(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'mapagov'",
    )
    .get_result(&mut admin)
    .await
    .unwrap();
    assert!(ended.n >= 1, "no pooled connection to end");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Count = diesel::sql_query(
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'mapagov'",
        )
        .get_result(&mut admin)
        .await
        .unwrap();
        if left.n == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the backends did not exit");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The client side sees the sockets close shortly after the backends exit.
    tokio::time::sleep(Duration::from_millis(200)).await;

    for i in 0..6 {
        let body = server.gql(SAVE, save(&format!("idle-{i}"), "two")).await;
        assert!(body.get("errors").is_none(), "save {i}: {body:#}");
        assert_eq!(
            body["data"]["autosavePop"]["autosaveSequence"], 2,
            "{body:#}"
        );
    }
}

/// A small tmpfs mounted for one test, unmounted when dropped.
struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    fn mount(size: &str) -> SmallFs {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test needs to mount a small tmpfs (run as root, or with CAP_SYS_ADMIN): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallFs { dir }
    }

    /// Fills the filesystem to the last byte with `filler`; returns its path.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.dir.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 4096];
        while file.write_all(&chunk).is_ok() {}
        while file.write_all(&[0]).is_ok() {}
        path
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// SQLite on a full filesystem: `STORAGE_FULL` (nothing written), readiness fails and says why,
/// liveness does not; when space comes back, readiness passes and saves work again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_on_a_full_disk_is_storage_full_and_not_ready() {
    let fs = SmallFs::mount("8m");
    let url = format!("sqlite://{}", fs.dir.path().join("db.sqlite3").display());
    let server = TestServer::start_on(Backend::Sqlite, url, None, &[]).await;
    let mut acked = 0;
    for n in 0..3 {
        let saved = server.data(SAVE, save("s", &format!("small {n}"))).await;
        acked = saved["autosavePop"]["autosaveSequence"].as_i64().unwrap();
    }
    let filler = fs.fill();

    // Large saves until one needs space the filesystem no longer has.
    let big = "x".repeat(256 * 1024);
    let mut error = None;
    for n in 0..20 {
        let body = server.gql(SAVE, save("s", &format!("{n}{big}"))).await;
        match body.get("errors") {
            None => {
                acked = body["data"]["autosavePop"]["autosaveSequence"]
                    .as_i64()
                    .unwrap()
            }
            Some(errors) => {
                error = Some(errors[0].clone());
                break;
            }
        }
    }
    let error = error.expect("a save on a full disk failed");
    assert_eq!(error["extensions"]["code"], "STORAGE_FULL", "{error:#}");
    assert_eq!(
        error["extensions"]["writeOutcome"], "NOT_APPLIED",
        "{error:#}"
    );

    let (status, body) = readyz(&server.base).await;
    assert_eq!(status, 503, "{body:#}");
    assert_eq!(body["checks"]["storage"]["status"], "fail", "{body:#}");
    assert!(
        body["checks"]["storage"]["detail"]
            .as_str()
            .unwrap()
            .starts_with("full: "),
        "{body:#}"
    );
    assert_eq!(
        healthz(&server.base).await,
        200,
        "a full disk is not cured by a restart"
    );

    std::fs::remove_file(filler).unwrap();
    let (status, body) = readyz(&server.base).await;
    assert_eq!(status, 200, "{body:#}");
    let saved = server.data(SAVE, save("s", "after")).await;
    assert_eq!(
        saved["autosavePop"]["autosaveSequence"].as_i64().unwrap(),
        acked + 1,
        "every acknowledged save kept, the failed one not applied"
    );
    server.stop().await;
}

/// Counts `fsync`/`fdatasync` calls of `mapagov serve` (traced with strace) over `saves`
/// acknowledged autosaves.
async fn syncs_per_saves(synchronous: &str, saves: usize) -> usize {
    let (database_url, dir) = common::fresh_database(Backend::Sqlite).await;
    let dir = dir.unwrap();
    let env = [("SQLITE_SYNCHRONOUS", synchronous)];
    binary::run_ok({
        let mut cmd = binary::command(&database_url, dir.path(), &env);
        cmd.arg("migrate");
        cmd
    });
    let token = binary::create_user(&database_url, dir.path(), "maria");
    let served = Served::start(&database_url, dir.path(), &env).await;
    let http = reqwest::Client::new();
    let post = |content: String| {
        http.post(format!("{}/graphql", served.base))
            .bearer_auth(&token)
            .json(&json!({"query": SAVE, "variables": save("s", &content)}))
            .send()
    };
    // The connection is open and set up before tracing starts.
    post("warm-up".into()).await.unwrap();

    let trace = dir.path().join("strace.out");
    let mut strace = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=fsync,fdatasync", "-o"])
        .arg(&trace)
        .args(["-p", &served.pid().to_string()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("this test needs strace (apt-get install strace)");
    // strace attaches to every thread before it writes anything.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for n in 0..saves {
        let body: Value = post(format!("save {n}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(body.get("errors").is_none(), "{body:#}");
    }
    signal(strace.id(), "-INT");
    println!("SQLITE_SYNCHRONOUS={synchronous}: traced {saves} acknowledged autosaves");
    // strace detaches and ends on SIGINT (its status is the signal's).
    strace.wait().unwrap();
    let traced = std::fs::read_to_string(&trace).unwrap();
    drop(served);
    traced
        .lines()
        .filter(|l| (l.contains("fsync(") || l.contains("fdatasync(")) && l.contains("= 0"))
        .count()
}

/// With the default `SQLITE_SYNCHRONOUS=full`, every acknowledged autosave was synced to disk
/// (at least one fsync each); `normal` makes (almost) none, which is why it is not the default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_syncs_every_acknowledged_autosave() {
    const SAVES: usize = 20;
    let full = syncs_per_saves("full", SAVES).await;
    println!("full: {full} syncs for {SAVES} acknowledged autosaves");
    assert!(
        full >= SAVES,
        "{full} syncs for {SAVES} acknowledged autosaves"
    );
    let normal = syncs_per_saves("normal", SAVES).await;
    println!("normal: {normal} syncs for {SAVES} acknowledged autosaves");
    assert!(
        normal < SAVES,
        "normal made {normal} syncs: the trace counts something else"
    );
}

/// A writer waiting for SQLite's write lock (held by another process here) gives up after
/// `DB_POOL_TIMEOUT` with `SERVICE_UNAVAILABLE`, and so does the writer queued behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_writer_waits_at_most_db_pool_timeout() {
    let server = TestServer::start_with(
        Backend::Sqlite,
        &[("DB_POOL_TIMEOUT", "1"), ("DB_STATEMENT_TIMEOUT", "20")],
    )
    .await;
    use diesel_async::AsyncConnection;
    let path = server.database_url.strip_prefix("sqlite://").unwrap();
    let mut holder = mapagov::db::SqliteConn::establish(path).await.unwrap();
    holder.batch_execute("BEGIN IMMEDIATE").await.unwrap();

    let started = Instant::now();
    let (a, b) = tokio::join!(
        server.error_code(SAVE, save("a", "x")),
        server.error_code(SAVE, save("b", "x"))
    );
    let waited = started.elapsed();
    assert_eq!(
        (a.as_str(), b.as_str()),
        ("SERVICE_UNAVAILABLE", "SERVICE_UNAVAILABLE")
    );
    assert!(waited < Duration::from_secs(4), "waited {waited:?}");

    holder.batch_execute("COMMIT").await.unwrap();
    let saved = server.data(SAVE, save("a", "x")).await;
    assert_eq!(saved["autosavePop"]["autosaveSequence"], 1);
}

/// The server killed with SIGKILL while eight writers save: every acknowledged save is in the
/// database, which a new server serves and `mapagov verify` accepts.
async fn kill_9_under_load_loses_nothing(backend: Backend) {
    let (database_url, sqlite_dir) = common::fresh_database(backend).await;
    let dir = sqlite_dir.unwrap_or_else(|| tempfile::tempdir().unwrap());
    binary::run_ok({
        let mut cmd = binary::command(&database_url, dir.path(), &[]);
        cmd.arg("migrate");
        cmd
    });
    let token = binary::create_user(&database_url, dir.path(), "maria");
    let mut served = Served::start(&database_url, dir.path(), &[]).await;
    let load = Writers::start(&served.base, &token, 8);
    for _ in 0..3 {
        load.wait_for(40, Duration::from_secs(60)).await;
        signal(served.pid(), "-KILL");
        drop(served);
        served = Served::start(&database_url, dir.path(), &[]).await;
        load.retarget(&served.base);
    }
    load.wait_for(40, Duration::from_secs(60)).await;
    drop(served);
    let tallies = load.stop().await;
    let (acked, codes) = writers::summary(&tallies);
    let found = writers::assert_none_lost(&database_url, &tallies).await;
    assert!(
        found >= acked as i64,
        "found {found} < acknowledged {acked}"
    );
    assert!(!codes.contains_key("INTERNAL_SERVER_ERROR"), "{codes:?}");
    println!("kill -9 ({backend:?}): {acked} acknowledged, {found} found, errors {codes:?}");
    let output = binary::command(&database_url, dir.path(), &[])
        .args(["verify", "--json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "mapagov verify: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Sixteen writers on a pool of two connections, and for three seconds a lock held outside the
/// server so that both connections wait and the pool is exhausted: every answer is a save or a
/// clean `SERVICE_UNAVAILABLE`, liveness stays up, and every acknowledged save is stored.
async fn pool_exhaustion_under_load_loses_nothing(backend: Backend) {
    let server = TestServer::start_with(
        backend,
        &[
            ("DB_POOL_SIZE", "2"),
            ("DB_POOL_TIMEOUT", "1"),
            ("DB_STATEMENT_TIMEOUT", "20"),
        ],
    )
    .await;
    let token = server.token.clone().unwrap();
    let load = Writers::start(&server.base, &token, 16);
    load.wait_for(50, Duration::from_secs(120)).await;
    let lock = WriteLock::take(&server.database_url).await;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(healthz(&server.base).await, 200);
    }
    lock.release().await;
    load.wait_for(50, Duration::from_secs(120)).await;
    let tallies = load.stop().await;
    let (acked, codes) = writers::summary(&tallies);
    assert!(
        codes.keys().all(|code| code == "SERVICE_UNAVAILABLE"),
        "{codes:?}"
    );
    assert!(
        codes.contains_key("SERVICE_UNAVAILABLE"),
        "the pool was never exhausted"
    );
    assert!(tallies
        .iter()
        .all(|t| t.unanswered == 0 && t.incomplete == 0));
    let found = writers::assert_none_lost(&server.database_url, &tallies).await;
    assert_eq!(
        found, acked as i64,
        "nothing lost, nothing applied unacknowledged"
    );
    println!(
        "pool exhaustion ({backend:?}): {acked} acknowledged, {found} found, errors {codes:?}"
    );
}

/// PostgreSQL paused (SIGSTOP, 3 s), restarted, and killed (SIGKILL of a backend: the postmaster
/// resets every connection) under load: the server answers through each, and every acknowledged
/// save is stored.
///
/// Ignored in the normal suite: it starts a cluster of its own with durable settings (fsync on),
/// whose restart and crash recovery can take longer than the waits here on a machine busy with
/// other tests. `scripts/faults` runs it, one test at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by scripts/faults, one test at a time"]
async fn postgres_pause_restart_and_kill_under_load_lose_nothing() {
    // Durable settings, unlike the other tests' cluster: a crash must not lose commits.
    let durable = ["fsync", "synchronous_commit", "full_page_writes"]
        .map(|setting| (setting.to_owned(), "on".to_owned()))
        .to_vec();
    let cluster = tokio::task::spawn_blocking(|| {
        let cluster = common::pg_cluster::PgCluster::start(common::pg_cluster::ClusterOptions {
            extra_conf: durable,
            ..Default::default()
        });
        cluster.create_database("faults");
        cluster
    })
    .await
    .unwrap();
    let database_url = cluster.url("faults");
    let server = TestServer::start_on(
        Backend::Postgres,
        database_url.clone(),
        None,
        &[("DB_POOL_TIMEOUT", "2"), ("REQUEST_TIMEOUT", "10")],
    )
    .await;
    let token = server.token.clone().unwrap();
    let load = Writers::start(&server.base, &token, 8);
    load.wait_for(40, Duration::from_secs(60)).await;

    // Pause every PostgreSQL process.
    let processes = cluster.processes();
    for pid in &processes {
        signal(*pid, "-STOP");
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(healthz(&server.base).await, 200);
    for pid in &processes {
        signal(*pid, "-CONT");
    }
    load.wait_for(40, Duration::from_secs(60)).await;

    // Restart.
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.restart();
        cluster
    })
    .await
    .unwrap();
    load.wait_for(40, Duration::from_secs(60)).await;

    // Kill a backend: PostgreSQL resets every connection and recovers.
    let backend = cluster.backends_of("faults").into_iter().next();
    signal(backend.expect("a backend of the server"), "-KILL");
    load.wait_for(40, Duration::from_secs(90)).await;

    let tallies = load.stop().await;
    let (acked, codes) = writers::summary(&tallies);
    let found = writers::assert_none_lost(&database_url, &tallies).await;
    assert!(found >= acked as i64);
    assert!(!codes.contains_key("INTERNAL_SERVER_ERROR"), "{codes:?}");
    println!(
        "PostgreSQL pause/restart/kill: {acked} acknowledged, {found} found, errors {codes:?}"
    );
    server.stop().await;
    drop(cluster);
}
