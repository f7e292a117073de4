//! The shared test harness: real databases, the real HTTP server, real GraphQL documents.
//!
//! - PostgreSQL: `TEST_DATABASE_URL` (a role that may `CREATE DATABASE`) when set, otherwise one
//!   throwaway cluster per test binary ([`pg_cluster`]), started on first use. Every test gets a
//!   database of its own.
//! - SQLite: a fresh file in a temporary directory per test.
//! - [`TestServer`] runs the server in-process on a loopback port and talks to it over HTTP.
//! - [`both_backends!`] turns one `async fn(Backend)` into a test per backend.
#![allow(dead_code, unused_macros)]

pub mod areas;
pub mod binary;
pub mod later_legacy;
pub mod nginx;
pub mod node;
pub mod pg_cluster;
pub mod pops;
pub mod prom;
pub mod round_trips;
pub mod sse;
pub mod write_lock;
pub mod writers;
pub mod ws;

use mapagov::config::{Config, DatabaseConfig};
use pg_cluster::{ClusterOptions, PgCluster};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use tokio::sync::oneshot;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

/// Defines one `#[tokio::test]` per backend for each named `async fn(Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await;
                }
            )*
        }
    };
}

/// A file of the legacy fixtures shipped beside the repository (`../shared/fixtures`).
pub fn fixture(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures")
        .join(name)
}

impl Backend {
    /// The other backend (for round trips across backends).
    pub fn other(self) -> Backend {
        match self {
            Backend::Postgres => Backend::Sqlite,
            Backend::Sqlite => Backend::Postgres,
        }
    }
}

enum PgServer {
    External(url::Url),
    Throwaway(PgCluster),
}

static PG: OnceLock<PgServer> = OnceLock::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn pg_server() -> &'static PgServer {
    PG.get_or_init(|| match std::env::var("TEST_DATABASE_URL") {
        Ok(raw) if !raw.trim().is_empty() => {
            PgServer::External(url::Url::parse(raw.trim()).expect("TEST_DATABASE_URL is not a URL"))
        }
        _ => {
            let cluster = PgCluster::start(ClusterOptions::default());
            cluster.stop_when_process_exits();
            PgServer::Throwaway(cluster)
        }
    })
}

/// The password of the PostgreSQL role tests connect with (to check it never leaks).
pub fn pg_password() -> String {
    match pg_server() {
        PgServer::External(url) => url.password().unwrap_or_default().to_owned(),
        PgServer::Throwaway(cluster) => cluster.password().to_owned(),
    }
}

/// The throwaway cluster, when tests started one.
pub fn pg_cluster() -> Option<&'static PgCluster> {
    match pg_server() {
        PgServer::Throwaway(cluster) => Some(cluster),
        PgServer::External(_) => None,
    }
}

/// A new, empty PostgreSQL database; returns its URL.
pub async fn fresh_pg_database() -> String {
    create_pg_database(None).await
}

/// The migrated template of this test binary: made once, then cloned by
/// [`migrated_pg_database`] so that no test database runs the migrations again.
static PG_TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

async fn pg_template() -> &'static str {
    PG_TEMPLATE
        .get_or_init(|| async {
            let url = fresh_pg_database().await;
            let config = config(&url, &[]);
            mapagov::db::migrate::run(&config.database, mapagov::db::migrate::Direction::Up)
                .await
                .unwrap_or_else(|e| panic!("migrate the template: {}", e.message()));
            let name = url::Url::parse(&url)
                .expect("template URL")
                .path()
                .trim_start_matches('/')
                .to_owned();
            // `CREATE DATABASE … TEMPLATE` refuses while anyone is connected to the
            // template; the migration's connection closes asynchronously.
            for _ in 0..200 {
                let sessions = pg_admin_query(&format!(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}'"
                ))
                .await;
                if sessions.trim() == "0" {
                    return name;
                }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            panic!("the template database {name} still has sessions after 5 s");
        })
        .await
}

/// A new PostgreSQL database with every migration applied, cloned from this
/// test binary's migrated template (`CREATE DATABASE … TEMPLATE`); returns its URL.
pub async fn migrated_pg_database() -> String {
    let template = pg_template().await;
    create_pg_database(Some(template)).await
}

