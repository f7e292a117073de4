//! Configuration, read once at start-up from the environment (and a `.env` file, loaded by `main`).
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `DATABASE_URL` | unset | `postgres://user:pass@host:5432/db` for PostgreSQL; `sqlite://path` for another SQLite file. Unset: the SQLite file `db.sqlite3` in the working directory. |
//! | `DATABASE_REPLICA_URL` | unset | PostgreSQL only: `postgres://…` of a streaming replica of `DATABASE_URL`. GraphQL queries read from it (with its own pool, under the same `DB_*` settings) unless the reader wrote within `REPLICA_READ_YOUR_WRITES`, the replica lags by that much or is unreachable, or the request's `MapaGov-Read-After` is further than the replica has replayed; everything else uses `DATABASE_URL`. Unset: everything uses `DATABASE_URL`. Treated as a secret like `DATABASE_URL`. |
//! | `REPLICA_READ_YOUR_WRITES` | `5` | Seconds, 1 to 3600, with `DATABASE_REPLICA_URL`: a signed-in user's queries read from the primary for this long after a mutation of theirs, through any server process; the replica is also used only while it has replayed everything the primary had committed this long ago. |
//! | `DB_CONN_MAX_AGE` | `60` | Seconds a pooled connection may live before it is replaced. `0`: a fresh connection for every use (nothing is kept open between requests). `none`: connections live until they break. |
//! | `DB_CONN_CHECK_IDLE` | `10` | Seconds a pooled connection may sit idle before it is verified with `SELECT 1` when next checked out. Connections the driver knows are closed are always discarded without a query; `0`: verify at every check-out (one extra round trip per use). |
//! | `AUTH_CACHE_SECONDS` | `60` | PostgreSQL only: seconds a server process remembers an authenticated token instead of looking it up on every request. Every revocation, deleted token or changed user empties the caches of all processes at once (database triggers and `LISTEN`); while a process's database listener is disconnected, or has not confirmed its connection for 10 seconds, its cache is off. `0`: look every token up. |
//! | `DB_POOL_SIZE` | `10` | Maximum open connections in the pool. |
//! | `DB_POOL_TIMEOUT` | `5` | Seconds a request waits for a free connection before it fails with `SERVICE_UNAVAILABLE`; on SQLite also the longest a writer waits for its turn (the queue and SQLite's write lock). |
//! | `DB_STATEMENT_TIMEOUT` | `30` | Seconds one SQL statement may run (PostgreSQL `statement_timeout`; on SQLite, how long a statement waits for a lock). |
//! | `SQLITE_SYNCHRONOUS` | `full` | SQLite's `PRAGMA synchronous`: `full` syncs the write-ahead log at every commit, so an acknowledged write survives a power cut; `normal` syncs only at checkpoints (faster; a power cut can lose the last acknowledged writes, a crash of the process cannot); `extra` is `full` plus a directory sync. |
//! | `DB_REQUIRE_SSL` | `false` | `true`: connect to PostgreSQL over TLS only; `DB_SSLMODE` must then be `require` or stronger (it defaults to `require`). |
//! | `DB_SSLMODE` | `prefer` (`require` with `APP_ENV=production` or `DB_REQUIRE_SSL=true`) | `disable`, `prefer`, `require`, `verify-ca` or `verify-full`, with libpq's meanings. |
//! | `DB_SSLROOTCERT` | unset (`PGSSLROOTCERT`, else the system roots) | PEM file of the CA that signs the server certificate, for `verify-ca`/`verify-full`. |
//! | `BIND` | `127.0.0.1:8000` | Address the HTTP server listens on. |
//! | `SNAPSHOT_EVERY` | `5` | An autosave snapshot is taken every this many autosaves of a POP. |
//! | `REQUIRE_EXPECTED_HASH` | `false` (`true` with `APP_ENV=production`) | `true`: every write to an existing POP (autosave into it, restore, status change, delete) must carry `expectedHash`, else `EXPECTED_HASH_REQUIRED`; last-writer-wins becomes impossible rather than accidental. |
//! | `HISTORY_SESSION_IDLE_MINUTES` | `10` | Minutes without a save after which a person's next save starts a new editing session (`popEditSessions`; a request may pass its own `idleMinutes`), 1 to 1440. |
//! | `CATALOGUE_PUBLIC` | `false` | `true`: the catalogue (`areas`, `area`, `publishedVersion`, `catalogue`, `catalogueStats`: published versions and counts of published POPs only, without who published them) answers readers without a token; drafts and everything else still need one. |
//! | `APP_ENV` | `development` | `development` or `production`. |
//! | `LOG_FORMAT` | `text` | `text` or `json`. |
//! | `RUST_LOG` | `info` | Log filter (`tracing_subscriber` syntax); a filter that does not parse stops start-up. |
//! | `MAX_BODY_BYTES` | `4194304` | Largest HTTP request body (`PAYLOAD_TOO_LARGE`). |
//! | `MAX_DOCUMENT_BYTES` | `2097152` | Largest POP document an autosave may produce (`DOCUMENT_TOO_LARGE`). |
//! | `GRAPHQL_MAX_DEPTH` | `15` | Deepest query accepted (`QUERY_TOO_DEEP`). |
//! | `GRAPHQL_MAX_COMPLEXITY` | `20000` | Most complex query accepted; a connection's `first`/`last` multiplies its children (`QUERY_TOO_COMPLEX`). |
//! | `GRAPHQL_MAX_BATCH` | `10` | Most operations in one batched request (`BATCH_TOO_LARGE`). |
//! | `GRAPHQL_MAX_QUERY_BYTES` | `262144` | Longest GraphQL query text, in bytes (`QUERY_TOO_LARGE`); large values belong in variables. |
//! | `GRAPHQL_MAX_SELECTIONS` | `2000` | Most selections (fields, fragment spreads, inline fragments) in a document once its fragments are expanded (`QUERY_TOO_COMPLEX`). |
//! | `GRAPHQL_MAX_ALIASES` | `50` | Most aliased fields in a document once its fragments are expanded (`TOO_MANY_ALIASES`). |
//! | `GRAPHQL_MAX_RESPONSE_BYTES` | `16777216` | Most bytes of field values one operation may produce; a field past it answers `RESPONSE_TOO_LARGE`. |
//! | `GRAPHQL_DOCUMENT_CACHE` | `512` | Checked GraphQL documents (query texts up to 16 KiB) kept parsed, with their validation for the variable kinds seen (`String`/`ID` variables only), least recently used evicted first; `0` parses and validates every request anew. |
//! | `REQUEST_TIMEOUT` | `30` | Seconds a GraphQL request may take (`TIMEOUT`, `writeOutcome: UNKNOWN`); an autosave already writing runs to its end, so its retry with the same idempotency key gets its result. |
//! | `LOGIN_ATTEMPTS_PER_MINUTE` | `10` | Login attempts per username and per client address (`TOO_MANY_REQUESTS`). |
//! | `TRUSTED_PROXIES` | empty | Comma-separated addresses or CIDR networks of reverse proxies whose `X-Forwarded-For` gives the client address (rightmost hop that is not a trusted proxy); empty: the TCP peer is the client. |
//! | `FORWARDED_HEADER` | `x-forwarded-for` | The header the trusted proxies write the client's address to: `x-forwarded-for`, or `forwarded` (RFC 7239 `for=`). Only that one is read. |
//! | `TOKEN_MAX_AGE` | `2592000` (30 days) | Seconds an API token is valid after it was issued; `none`: no limit. |
//! | `TOKEN_IDLE_TIMEOUT` | `28800` (8 hours) | Seconds an API token stays valid without being used; `none`: no limit. |
//! | `GRAPHQL_INTROSPECTION` | `true` (`false` with `APP_ENV=production`) | Whether clients may introspect the schema. |
//! | `GRAPHIQL` | `true` (`false` with `APP_ENV=production`) | Whether `GET /graphql` serves GraphiQL. |
//! | `CORS_MAX_AGE` | `7200` | Seconds a browser may cache a CORS preflight (`Access-Control-Max-Age`), 0 to 86400. |
//! | `CORS_ALLOWED_ORIGINS` | empty | Comma-separated origins (`https://host[:port]`, no path) allowed to call the API from a browser; `*`: any origin (never with credentials: the API uses bearer tokens, not cookies); empty: no cross-origin access. |
//! | `SENTRY_DSN` | unset | Sentry project DSN (`https://key@host/project`); unset: no error reporting. Treated as a secret. |
//! | `BACKUP_DIR` | unset | Directory `mapagov backup` writes to by default and `mapagov check --deploy` looks in for a recent backup. |
//! | `SUBSCRIPTIONS_PER_CONNECTION` | `20` | Most subscriptions open at once on one WebSocket connection (`TOO_MANY_SUBSCRIPTIONS`). |
//! | `SUBSCRIPTIONS_PER_USER` | `100` | Most subscriptions one user may have open at once on this server process (`TOO_MANY_SUBSCRIPTIONS`). |
//! | `SUBSCRIPTION_KEEPALIVE` | `15` | Seconds between the keep-alives the server sends on an open subscription: WebSocket pings, comment lines on an event stream (keeps proxies and load balancers from closing it). |
//! | `PRESENCE_TTL` | `30` | Seconds a tab's heartbeat (`heartbeatPop`) counts: a tab silent for longer no longer appears in `popEditors`. |
//! | `SUBSCRIPTION_RECHECK` | `30` | Most seconds between two checks of an open subscription's token and POP (a revoked token or an unreadable POP ends it); each check also reads any event a lost notification would have announced. |
//! | `AWS_*` | unset | Read only by `mapagov backup --upload s3://…` (through `object_store`): `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (a secret), `AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_SESSION_TOKEN`, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`. |
//! | `PUBLIC_BASE_URL` | `http://127.0.0.1:8000` | Public address of the catalogue (`http(s)://host[:port][/path]`): a POP's PDF carries a QR code to `{PUBLIC_BASE_URL}/catalogo/pops/{id}`. |
//! | `SMTP_URL` | unset | Mail server for notices to authors (published, sent back, archived): `smtp://host:port` (plain; `?tls=required` for STARTTLS), `smtps://host:465` (TLS); user and password in the URL. Unset: no e-mail is sent. Treated as a secret. |
//! | `MAIL_FROM` | `MapaGov <nao-responda@localhost>` | Sender of the notices (`Name <address>` or `address`). |
//! | `PDF_MAX_CONCURRENT_RENDERS` | `2` | PDFs rendered at once; further requests wait (up to `REQUEST_TIMEOUT`, then `SERVICE_UNAVAILABLE`). |
//!
//! A value that does not parse, or that would fail later (an origin that could never match, a
//! timeout the database cannot take, a DSN the Sentry client refuses), stops the process with a
//! message naming the variable, before anything is connected to or written. The database
//! password never appears in logs or errors: [`DatabaseUrl`]'s `Debug` and `Display` redact it.

