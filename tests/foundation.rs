//! The foundation: health, the first query end to end, the recommended indexes, the
//! connection pool's age and recovery, configuration errors, and the checked-in schema
//! (migrations themselves are checked in `tests/migrations.rs`).
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Backend, TestServer};
use diesel::sql_types::{Integer, Text};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use mapagov::db::{Conn, Db};
use serde_json::{json, Value};
use std::time::Duration;

async fn healthz_reports_ok(backend: Backend) {
    let server = TestServer::start(backend).await;
    let resp = server
        .http()
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({"status": "ok"}));
}

async fn pop_query_works_end_to_end(backend: Backend) {
    let server = TestServer::start(backend).await;
    let saved = server
        .data(
            "mutation($input: AutosavePopInput!) { autosavePop(input: $input) { pop { id } } }",
            json!({"input": {"sessionId": "user_1760235456618", "content": {"nomeProcesso": "Conceder pensão"}}}),
        )
        .await;
    let id = saved["autosavePop"]["pop"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let data = server
        .data(
            "query($id: ID!) { pop(id: $id) { id nomeProcesso status } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(data["pop"]["id"], id);
    assert_eq!(data["pop"]["nomeProcesso"], "Conceder pensão");
    assert_eq!(data["pop"]["status"], "DRAFT");
    // The same POP by its hyphen-less legacy spelling.
    let compact = id.replace('-', "");
    let data = server
        .data(
            "query($id: ID!) { pop(id: $id) { id } }",
            json!({"id": compact}),
        )
        .await;
    assert_eq!(data["pop"]["id"], id);
    // A POP that does not exist is null; a malformed id is a clear error.
    let missing = server
        .data(
            "{ pop(id: \"00000000-0000-0000-0000-000000000000\") { id } }",
            json!({}),
        )
        .await;
    assert!(missing["pop"].is_null());
    let err = server
        .error("{ pop(id: \"not-an-id\") { id } }", json!({}))
        .await;
    assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(err["extensions"]["field"], "id");
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

async fn the_recommended_indexes_exist(backend: Backend) {
    let server = TestServer::start(backend).await;
    let db = server.db().await;
    let mut pooled = db.get().await.unwrap();
    let sql = match backend {
        Backend::Postgres => "SELECT indexname AS name FROM pg_indexes WHERE schemaname = 'public'",
        Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'index'",
    };
    let names: Vec<String> = match pooled.conn() {
        Conn::Pg(mut c) => diesel::sql_query(sql).load::<Name>(&mut c).await.unwrap(),
        Conn::Sqlite(c) => diesel::sql_query(sql).load::<Name>(c).await.unwrap(),
    }
    .into_iter()
    .map(|n| n.name)
    .collect();
    for index in [
        "pop_status_idx",
        "pop_session_status_idx",
        "pop_created_at_idx",
        "popsnapshot_pop_id_sequence_idx",
    ] {
        assert!(
            names.contains(&index.to_owned()),
            "{index} missing from {names:?}"
        );
    }
}

both_backends!(
    healthz_reports_ok,
    pop_query_works_end_to_end,
    the_recommended_indexes_exist,
);

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

async fn backend_pid(db: &Db) -> i32 {
    let mut pooled = db.get().await.unwrap();
    match pooled.conn() {
        Conn::Pg(mut c) => {
            diesel::sql_query("SELECT pg_backend_pid() AS pid")
                .get_result::<Pid>(&mut c)
                .await
                .unwrap()
                .pid
        }
        Conn::Sqlite(_) => unreachable!("PostgreSQL only"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_recycled_after_db_conn_max_age() {
    let url = common::fresh_pg_database().await;
    let pool = |age: &str| {
        let config =
            common::database_config(&url, &[("DB_CONN_MAX_AGE", age), ("DB_POOL_SIZE", "1")]);
        async move { Db::connect(&config).await.unwrap() }
    };

    let long_lived = pool("60").await;
    let first = backend_pid(&long_lived).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        backend_pid(&long_lived).await,
        first,
        "a young connection is reused"
    );

    let short_lived = pool("1").await;
    let first = backend_pid(&short_lived).await;
    assert_eq!(
        backend_pid(&short_lived).await,
        first,
        "reused before its age"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_ne!(
        backend_pid(&short_lived).await,
        first,
        "replaced after DB_CONN_MAX_AGE"
    );

    let per_use = pool("0").await;
    let first = backend_pid(&per_use).await;
    assert_ne!(
        backend_pid(&per_use).await,
        first,
        "DB_CONN_MAX_AGE=0: a fresh connection each use"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_recovers_when_postgres_restarts() {
    // A cluster of its own: restarting the shared one would disturb the other tests.
    let cluster = tokio::task::spawn_blocking(|| {
        let cluster = common::pg_cluster::PgCluster::start(Default::default());
        cluster.create_database("recovery");
        cluster
    })
    .await
    .unwrap();
    let server = TestServer::start_on(
        Backend::Postgres,
        cluster.url("recovery"),
        None,
        &[("DB_POOL_TIMEOUT", "2")],
    )
    .await;
    let query = "mutation { autosavePop(input: {sessionId: \"s\", content: {macroprocesso: \"x\"}}) { changed } }";
    server.data(query, json!({})).await;

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.stop();
        cluster
    })
    .await
    .unwrap();
    // Not ready, but alive: restarting the server would not bring the database back.
    let get = |path: &'static str| server.http().get(server.url(path)).send();
    let resp = get("/readyz").await.unwrap();
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["checks"]["database"]["status"], "fail", "{body:#}");
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    let err = server.error("{ pops { totalCount } }", json!({})).await;
    assert_eq!(err["extensions"]["code"], "SERVICE_UNAVAILABLE");

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.restart();
        cluster
    })
    .await
    .unwrap();
    let resp = server
        .http()
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let data = server.data("{ pops { totalCount } }", json!({})).await;
    assert_eq!(data["pops"]["totalCount"], 1);
    server.stop().await;
    drop(cluster);
}

#[test]
fn the_checked_in_schema_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        checked_in == mapagov::graphql::sdl(),
        "schema.graphql is stale: run `cargo run -- schema --out schema.graphql`"
    );
}

#[test]
fn a_bad_setting_stops_the_binary_naming_the_variable_and_hiding_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mapagov"))
        .current_dir(dir.path())
        .env(
            "DATABASE_URL",
            "postgres://app:s3cret-pw@db.internal/mapagov",
        )
        .env("DB_CONN_MAX_AGE", "soon")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DB_CONN_MAX_AGE"), "{stderr}");
    assert!(!stderr.contains("s3cret-pw"), "{stderr}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mapagov"))
        .current_dir(dir.path())
        .env(
            "DATABASE_URL",
            "postgres://app:s3cret-pw@127.0.0.1:1/mapagov",
        )
        .env("DB_SSLMODE", "disable")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("s3cret-pw"), "{all}");
}