/// Runs one statement as the server's administrator and returns its first value as text.
async fn pg_admin_query(sql: &str) -> String {
    match pg_server() {
        PgServer::Throwaway(_) => {
            let sql = sql.to_owned();
            tokio::task::spawn_blocking(move || match pg_server() {
                PgServer::Throwaway(cluster) => cluster.psql("postgres", &sql),
                PgServer::External(_) => unreachable!("the server kind does not change"),
            })
            .await
            .expect("run an administrative query")
        }
        PgServer::External(url) => {
            use diesel::sql_types::Text;
            use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
            #[derive(diesel::QueryableByName)]
            struct Value {
                #[diesel(sql_type = Text)]
                value: String,
            }
            let mut admin = AsyncPgConnection::establish(url.as_str())
                .await
                .expect("connect to TEST_DATABASE_URL");
            let row: Value = diesel::sql_query(format!("SELECT ({sql})::text AS value"))
                .get_result(&mut admin)
                .await
                .expect("run an administrative query");
            row.value
        }
    }
}

/// Creates a database, empty or as a copy of `template`; returns its URL.
async fn create_pg_database(template: Option<&str>) -> String {
    let name = format!(
        "mapagov_test_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    match pg_server() {
        PgServer::Throwaway(cluster) => {
            let cluster_name = name.clone();
            let template = template.map(str::to_owned);
            tokio::task::spawn_blocking(move || {
                if let PgServer::Throwaway(cluster) = pg_server() {
                    match &template {
                        Some(template) => cluster.clone_database(template, &cluster_name),
                        None => cluster.create_database(&cluster_name),
                    }
                }
            })
            .await
            .expect("create database");
            cluster.url(&name)
        }
        PgServer::External(url) => {
            use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
            let mut admin = AsyncPgConnection::establish(url.as_str())
                .await
                .expect("connect to TEST_DATABASE_URL");
            let template = template
                .map(|t| format!(" TEMPLATE {t}"))
                .unwrap_or_default();
            admin
                .batch_execute(&format!("CREATE DATABASE {name}{template}"))
                .await
                .expect("create a test database");
            let mut test_url = url.clone();
            test_url.set_path(&name);
            test_url.to_string()
        }
    }
}

/// A fresh database of `backend`: its URL and, for SQLite, the directory that holds it.
pub async fn fresh_database(backend: Backend) -> (String, Option<tempfile::TempDir>) {
    match backend {
        Backend::Postgres => (fresh_pg_database().await, None),
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("db.sqlite3").display());
            (url, Some(dir))
        }
    }
}

/// A fresh database of `backend` with every migration applied: on PostgreSQL a clone of
/// the migrated template, on SQLite a new file the caller migrates (migrating one is quick).
pub async fn fresh_migrated_database(backend: Backend) -> (String, Option<tempfile::TempDir>) {
    match backend {
        Backend::Postgres => (migrated_pg_database().await, None),
        Backend::Sqlite => fresh_database(backend).await,
    }
}

/// A fresh database with every migration applied, its configuration and a pool on it.
pub struct MigratedDb {
    /// Its URL.
    pub url: String,
    /// Test configuration pointing at it.
    pub config: Config,
    /// A pool on it.
    pub db: mapagov::db::Db,
    _dir: Option<tempfile::TempDir>,
}

/// A fresh, migrated database of `backend`.
pub async fn migrated_database(backend: Backend) -> MigratedDb {
    let (url, dir) = fresh_migrated_database(backend).await;
    let config = config(&url, &[]);
    mapagov::db::migrate::run(&config.database, mapagov::db::migrate::Direction::Up)
        .await
        .unwrap_or_else(|e| panic!("migrate: {}", e.message()));
    let db = mapagov::db::Db::connect(&config.database)
        .await
        .unwrap_or_else(|e| panic!("connect: {}", e.message()));
    MigratedDb {
        url,
        config,
        db,
        _dir: dir,
    }
}

/// Rows and checksum of every table, read in one consistent transaction.
pub async fn table_sums(db: &mapagov::db::Db) -> mapagov::transfer::checksum::Checksums {
    use scoped_futures::ScopedFutureExt;
    mapagov::transfer::snapshot_read::read_consistent(db, |mut conn| {
        async move { mapagov::transfer::checksum::checksums(&mut conn).await }.scope_boxed()
    })
    .await
    .unwrap_or_else(|e| panic!("checksums: {}", e.message()))
}

/// Configuration for a test: the database URL plus `extra` variables.
pub fn config(database_url: &str, extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::new();
    vars.insert("DATABASE_URL".into(), database_url.into());
    vars.insert("BIND".into(), "127.0.0.1:0".into());
    vars.insert("DB_SSLMODE".into(), "disable".into());
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    Config::from_lookup(|k| vars.get(k).cloned()).expect("test configuration")
}

/// Database settings for a test.
pub fn database_config(database_url: &str, extra: &[(&str, &str)]) -> DatabaseConfig {
    config(database_url, extra).database
}