pub mod tls;
use crate::auth::token;
use crate::http::client_addr::{ForwardedHeader, TrustedProxies};
use crate::http::cors::CorsOrigins;
use chrono::TimeDelta;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;
use tls::{SslMode, TlsSettings};

/// Default SQLite file when `DATABASE_URL` is unset.
pub const DEFAULT_SQLITE_FILE: &str = "db.sqlite3";
/// Default `DB_CONN_MAX_AGE`, in seconds.
pub const DEFAULT_CONN_MAX_AGE_SECS: u64 = 60;
/// Default `DB_CONN_CHECK_IDLE`, in seconds.
pub const DEFAULT_CONN_CHECK_IDLE_SECS: u64 = 10;
/// Default `AUTH_CACHE_SECONDS`.
pub const DEFAULT_AUTH_CACHE_SECS: u64 = 60;
/// Default `DB_POOL_SIZE`.
pub const DEFAULT_POOL_SIZE: u32 = 10;
/// Default `DB_POOL_TIMEOUT`, in seconds.
pub const DEFAULT_POOL_TIMEOUT_SECS: u64 = 5;
/// Default `DB_STATEMENT_TIMEOUT`, in seconds.
pub const DEFAULT_STATEMENT_TIMEOUT_SECS: u64 = 30;
/// Default `REPLICA_READ_YOUR_WRITES`, in seconds.
pub const DEFAULT_REPLICA_READ_YOUR_WRITES_SECS: u64 = 5;
/// Most `REPLICA_READ_YOUR_WRITES` seconds: longer, and the replica would hardly ever be used.
pub const MAX_REPLICA_READ_YOUR_WRITES_SECS: u64 = 3600;
/// Default `BIND`.
pub const DEFAULT_BIND: &str = "127.0.0.1:8000";
/// Default `SNAPSHOT_EVERY`.
pub const DEFAULT_SNAPSHOT_EVERY: u32 = 5;
/// Most `DB_STATEMENT_TIMEOUT` seconds: PostgreSQL's `statement_timeout` and SQLite's
/// `busy_timeout` are 32-bit counts of milliseconds.
pub const MAX_STATEMENT_TIMEOUT_SECS: u64 = i32::MAX as u64 / 1000;
/// Default `TOKEN_MAX_AGE`, in seconds: 30 days bounds how long a leaked token is useful while
/// asking an editor to sign in about once a month.
pub const DEFAULT_TOKEN_MAX_AGE_SECS: u64 = 30 * 24 * 3600;
/// Default `TOKEN_IDLE_TIMEOUT`, in seconds: 8 hours, a working day. The editor autosaves every
/// few seconds while open, so only a token left unused overnight (a forgotten browser, a copied
/// token) expires.
pub const DEFAULT_TOKEN_IDLE_TIMEOUT_SECS: u64 = 8 * 3600;
/// Longest token lifetime accepted (ten years), so every value fits a date computation.
const MAX_TOKEN_SECS: u64 = 10 * 366 * 24 * 3600;

