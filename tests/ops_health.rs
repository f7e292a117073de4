//! `/readyz`: every check passes on a healthy server, and each check fails for real — a pending
//! migration, a pool whose only connection is held, a stopped PostgreSQL — and recovers.
//! `/healthz` (liveness) stays 200 through all of it.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::write_lock::WriteLock;
use common::{Backend, TestServer};
use mapagov::db::migrate::{self, Direction};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

both_backends!(
    ready_when_every_check_passes,
    a_pending_migration_is_not_ready,
    an_exhausted_pool_is_not_ready,
    an_exhausted_pool_is_still_alive
);

async fn readyz(base: &str) -> (u16, Value) {
    let resp = reqwest::get(format!("{base}/readyz")).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn ready_when_every_check_passes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (status, body) = readyz(&server.base).await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["status"], "ready");
    for check in ["database", "migrations", "pool", "storage"] {
        assert_eq!(body["checks"][check]["status"], "ok", "{body:#}");
    }
    let applied = migrate::status(&server.config.database)
        .await
        .unwrap()
        .applied;
    assert_eq!(
        body["checks"]["migrations"]["detail"],
        format!("{} applied, none pending", applied.len())
    );
}

async fn a_pending_migration_is_not_ready(backend: Backend) {
    let server = TestServer::start(backend).await;
    let reverted = migrate::run(&server.config.database, Direction::DownOne)
        .await
        .unwrap();
    assert_eq!(reverted.len(), 1);

    let (status, body) = readyz(&server.base).await;
    assert_eq!(status, 503, "{body:#}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"]["migrations"]["status"], "fail");
    assert_eq!(
        body["checks"]["migrations"]["detail"],
        format!("pending: {}", reverted[0])
    );
    assert_eq!(body["checks"]["pool"]["status"], "ok");

    migrate::run(&server.config.database, Direction::Up)
        .await
        .unwrap();
    let (status, body) = readyz(&server.base).await;
    assert_eq!(status, 200, "{body:#}");
}

/// With `DB_POOL_SIZE=1`, an autosave waiting on a lock held outside the server keeps the only
/// connection: the pool is exhausted until the lock is released.
/// With `DB_POOL_SIZE=1`, an autosave waiting on a lock held outside the server, with the only
/// connection (on SQLite a writer waits for the lock at most `DB_POOL_TIMEOUT`, longer here than
/// the two seconds a readiness check waits).
async fn hold_the_only_connection(
    backend: Backend,
    pool_timeout: &str,
) -> (TestServer, WriteLock, tokio::task::JoinHandle<Value>) {
    let server = TestServer::start_with(
        backend,
        &[
            ("DB_POOL_SIZE", "1"),
            ("DB_POOL_TIMEOUT", pool_timeout),
            ("DB_STATEMENT_TIMEOUT", "20"),
        ],
    )
    .await;
    let held = WriteLock::take(&server.database_url).await;
    let client = (*server).clone();
    let autosave = tokio::spawn(async move {
        client
            .data(
                "mutation { autosavePop(input: {sessionId: \"held\", content: {nomeProcesso: \"x\"}}) { autosaveSequence } }",
                json!({}),
            )
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = readyz(&server.base).await;
        // Both fail once the autosave waits on the lock with the only connection (a check
        // made while the connection is briefly out for authentication may see only one).
        if status == 503
            && body["checks"]["pool"]["status"] == "fail"
            && body["checks"]["database"]["status"] == "fail"
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the pool never looked exhausted: {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (server, held, autosave)
}

async fn an_exhausted_pool_is_still_alive(backend: Backend) {
    let (server, held, autosave) = hold_the_only_connection(backend, "10").await;
    for _ in 0..3 {
        let started = Instant::now();
        let resp = server
            .http()
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "liveness must not wait for the pool");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(resp.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    }
    held.release().await;
    let saved = autosave.await.unwrap();
    assert_eq!(saved["autosavePop"]["autosaveSequence"], 1);
}

async fn an_exhausted_pool_is_not_ready(backend: Backend) {
    // On SQLite the only connection is held only as long as the writer may wait for the lock
    // (`DB_POOL_TIMEOUT`), so it must outlast the checks below.
    let pool_timeout = match backend {
        Backend::Postgres => "1",
        Backend::Sqlite => "10",
    };
    let (server, held, autosave) = hold_the_only_connection(backend, pool_timeout).await;
    let (_, body) = readyz(&server.base).await;
    assert_eq!(
        body["checks"]["pool"]["detail"],
        "exhausted: 1 of 1 connections open, 1 in use"
    );
    assert_eq!(body["checks"]["migrations"]["status"], "ok", "{body:#}");

    // The same state as /metrics reports it; a scrape does not hang on the busy pool.
    let started = Instant::now();
    let samples = common::prom::scrape(server.http(), &server.base).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let pool = |state: &str| {
        common::prom::value(&samples, "mapagov_db_pool_connections", &[("state", state)])
    };
    assert_eq!(pool("in_use"), 1.0);
    assert_eq!(pool("idle"), 0.0);
    assert_eq!(
        common::prom::value(&samples, "mapagov_db_pool_max_connections", &[]),
        1.0
    );
    if backend == Backend::Postgres {
        // On SQLite the readiness checks give up (two seconds) before the pool does.
        assert!(common::prom::value(&samples, "mapagov_db_pool_timeouts_total", &[]) >= 1.0);
        assert!(common::prom::value(&samples, "mapagov_db_pool_waits_total", &[]) >= 1.0);
        assert_eq!(
            common::prom::value(&samples, "mapagov_pg_stat_activity_up", &[]),
            0.0,
            "pg_stat_activity could not get a connection in time"
        );
    }

    held.release().await;
    let saved = autosave.await.unwrap();
    assert_eq!(saved["autosavePop"]["autosaveSequence"], 1);
    let (status, body) = readyz(&server.base).await;
    assert_eq!(status, 200, "{body:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_postgres_is_not_ready() {
    // A cluster of its own: stopping the shared one would disturb the other tests.
    let cluster = tokio::task::spawn_blocking(|| {
        let cluster = common::pg_cluster::PgCluster::start(Default::default());
        cluster.create_database("readiness");
        cluster
    })
    .await
    .unwrap();
    let server = TestServer::start_on(
        Backend::Postgres,
        cluster.url("readiness"),
        None,
        &[("DB_POOL_TIMEOUT", "1")],
    )
    .await;
    assert_eq!(readyz(&server.base).await.0, 200);

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.stop();
        cluster
    })
    .await
    .unwrap();
    let (status, body) = readyz(&server.base).await;
    assert_eq!(status, 503, "{body:#}");
    assert_eq!(body["checks"]["database"]["status"], "fail", "{body:#}");
    assert_eq!(body["checks"]["migrations"]["status"], "fail", "{body:#}");
    assert!(
        !body.to_string().contains(&cluster.password().to_owned()),
        "the database password leaked"
    );

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.restart();
        cluster
    })
    .await
    .unwrap();
    let (status, body) = readyz(&server.base).await;
    assert_eq!(status, 200, "{body:#}");
    server.stop().await;
    drop(cluster);
}