/// A signed-in GraphQL client of a [`TestServer`].
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    /// The bearer token sent with every request (`None`: anonymous).
    pub token: Option<String>,
}

impl Client {
    /// An absolute URL on the server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The same server, with another bearer token.
    pub fn with_token(&self, token: &str) -> Client {
        Client {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    /// The same server, without credentials.
    pub fn anonymous(&self) -> Client {
        Client {
            token: None,
            ..self.clone()
        }
    }

    /// A POST to `/graphql` with this client's credentials, body still to be set.
    pub fn post(&self) -> reqwest::RequestBuilder {
        let request = self.http.post(self.url("/graphql"));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Posts a GraphQL document and returns the whole response body.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        let body = self.gql_text(query, variables).await;
        serde_json::from_str(&body).expect("GraphQL response is JSON")
    }

    /// Posts a GraphQL document and returns the response body as the server wrote it.
    pub async fn gql_text(&self, query: &str, variables: Value) -> String {
        let resp = self
            .post()
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("POST /graphql");
        resp.text().await.expect("a response body")
    }

    /// Posts a GraphQL document that must succeed; returns `data`.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let body = self.gql(query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
        body["data"].clone()
    }

    /// Posts a GraphQL document that must fail; returns the first error.
    pub async fn error(&self, query: &str, variables: Value) -> Value {
        let body = self.gql(query, variables).await;
        body["errors"]
            .get(0)
            .cloned()
            .unwrap_or_else(|| panic!("expected an error, got {body:#}"))
    }

    /// The `extensions.code` of the first error of a document that must fail.
    pub async fn error_code(&self, query: &str, variables: Value) -> String {
        let err = self.error(query, variables).await;
        err["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("error without a code: {err:#}"))
            .to_owned()
    }
}

/// The server, running in-process on a loopback port with a database of its own, and a client
/// signed in as the ordinary user `tester` (`Deref` to [`Client`]).
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The backend it runs on.
    pub backend: Backend,
    /// Its database URL.
    pub database_url: String,
    /// The configuration it runs with.
    pub config: Config,
    client: Client,
    staff: tokio::sync::OnceCell<Client>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl std::ops::Deref for TestServer {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl TestServer {
    /// Starts a server on a fresh database of `backend`.
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, &[]).await
    }

    /// Starts a server on a fresh database of `backend` with extra configuration.
    pub async fn start_with(backend: Backend, extra: &[(&str, &str)]) -> TestServer {
        let (database_url, dir) = fresh_migrated_database(backend).await;
        Self::start_on(backend, database_url, dir, extra).await
    }

    /// Starts a server on an existing database.
    pub async fn start_on(
        backend: Backend,
        database_url: String,
        dir: Option<tempfile::TempDir>,
        extra: &[(&str, &str)],
    ) -> TestServer {
        let config = config(&database_url, extra);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = oneshot::channel::<()>();
        let server_config = config.clone();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            if let Err(err) = mapagov::server::run(&server_config, listener, shutdown, false).await
            {
                panic!("server failed: {}", err.message());
            }
        });
        let mut server = TestServer {
            client: Client {
                base: base.clone(),
                http: reqwest::Client::new(),
                token: None,
            },
            base,
            backend,
            database_url,
            config,
            staff: tokio::sync::OnceCell::new(),
            shutdown: Some(tx),
            task: Some(task),
            _dir: dir,
        };
        server.wait_ready().await;
        server.client = server.user("tester", false, None).await;
        server
    }

    async fn wait_ready(&self) {
        for _ in 0..200 {
            if let Ok(resp) = self.client.http.get(self.url("/healthz")).send().await {
                if resp.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the server did not become healthy");
    }

    /// Creates a user (staff or not, reviewer of `area` or not) and returns a client signed in
    /// as that user.
    pub async fn user(&self, username: &str, is_staff: bool, area: Option<&str>) -> Client {
        let db = self.db().await;
        let (_, token) = mapagov::auth::create_user(
            &db,
            mapagov::auth::NewAccount {
                username: username.into(),
                password: None,
                is_staff,
                area_codigo: area.map(str::to_owned),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("create user {username}: {}", e.message()));
        Client {
            token: Some(token),
            ..self.client.clone()
        }
    }

    /// A client signed in as the staff user `staff` (created on first use).
    pub async fn staff(&self) -> &Client {
        self.staff
            .get_or_init(|| self.user("staff", true, None))
            .await
    }

    /// Opens the database directly (to look at what the server wrote).
    pub async fn db(&self) -> mapagov::db::Db {
        mapagov::db::Db::connect(&self.config.database)
            .await
            .expect("connect")
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