/// A configuration value that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid {variable}: {reason}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// Why it was refused (never contains a secret).
    pub reason: String,
}

impl ConfigError {
    fn new(variable: &'static str, reason: impl Into<String>) -> Self {
        Self {
            variable,
            reason: reason.into(),
        }
    }
}

/// Where the data lives.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A PostgreSQL URL (contains the password: never print it, use `Display`).
    Postgres(String),
    /// A SQLite database file.
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    /// Parses `postgres://…`, `postgresql://…` or `sqlite://path`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if let Some(path) = raw.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("a sqlite:// URL needs a file path".into());
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        let parsed = url::Url::parse(raw).map_err(|e| format!("not a URL ({e})"))?;
        match parsed.scheme() {
            "postgres" | "postgresql" => {
                if parsed.host_str().is_none() {
                    return Err("a postgres URL needs a host".into());
                }
                Ok(Self::Postgres(raw.to_owned()))
            }
            other => Err(format!(
                "unsupported scheme `{other}` (use postgres:// or sqlite://)"
            )),
        }
    }

    /// Whether this is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Self::Postgres(raw) => match url::Url::parse(raw) {
                Ok(mut url) => {
                    if url.password().is_some() {
                        let _ = url.set_password(Some("********"));
                    }
                    url.set_query(None);
                    write!(f, "{url}")
                }
                Err(_) => f.write_str("postgres://<unparseable>"),
            },
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// The deployment environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    /// Local work and tests.
    Development,
    /// A real deployment: stricter defaults.
    Production,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// SQLite's `PRAGMA synchronous` (`SQLITE_SYNCHRONOUS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteSynchronous {
    /// Sync the write-ahead log only at checkpoints.
    Normal,
    /// Sync the write-ahead log at every commit (the default).
    Full,
    /// `Full`, and sync the directory after a journal file is unlinked.
    Extra,
}

impl SqliteSynchronous {
    /// The pragma's value.
    pub fn pragma(self) -> &'static str {
        match self {
            Self::Normal => "NORMAL",
            Self::Full => "FULL",
            Self::Extra => "EXTRA",
        }
    }
}

/// Database settings.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// Where the data lives.
    pub url: DatabaseUrl,
    /// `DB_CONN_MAX_AGE`: `None` for unlimited.
    pub conn_max_age: Option<Duration>,
    /// `DB_CONN_CHECK_IDLE`.
    pub conn_check_idle: Duration,
    /// `AUTH_CACHE_SECONDS`: how long an authenticated token is remembered (zero: never).
    pub auth_cache: Duration,
    /// `DB_POOL_SIZE`.
    pub pool_size: u32,
    /// `DB_POOL_TIMEOUT`.
    pub pool_timeout: Duration,
    /// `DB_STATEMENT_TIMEOUT`.
    pub statement_timeout: Duration,
    /// `SQLITE_SYNCHRONOUS`.
    pub sqlite_synchronous: SqliteSynchronous,
    /// TLS to PostgreSQL.
    pub tls: TlsSettings,
    /// `DATABASE_REPLICA_URL` and `REPLICA_READ_YOUR_WRITES`: where queries may read.
    pub replica: Option<ReplicaConfig>,
}

/// A streaming replica that serves queries ([`crate::db::replica`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaConfig {
    /// `DATABASE_REPLICA_URL`, always [`DatabaseUrl::Postgres`] (redacted when printed).
    pub url: DatabaseUrl,
    /// `REPLICA_READ_YOUR_WRITES`: how long a user's queries read from the primary after their
    /// write, and the most lag at which the replica is still used.
    pub read_your_writes: Duration,
}

/// Request limits and API exposure.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `MAX_BODY_BYTES`.
    pub max_body_bytes: usize,
    /// `MAX_DOCUMENT_BYTES`.
    pub max_document_bytes: usize,
    /// `GRAPHQL_MAX_DEPTH`.
    pub max_depth: usize,
    /// `GRAPHQL_MAX_COMPLEXITY`.
    pub max_complexity: usize,
    /// `GRAPHQL_MAX_BATCH`.
    pub max_batch: usize,
    /// `GRAPHQL_MAX_QUERY_BYTES`.
    pub max_query_bytes: usize,
    /// `GRAPHQL_MAX_SELECTIONS`.
    pub max_selections: usize,
    /// `GRAPHQL_MAX_ALIASES`.
    pub max_aliases: usize,
    /// `GRAPHQL_MAX_RESPONSE_BYTES`.
    pub max_response_bytes: usize,
    /// `GRAPHQL_DOCUMENT_CACHE`.
    pub document_cache: usize,
    /// `REQUEST_TIMEOUT`.
    pub request_timeout: Duration,
    /// `LOGIN_ATTEMPTS_PER_MINUTE`.
    pub login_attempts_per_minute: std::num::NonZeroU32,
    /// `GRAPHQL_INTROSPECTION`.
    pub introspection: bool,
    /// `GRAPHIQL`.
    pub graphiql: bool,
    /// `CORS_ALLOWED_ORIGINS`.
    pub cors_allowed_origins: CorsOrigins,
    /// `CORS_MAX_AGE`.
    pub cors_max_age: Duration,
    /// `TRUSTED_PROXIES`.
    pub trusted_proxies: TrustedProxies,
    /// `TOKEN_MAX_AGE` and `TOKEN_IDLE_TIMEOUT`.
    pub tokens: token::Lifetime,
}

/// Everything the process needs to know, parsed and checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// Database settings.
    pub database: DatabaseConfig,
    /// HTTP listen address.
    pub bind: SocketAddr,
    /// Autosaves between snapshots.
    pub snapshot_every: u32,
    /// `REQUIRE_EXPECTED_HASH`: writes to an existing POP must carry `expectedHash`.
    pub require_expected_hash: bool,
    /// `HISTORY_SESSION_IDLE_MINUTES`: the gap that ends an editing session.
    pub session_idle: TimeDelta,
    /// `CATALOGUE_PUBLIC`: the catalogue answers anonymous readers.
    pub catalogue_public: bool,
    /// Deployment environment.
    pub app_env: AppEnv,
    /// Log format.
    pub log_format: LogFormat,
    /// Request limits and API exposure.
    pub http: HttpConfig,
    /// `SENTRY_DSN`: where unexpected errors are reported, if anywhere.
    pub sentry_dsn: Option<SentryDsn>,
    /// `BACKUP_DIR`: the default backup directory.
    pub backup_dir: Option<PathBuf>,
    /// The POP's document.
    pub pdf: PdfConfig,
    /// Notices by e-mail.
    pub mail: MailConfig,
    /// Subscriptions.
    pub live: LiveConfig,
}