#[test]
fn every_bad_setting_stops_serve_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("db.sqlite3");
    let url = format!("sqlite://{}", file.display());
    for (variable, value) in [
        ("CORS_ALLOWED_ORIGINS", "127.0.0.1:3000"),
        ("CORS_ALLOWED_ORIGINS", "*, https://mapagov.example.gov.br"),
        ("CORS_ALLOWED_ORIGINS", "https://mapagov.example.gov.br/app"),
        ("TRUSTED_PROXIES", "proxy.internal"),
        ("TOKEN_MAX_AGE", "0"),
        ("TOKEN_IDLE_TIMEOUT", "eight hours"),
        ("DB_STATEMENT_TIMEOUT", "99999999"),
        ("SENTRY_DSN", "https://key@errors.example.org/"),
        ("LOGIN_ATTEMPTS_PER_MINUTE", "0"),
        ("BIND", "localhost:8000"),
        ("RUST_LOG", "mapagov=loud"),
    ] {
        // A free port, should a bad value be accepted and the server start.
        let env = if variable == "BIND" {
            vec![(variable, value)]
        } else {
            vec![(variable, value), ("BIND", "127.0.0.1:0")]
        };
        let run =
            common::binary::run_bounded(Some(&url), &env, &["serve"], Duration::from_secs(30));
        assert_eq!(run.code, 2, "{variable}={value}: {}", run.all());
        assert!(
            run.stderr.contains(variable),
            "{variable}={value}: {}",
            run.all()
        );
        assert!(
            !run.stdout.contains("admin"),
            "{variable}={value} printed an admin token: {}",
            run.stdout
        );
        assert!(
            !file.exists(),
            "{variable}={value} created the SQLite file before stopping"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_star_serves_any_origin_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("db.sqlite3").display());
    let served =
        common::binary::Served::start(&url, dir.path(), &[("CORS_ALLOWED_ORIGINS", "*")]).await;
    let preflight = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{}/graphql", served.base))
        .header("origin", "https://anywhere.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    assert!(preflight
        .headers()
        .get("access-control-allow-credentials")
        .is_none());
    let finished = served.terminate();
    assert!(finished.status.success(), "{}", finished.stderr);
}

#[test]
fn help_lists_the_subcommands() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mapagov"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for sub in ["serve", "migrate", "schema"] {
        assert!(help.contains(sub), "{help}");
    }
}