/// Subscription settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveConfig {
    /// `SUBSCRIPTIONS_PER_CONNECTION`.
    pub per_connection: usize,
    /// `SUBSCRIPTIONS_PER_USER`.
    pub per_user: usize,
    /// `SUBSCRIPTION_KEEPALIVE`.
    pub keepalive: Duration,
    /// `SUBSCRIPTION_RECHECK`.
    pub recheck: Duration,
    /// `PRESENCE_TTL`.
    pub presence_ttl: Duration,
}

/// Default `MAIL_FROM`.
pub const DEFAULT_MAIL_FROM: &str = "MapaGov <nao-responda@localhost>";

/// Notices by e-mail (`SMTP_URL`, `MAIL_FROM`).
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// The mail server; `None`: notices are off.
    pub smtp: Option<Smtp>,
    /// `MAIL_FROM`.
    pub from: lettre::message::Mailbox,
}

/// The SMTP transport of `SMTP_URL` (which may carry a password: `Debug` redacts it).
#[derive(Clone)]
pub struct Smtp(lettre::AsyncSmtpTransport<lettre::Tokio1Executor>);

impl Smtp {
    /// The transport, to send with.
    pub fn transport(&self) -> lettre::AsyncSmtpTransport<lettre::Tokio1Executor> {
        self.0.clone()
    }
}

impl fmt::Debug for Smtp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Smtp(<redacted>)")
    }
}

impl MailConfig {
    fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<MailConfig, ConfigError> {
        let smtp = get("SMTP_URL")
            .map(|raw| {
                lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(raw.trim())
                    .map(|builder| Smtp(builder.timeout(Some(Duration::from_secs(10))).build()))
                    // Never repeat the value: it may hold the password.
                    .map_err(|_| {
                        ConfigError::new(
                            "SMTP_URL",
                            "must look like smtp://[user:password@]host[:port] or smtps://…",
                        )
                    })
            })
            .transpose()?;
        let from = get("MAIL_FROM").unwrap_or_else(|| DEFAULT_MAIL_FROM.to_owned());
        let from = from.trim().parse().map_err(|e| {
            ConfigError::new(
                "MAIL_FROM",
                format!("`{from}` is not an e-mail sender ({e})"),
            )
        })?;
        Ok(MailConfig { smtp, from })
    }
}

/// Default `PUBLIC_BASE_URL`.
pub const DEFAULT_PUBLIC_BASE_URL: &str = "http://127.0.0.1:8000";
/// Default `PDF_MAX_CONCURRENT_RENDERS`: one per core of a small server, so PDFs never take every
/// core from the API.
pub const DEFAULT_PDF_MAX_CONCURRENT_RENDERS: usize = 2;

/// Settings of the POP's PDF.
#[derive(Debug, Clone)]
pub struct PdfConfig {
    /// `PUBLIC_BASE_URL`, without a trailing slash.
    pub public_base_url: String,
    /// `PDF_MAX_CONCURRENT_RENDERS`.
    pub max_concurrent_renders: usize,
}

impl PdfConfig {
    fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<PdfConfig, ConfigError> {
        let raw = get("PUBLIC_BASE_URL").unwrap_or_else(|| DEFAULT_PUBLIC_BASE_URL.to_owned());
        let trimmed = raw.trim().trim_end_matches('/');
        let parsed = url::Url::parse(trimmed).map_err(|e| {
            ConfigError::new("PUBLIC_BASE_URL", format!("`{trimmed}` is not a URL ({e})"))
        })?;
        if !matches!(parsed.scheme(), "http" | "https")
            || parsed.host_str().is_none()
            || parsed.query().is_some()
            || parsed.fragment().is_some()
        {
            return Err(ConfigError::new(
                "PUBLIC_BASE_URL",
                format!(
                    "`{trimmed}` is not an http(s)://host[/path] address without query or fragment"
                ),
            ));
        }
        let max_concurrent_renders = parse_or(
            "PDF_MAX_CONCURRENT_RENDERS",
            get("PDF_MAX_CONCURRENT_RENDERS"),
            DEFAULT_PDF_MAX_CONCURRENT_RENDERS,
        )?;
        if max_concurrent_renders == 0 {
            return Err(ConfigError::new(
                "PDF_MAX_CONCURRENT_RENDERS",
                "must be at least 1",
            ));
        }
        Ok(PdfConfig {
            public_base_url: trimmed.to_owned(),
            max_concurrent_renders,
        })
    }
}

/// A Sentry DSN. It carries the project's key, so `Debug` redacts it; use [`SentryDsn::expose`]
/// only to hand it to the Sentry client.
#[derive(Clone, PartialEq, Eq)]
pub struct SentryDsn(String);

impl SentryDsn {
    /// Checks the shape `http(s)://key@host/project`, and that the Sentry client accepts it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.parse::<sentry::types::Dsn>().is_err() {
            // Never repeat the value: it holds the project key.
            return Err("must look like https://key@host/project".into());
        }
        let rest = raw
            .strip_prefix("https://")
            .or_else(|| raw.strip_prefix("http://"))
            .ok_or("must start with https:// or http://")?;
        match rest.split_once('@') {
            Some((key, host)) if !key.is_empty() && host.contains('/') => Ok(Self(raw.to_owned())),
            _ => Err("must look like https://key@host/project".to_owned()),
        }
    }

    /// The DSN itself, key included.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SentryDsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SentryDsn(<redacted>)")
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let app_env = match get("APP_ENV").as_deref().map(str::trim) {
            None | Some("development") | Some("dev") => AppEnv::Development,
            Some("production") | Some("prod") => AppEnv::Production,
            Some(other) => {
                return Err(ConfigError::new(
                    "APP_ENV",
                    format!("`{other}` is not `development` or `production`"),
                ))
            }
        };
        let url = match get("DATABASE_URL") {
            None => DatabaseUrl::Sqlite(PathBuf::from(DEFAULT_SQLITE_FILE)),
            Some(raw) => {
                DatabaseUrl::parse(raw.trim()).map_err(|e| ConfigError::new("DATABASE_URL", e))?
            }
        };
        let conn_max_age = match get("DB_CONN_MAX_AGE") {
            None => Some(Duration::from_secs(DEFAULT_CONN_MAX_AGE_SECS)),
            Some(v) if v.trim().eq_ignore_ascii_case("none") => None,
            Some(v) => Some(Duration::from_secs(parse_num("DB_CONN_MAX_AGE", &v)?)),
        };
        let conn_check_idle = Duration::from_secs(parse_or(
            "DB_CONN_CHECK_IDLE",
            get("DB_CONN_CHECK_IDLE"),
            DEFAULT_CONN_CHECK_IDLE_SECS,
        )?);
        let auth_cache = Duration::from_secs(parse_or(
            "AUTH_CACHE_SECONDS",
            get("AUTH_CACHE_SECONDS"),
            DEFAULT_AUTH_CACHE_SECS,
        )?);
        let pool_size: u32 = parse_or("DB_POOL_SIZE", get("DB_POOL_SIZE"), DEFAULT_POOL_SIZE)?;
        if pool_size == 0 {
            return Err(ConfigError::new("DB_POOL_SIZE", "must be at least 1"));
        }
        let pool_timeout = positive_secs(
            "DB_POOL_TIMEOUT",
            get("DB_POOL_TIMEOUT"),
            DEFAULT_POOL_TIMEOUT_SECS,
        )?;
        let statement_timeout = positive_secs(
            "DB_STATEMENT_TIMEOUT",
            get("DB_STATEMENT_TIMEOUT"),
            DEFAULT_STATEMENT_TIMEOUT_SECS,
        )?;
        if statement_timeout.as_secs() > MAX_STATEMENT_TIMEOUT_SECS {
            return Err(ConfigError::new(
                "DB_STATEMENT_TIMEOUT",
                format!("must be at most {MAX_STATEMENT_TIMEOUT_SECS} seconds"),
            ));
        }
        let sqlite_synchronous = match get("SQLITE_SYNCHRONOUS")
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("full") => SqliteSynchronous::Full,
            Some("normal") => SqliteSynchronous::Normal,
            Some("extra") => SqliteSynchronous::Extra,
            Some(other) => {
                return Err(ConfigError::new(
                    "SQLITE_SYNCHRONOUS",
                    format!("`{other}` is not `full`, `normal` or `extra`"),
                ))
            }
        };
        let tls = tls_settings(&get, app_env)?;
        if let (true, Some(path)) = (
            url.is_postgres() && tls.mode.verifies_certificate(),
            &tls.root_cert,
        ) {
            if !path.is_file() {
                let variable = if get("DB_SSLROOTCERT").is_some() {
                    "DB_SSLROOTCERT"
                } else {
                    "PGSSLROOTCERT"
                };
                return Err(ConfigError::new(
                    variable,
                    format!("`{}` is not a file", path.display()),
                ));
            }
        }
        let replica = replica_config(&get, &url)?;
        let bind = get("BIND").unwrap_or_else(|| DEFAULT_BIND.to_owned());
        let bind = SocketAddr::from_str(bind.trim()).map_err(|_| {
            ConfigError::new(
                "BIND",
                format!("`{bind}` is not an address like 127.0.0.1:8000"),
            )
        })?;
        let snapshot_every = parse_or(
            "SNAPSHOT_EVERY",
            get("SNAPSHOT_EVERY"),
            DEFAULT_SNAPSHOT_EVERY,
        )?;
        if snapshot_every == 0 {
            return Err(ConfigError::new("SNAPSHOT_EVERY", "must be at least 1"));
        }
        let require_expected_hash = match get("REQUIRE_EXPECTED_HASH") {
            None => app_env == AppEnv::Production,
            Some(v) => parse_bool(v.trim()).ok_or_else(|| {
                ConfigError::new(
                    "REQUIRE_EXPECTED_HASH",
                    format!("`{v}` is not true or false"),
                )
            })?,
        };
        let catalogue_public = match get("CATALOGUE_PUBLIC") {
            None => false,
            Some(v) => parse_bool(v.trim()).ok_or_else(|| {
                ConfigError::new("CATALOGUE_PUBLIC", format!("`{v}` is not true or false"))
            })?,
        };
        let idle_minutes: i64 = parse_or(
            "HISTORY_SESSION_IDLE_MINUTES",
            get("HISTORY_SESSION_IDLE_MINUTES"),
            crate::domain::sessions::DEFAULT_IDLE_MINUTES.into(),
        )?;
        let session_idle = crate::domain::sessions::idle_time("", idle_minutes).map_err(|_| {
            ConfigError::new(
                "HISTORY_SESSION_IDLE_MINUTES",
                format!(
                    "must be between {} and {} minutes",
                    crate::domain::sessions::MIN_IDLE_MINUTES,
                    crate::domain::sessions::MAX_IDLE_MINUTES
                ),
            )
        })?;
        if let Some(filter) = get("RUST_LOG") {
            // `main` would otherwise fall back to `info` without a word.
            tracing_subscriber::EnvFilter::try_new(filter.trim())
                .map_err(|e| ConfigError::new("RUST_LOG", format!("not a log filter ({e})")))?;
        }
        let log_format = match get("LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::new(
                    "LOG_FORMAT",
                    format!("`{other}` is not `text` or `json`"),
                ))
            }
        };
        let http = http_config(&get, app_env)?;
        let sentry_dsn = get("SENTRY_DSN")
            .map(|raw| SentryDsn::parse(&raw).map_err(|e| ConfigError::new("SENTRY_DSN", e)))
            .transpose()?;
        let backup_dir = get("BACKUP_DIR").map(|dir| PathBuf::from(dir.trim()));
        let live = live_config(&get)?;
        let pdf = PdfConfig::from_lookup(&get)?;
        let mail = MailConfig::from_lookup(&get)?;
        Ok(Config {
            live,
            pdf,
            mail,
            http,
            sentry_dsn,
            backup_dir,
            database: DatabaseConfig {
                url,
                conn_max_age,
                conn_check_idle,
                auth_cache,
                pool_size,
                pool_timeout,
                statement_timeout,
                sqlite_synchronous,
                tls,
                replica,
            },
            bind,
            snapshot_every,
            require_expected_hash,
            session_idle,
            catalogue_public,
            app_env,
            log_format,
        })
    }
}

fn live_config(get: &impl Fn(&str) -> Option<String>) -> Result<LiveConfig, ConfigError> {
    let count = |name: &'static str, default: usize| -> Result<usize, ConfigError> {
        let value: usize = parse_or(name, get(name), default)?;
        if value == 0 {
            return Err(ConfigError::new(name, "must be at least 1"));
        }
        Ok(value)
    };
    Ok(LiveConfig {
        per_connection: count("SUBSCRIPTIONS_PER_CONNECTION", 20)?,
        per_user: count("SUBSCRIPTIONS_PER_USER", 100)?,
        keepalive: positive_secs("SUBSCRIPTION_KEEPALIVE", get("SUBSCRIPTION_KEEPALIVE"), 15)?,
        recheck: positive_secs("SUBSCRIPTION_RECHECK", get("SUBSCRIPTION_RECHECK"), 30)?,
        presence_ttl: positive_secs("PRESENCE_TTL", get("PRESENCE_TTL"), 30)?,
    })
}

/// `DATABASE_REPLICA_URL` (a PostgreSQL URL, only beside a PostgreSQL `DATABASE_URL`) and
/// `REPLICA_READ_YOUR_WRITES`.
fn replica_config(
    get: &impl Fn(&str) -> Option<String>,
    primary: &DatabaseUrl,
) -> Result<Option<ReplicaConfig>, ConfigError> {
    const VARIABLE: &str = "DATABASE_REPLICA_URL";
    let window = positive_secs(
        "REPLICA_READ_YOUR_WRITES",
        get("REPLICA_READ_YOUR_WRITES"),
        DEFAULT_REPLICA_READ_YOUR_WRITES_SECS,
    )?;
    if window.as_secs() > MAX_REPLICA_READ_YOUR_WRITES_SECS {
        return Err(ConfigError::new(
            "REPLICA_READ_YOUR_WRITES",
            format!("must be at most {MAX_REPLICA_READ_YOUR_WRITES_SECS} seconds"),
        ));
    }
    let Some(raw) = get(VARIABLE) else {
        return Ok(None);
    };
    // The reasons below never repeat the value: it may hold the password.
    let url = match DatabaseUrl::parse(raw.trim()) {
        Ok(url @ DatabaseUrl::Postgres(_)) => url,
        Ok(DatabaseUrl::Sqlite(_)) => {
            return Err(ConfigError::new(
                VARIABLE,
                "must be a postgres:// URL: SQLite has no replicas",
            ))
        }
        Err(_) => {
            return Err(ConfigError::new(
                VARIABLE,
                "must look like postgres://user:password@host:5432/database",
            ))
        }
    };
    if !primary.is_postgres() {
        return Err(ConfigError::new(
            VARIABLE,
            "needs DATABASE_URL to be PostgreSQL (a replica of it); SQLite has no replicas",
        ));
    }
    if &url == primary {
        return Err(ConfigError::new(
            VARIABLE,
            "is the same as DATABASE_URL; point it at the replica, or leave it unset",
        ));
    }
    Ok(Some(ReplicaConfig {
        url,
        read_your_writes: window,
    }))
}

fn tls_settings(
    get: &impl Fn(&str) -> Option<String>,
    app_env: AppEnv,
) -> Result<TlsSettings, ConfigError> {
    let require = match get("DB_REQUIRE_SSL").as_deref().map(str::trim) {
        None => false,
        Some(v) => parse_bool(v).ok_or_else(|| {
            ConfigError::new("DB_REQUIRE_SSL", format!("`{v}` is not true or false"))
        })?,
    };
    let mode = match get("DB_SSLMODE") {
        Some(v) => SslMode::from_str(v.trim())
            .map_err(|e| ConfigError::new("DB_SSLMODE", e.to_string()))?,
        None if require || app_env == AppEnv::Production => SslMode::Require,
        None => SslMode::Prefer,
    };
    if require && matches!(mode, SslMode::Disable | SslMode::Prefer) {
        return Err(ConfigError::new(
            "DB_SSLMODE",
            format!("`{mode}` allows plaintext but DB_REQUIRE_SSL=true; use require, verify-ca or verify-full"),
        ));
    }
    let root_cert = get("DB_SSLROOTCERT")
        .or_else(|| get("PGSSLROOTCERT"))
        .map(PathBuf::from);
    Ok(TlsSettings { mode, root_cert })
}

fn http_config(
    get: &impl Fn(&str) -> Option<String>,
    app_env: AppEnv,
) -> Result<HttpConfig, ConfigError> {
    let positive = |name: &'static str, default: usize| -> Result<usize, ConfigError> {
        let value: usize = parse_or(name, get(name), default)?;
        if value == 0 {
            return Err(ConfigError::new(name, "must be at least 1"));
        }
        Ok(value)
    };
    let flag = |name: &'static str| -> Result<bool, ConfigError> {
        match get(name) {
            None => Ok(app_env == AppEnv::Development),
            Some(v) => parse_bool(v.trim())
                .ok_or_else(|| ConfigError::new(name, format!("`{v}` is not true or false"))),
        }
    };
    let attempts = positive("LOGIN_ATTEMPTS_PER_MINUTE", 10)?;
    Ok(HttpConfig {
        max_body_bytes: positive("MAX_BODY_BYTES", 4 * 1024 * 1024)?,
        max_document_bytes: positive("MAX_DOCUMENT_BYTES", 2 * 1024 * 1024)?,
        max_depth: positive("GRAPHQL_MAX_DEPTH", 15)?,
        max_complexity: positive("GRAPHQL_MAX_COMPLEXITY", 20_000)?,
        max_batch: positive("GRAPHQL_MAX_BATCH", 10)?,
        max_query_bytes: positive("GRAPHQL_MAX_QUERY_BYTES", 256 * 1024)?,
        max_selections: positive("GRAPHQL_MAX_SELECTIONS", 2_000)?,
        max_aliases: parse_or("GRAPHQL_MAX_ALIASES", get("GRAPHQL_MAX_ALIASES"), 50)?,
        max_response_bytes: positive("GRAPHQL_MAX_RESPONSE_BYTES", 16 * 1024 * 1024)?,
        document_cache: parse_or("GRAPHQL_DOCUMENT_CACHE", get("GRAPHQL_DOCUMENT_CACHE"), 512)?,
        request_timeout: positive_secs("REQUEST_TIMEOUT", get("REQUEST_TIMEOUT"), 30)?,
        login_attempts_per_minute: u32::try_from(attempts)
            .ok()
            .and_then(std::num::NonZeroU32::new)
            .ok_or_else(|| ConfigError::new("LOGIN_ATTEMPTS_PER_MINUTE", "too large"))?,
        introspection: flag("GRAPHQL_INTROSPECTION")?,
        graphiql: flag("GRAPHIQL")?,
        cors_allowed_origins: get("CORS_ALLOWED_ORIGINS")
            .map(|v| CorsOrigins::parse(&v))
            .transpose()
            .map_err(|e| ConfigError::new("CORS_ALLOWED_ORIGINS", e))?
            .unwrap_or_default(),
        cors_max_age: get("CORS_MAX_AGE")
            .map(|v| crate::http::cors::parse_max_age(&v))
            .transpose()
            .map_err(|e| ConfigError::new("CORS_MAX_AGE", e))?
            .unwrap_or(crate::http::cors::DEFAULT_MAX_AGE),
        trusted_proxies: get("TRUSTED_PROXIES")
            .map(|v| TrustedProxies::parse(&v))
            .transpose()
            .map_err(|e| ConfigError::new("TRUSTED_PROXIES", e))?
            .unwrap_or_default()
            .reading(
                get("FORWARDED_HEADER")
                    .map(|v| ForwardedHeader::parse(&v))
                    .transpose()
                    .map_err(|e| ConfigError::new("FORWARDED_HEADER", e))?
                    .unwrap_or_default(),
            ),
        tokens: token::Lifetime {
            max_age: token_secs(
                "TOKEN_MAX_AGE",
                get("TOKEN_MAX_AGE"),
                DEFAULT_TOKEN_MAX_AGE_SECS,
            )?,
            idle_timeout: token_secs(
                "TOKEN_IDLE_TIMEOUT",
                get("TOKEN_IDLE_TIMEOUT"),
                DEFAULT_TOKEN_IDLE_TIMEOUT_SECS,
            )?,
        },
    })
}

/// Seconds from 1 to ten years, or `none` (no limit).
fn token_secs(
    variable: &'static str,
    raw: Option<String>,
    default: u64,
) -> Result<Option<TimeDelta>, ConfigError> {
    if raw
        .as_deref()
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("none"))
    {
        return Ok(None);
    }
    let secs = positive_secs(variable, raw, default)?.as_secs();
    if secs > MAX_TOKEN_SECS {
        return Err(ConfigError::new(
            variable,
            format!("must be at most {MAX_TOKEN_SECS} seconds (ten years), or none"),
        ));
    }
    i64::try_from(secs)
        .ok()
        .and_then(TimeDelta::try_seconds)
        .map(Some)
        .ok_or_else(|| ConfigError::new(variable, "too large"))
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn parse_num<T: FromStr>(variable: &'static str, raw: &str) -> Result<T, ConfigError> {
    raw.trim().parse().map_err(|_| {
        ConfigError::new(
            variable,
            format!("`{raw}` is not a non-negative whole number"),
        )
    })
}

fn parse_or<T: FromStr>(
    variable: &'static str,
    raw: Option<String>,
    default: T,
) -> Result<T, ConfigError> {
    raw.map_or(Ok(default), |v| parse_num(variable, &v))
}

fn positive_secs(
    variable: &'static str,
    raw: Option<String>,
    default: u64,
) -> Result<Duration, ConfigError> {
    let secs: u64 = parse_or(variable, raw, default)?;
    if secs == 0 {
        return Err(ConfigError::new(variable, "must be at least 1 second"));
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_to_the_embedded_sqlite_file() {
        let c = config(&[]).unwrap();
        assert_eq!(
            c.database.url,
            DatabaseUrl::Sqlite(PathBuf::from("db.sqlite3"))
        );
        assert_eq!(c.database.conn_max_age, Some(Duration::from_secs(60)));
        assert_eq!(c.bind.to_string(), DEFAULT_BIND);
        assert_eq!(c.database.tls.mode, SslMode::Prefer);
    }

    #[test]
    fn conn_max_age_zero_and_none() {
        let zero = config(&[("DB_CONN_MAX_AGE", "0")]).unwrap();
        assert_eq!(zero.database.conn_max_age, Some(Duration::ZERO));
        let none = config(&[("DB_CONN_MAX_AGE", "None")]).unwrap();
        assert_eq!(none.database.conn_max_age, None);
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            ("DB_CONN_MAX_AGE", "-1"),
            ("DB_POOL_SIZE", "lots"),
            ("DB_POOL_SIZE", "0"),
            ("DB_POOL_TIMEOUT", "0"),
            ("BIND", "localhost"),
            ("DB_SSLMODE", "sometimes"),
            ("DB_REQUIRE_SSL", "maybe"),
            ("APP_ENV", "staging"),
            ("SNAPSHOT_EVERY", "0"),
            ("MAX_BODY_BYTES", "0"),
            ("GRAPHQL_INTROSPECTION", "sometimes"),
            ("DATABASE_URL", "mysql://x@y/z"),
            ("DB_STATEMENT_TIMEOUT", "9999999"),
            ("CORS_ALLOWED_ORIGINS", "127.0.0.1:3000"),
            ("CORS_ALLOWED_ORIGINS", "*, https://a.example"),
            ("CORS_MAX_AGE", "86401"),
            ("CORS_MAX_AGE", "soon"),
            ("TRUSTED_PROXIES", "proxy.internal"),
            ("FORWARDED_HEADER", "x-real-ip"),
            ("CATALOGUE_PUBLIC", "sometimes"),
            ("TOKEN_MAX_AGE", "0"),
            ("TOKEN_IDLE_TIMEOUT", "soon"),
            ("TOKEN_IDLE_TIMEOUT", "99999999999999"),
            ("SENTRY_DSN", "https://key@host/"),
            ("RUST_LOG", "mapagov=loud"),
            ("REQUIRE_EXPECTED_HASH", "sometimes"),
            ("SUBSCRIPTIONS_PER_CONNECTION", "0"),
            ("SUBSCRIPTIONS_PER_USER", "many"),
            ("SUBSCRIPTION_KEEPALIVE", "0"),
            ("SUBSCRIPTION_RECHECK", "-5"),
            ("PUBLIC_BASE_URL", "catalogo.example.gov.br"),
            ("PUBLIC_BASE_URL", "https://catalogo.example.gov.br/?a=1"),
            ("PDF_MAX_CONCURRENT_RENDERS", "0"),
            ("SMTP_URL", "mail.example.gov.br"),
            ("MAIL_FROM", "MapaGov"),
            ("REPLICA_READ_YOUR_WRITES", "0"),
            ("REPLICA_READ_YOUR_WRITES", "3601"),
        ] {
            let err = config(&[(var, value)]).unwrap_err();
            assert_eq!(err.variable, var, "{var}={value}");
            assert!(err.to_string().contains(var));
        }
    }

    #[test]
    fn require_ssl_forbids_plaintext_modes_and_defaults_to_require() {
        let c = config(&[("DB_REQUIRE_SSL", "true")]).unwrap();
        assert_eq!(c.database.tls.mode, SslMode::Require);
        let err = config(&[("DB_REQUIRE_SSL", "true"), ("DB_SSLMODE", "prefer")]).unwrap_err();
        assert_eq!(err.variable, "DB_SSLMODE");
        let prod = config(&[("APP_ENV", "production")]).unwrap();
        assert_eq!(prod.database.tls.mode, SslMode::Require);
        assert!(!prod.http.introspection && !prod.http.graphiql);
        let dev = config(&[]).unwrap();
        assert!(dev.http.introspection && dev.http.graphiql);
        assert!(prod.require_expected_hash && !dev.require_expected_hash);
        let relaxed = config(&[
            ("APP_ENV", "production"),
            ("REQUIRE_EXPECTED_HASH", "false"),
        ]);
        assert!(!relaxed.unwrap().require_expected_hash);
    }

    #[test]
    fn the_password_never_shows() {
        let secret = "hunter2-very-secret";
        let url = format!("postgres://app:{secret}@db.internal:5432/mapagov?sslmode=require");
        let c = config(&[("DATABASE_URL", &url)]).unwrap();
        let shown = format!("{:?} {} {:?}", c, c.database.url, c.database);
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains("db.internal"));
        let err = config(&[("DATABASE_URL", &format!("postgres://app:{secret}@"))]).unwrap_err();
        assert!(!err.to_string().contains(secret));
    }

    #[test]
    fn a_missing_root_certificate_is_refused_when_it_would_be_used() {
        let pg = ("DATABASE_URL", "postgres://app@db.internal/mapagov");
        let missing = ("DB_SSLROOTCERT", "/nonexistent/ca.pem");
        let err = config(&[pg, missing, ("DB_SSLMODE", "verify-full")]).unwrap_err();
        assert_eq!(err.variable, "DB_SSLROOTCERT");
        assert!(config(&[pg, missing, ("DB_SSLMODE", "require")]).is_ok());
        assert!(config(&[missing, ("DB_SSLMODE", "verify-full")]).is_ok());
    }

    #[test]
    fn token_lifetimes_default_and_may_be_unlimited() {
        let c = config(&[]).unwrap();
        assert_eq!(c.http.tokens.max_age, Some(TimeDelta::days(30)));
        assert_eq!(c.http.tokens.idle_timeout, Some(TimeDelta::hours(8)));
        let c = config(&[("TOKEN_MAX_AGE", "none"), ("TOKEN_IDLE_TIMEOUT", "60")]).unwrap();
        assert_eq!(c.http.tokens.max_age, None);
        assert_eq!(c.http.tokens.idle_timeout, Some(TimeDelta::minutes(1)));
    }

    #[test]
    fn cors_star_means_any_origin() {
        let c = config(&[("CORS_ALLOWED_ORIGINS", "*")]).unwrap();
        assert_eq!(c.http.cors_allowed_origins, CorsOrigins::Any);
        assert_eq!(
            config(&[]).unwrap().http.cors_allowed_origins,
            CorsOrigins::None
        );
    }

    #[test]
    fn sqlite_url_picks_another_file() {
        let c = config(&[("DATABASE_URL", "sqlite://data/other.sqlite3")]).unwrap();
        assert_eq!(
            c.database.url,
            DatabaseUrl::Sqlite(PathBuf::from("data/other.sqlite3"))
        );
    }

    #[test]
    fn sqlite_syncs_every_commit_unless_told_otherwise() {
        let synchronous =
            |v: &str| config(&[("SQLITE_SYNCHRONOUS", v)]).map(|c| c.database.sqlite_synchronous);
        assert_eq!(
            config(&[]).unwrap().database.sqlite_synchronous,
            SqliteSynchronous::Full
        );
        assert_eq!(synchronous("NORMAL").unwrap(), SqliteSynchronous::Normal);
        assert_eq!(synchronous("extra").unwrap(), SqliteSynchronous::Extra);
        assert_eq!(
            synchronous("off").unwrap_err().variable,
            "SQLITE_SYNCHRONOUS"
        );
    }

    #[test]
    fn the_public_base_url_loses_its_trailing_slash() {
        let c = config(&[("PUBLIC_BASE_URL", "https://pops.example.gov.br/mapa/")]).unwrap();
        assert_eq!(c.pdf.public_base_url, "https://pops.example.gov.br/mapa");
        assert_eq!(
            config(&[]).unwrap().pdf.public_base_url,
            DEFAULT_PUBLIC_BASE_URL
        );
    }

    #[test]
    fn sentry_dsn_is_checked_and_redacted() {
        let dsn = "https://0123abcd@errors.example.org/42";
        let c = config(&[("SENTRY_DSN", dsn)]).unwrap();
        assert_eq!(c.sentry_dsn.as_ref().map(SentryDsn::expose), Some(dsn));
        assert!(!format!("{c:?}").contains("0123abcd"));
        let err = config(&[("SENTRY_DSN", "errors.example.org")]).unwrap_err();
        assert_eq!(err.variable, "SENTRY_DSN");
        assert!(config(&[]).unwrap().sentry_dsn.is_none());
    }

    #[test]
    fn a_replica_needs_postgres_and_a_postgres_url_and_never_shows_its_password() {
        let secret = "replica-secret-9";
        let pg = ("DATABASE_URL", "postgres://app:p@primary.internal/mapagov");
        let replica_url = format!("postgres://app:{secret}@replica.internal/mapagov");
        let replica = ("DATABASE_REPLICA_URL", replica_url.as_str());
        let c = config(&[pg, replica]).unwrap();
        let configured = c.database.replica.clone().unwrap();
        assert_eq!(configured.read_your_writes, Duration::from_secs(5));
        assert!(!format!("{c:?}").contains(secret));
        assert!(config(&[pg]).unwrap().database.replica.is_none());
        for vars in [
            vec![replica],
            vec![("DATABASE_URL", "sqlite://other.sqlite3"), replica],
            vec![pg, ("DATABASE_REPLICA_URL", "sqlite://replica.sqlite3")],
            vec![pg, ("DATABASE_REPLICA_URL", "replica.internal:5432")],
            vec![pg, ("DATABASE_REPLICA_URL", "mysql://app@replica/mapagov")],
            vec![pg, ("DATABASE_REPLICA_URL", pg.1)],
        ] {
            let err = config(&vars).unwrap_err();
            assert_eq!(err.variable, "DATABASE_REPLICA_URL", "{vars:?}");
            assert!(err.to_string().contains("DATABASE_REPLICA_URL"));
            assert!(!err.to_string().contains(secret));
        }
        let bad = format!("postgres://app:{secret}@");
        let err = config(&[pg, ("DATABASE_REPLICA_URL", &bad)]).unwrap_err();
        assert!(!err.to_string().contains(secret), "{err}");
        let window = config(&[pg, replica, ("REPLICA_READ_YOUR_WRITES", "12")]).unwrap();
        assert_eq!(
            window.database.replica.unwrap().read_your_writes,
            Duration::from_secs(12)
        );
    }
}
