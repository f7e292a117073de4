//! Start-up of the HTTP server: connect, migrate, build the schema, serve.

use crate::config::{Config, DatabaseUrl};
use crate::db::migrate::{self, Direction};
use crate::db::Db;
use crate::error::AppError;
use crate::graphql;
use crate::http::{self, AppState};
use crate::live;
use crate::telemetry::metrics::Metrics;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Connects to the database, applies pending migrations, starts the database listener (on
/// PostgreSQL) and builds the application state.
pub async fn prepare(config: &Config) -> Result<AppState, AppError> {
    let applied = migrate::run(&config.database, Direction::Up).await?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "applied pending migrations");
    }
    let db = Db::connect(&config.database).await?;
    tokio::task::spawn_blocking(crate::auth::password::prepare)
        .await
        .map_err(AppError::internal)?;
    let stats = live::limits::Stats::default();
    if let DatabaseUrl::Postgres(url) = &config.database.url {
        live::listener::spawn(
            url.clone(),
            config.database.tls.clone(),
            live::listener::Ears {
                hub: Arc::clone(db.hub()),
                tokens: Arc::clone(db.token_cache()),
                replica: db.replica().cloned(),
                stats: stats.clone(),
            },
        );
        crate::db::replica::spawn_lag_guard(db.clone());
    }
    let live = graphql::live::Live {
        feed: live::feed::Context {
            db: db.clone(),
            hub: Arc::clone(db.hub()),
            tokens: config.http.tokens,
            recheck: config.live.recheck,
            stats: stats.clone(),
        },
        limits: Arc::new(live::limits::Limits::new(
            config.live.per_connection,
            config.live.per_user,
            stats.clone(),
        )),
    };
    let metrics = Arc::new(Metrics::new(db.clone()).with_live(&stats));
    let notifier = crate::notify::Notifier::start(
        &config.mail,
        db.clone(),
        config.pdf.public_base_url.clone(),
        Arc::clone(&metrics),
    );
    let schema = graphql::build(
        db.clone(),
        graphql::Settings {
            autosave: crate::domain::autosave::Limits {
                snapshot_every: config.snapshot_every,
                max_document_bytes: config.http.max_document_bytes,
                require_expected_hash: config.require_expected_hash,
            },
            session_idle: config.session_idle,
            catalogue_public: config.catalogue_public,
            presence_ttl: config.live.presence_ttl,
        },
        &config.http,
        live,
        notifier,
    );
    Ok(AppState {
        metrics,
        live: config.live,
        db,
        schema,
        http: std::sync::Arc::new(config.http.clone()),
        database: std::sync::Arc::new(config.database.clone()),
        pdf: std::sync::Arc::new(http::pdf::PdfService::new(&config.pdf)),
        closing: std::sync::Arc::new(tokio::sync::watch::Sender::new(false)),
    })
}

/// Serves on `listener` until `shutdown` resolves. With `bootstrap_admin`, a database without
/// users gets the staff user `admin`, and its one-time token is printed (to standard output, never
/// to the logs) with the GraphiQL address.
pub async fn run(
    config: &Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    bootstrap_admin: bool,
) -> Result<(), AppError> {
    let state = prepare(config).await?;
    let addr = listener.local_addr().map_err(AppError::internal)?;
    let graphiql = config
        .http
        .graphiql
        .then(|| format!("http://{addr}{}", http::GRAPHQL_PATH));
    if bootstrap_admin {
        if let Some(token) = crate::auth::bootstrap_admin(&state.db).await? {
            let header = format!("{{\"Authorization\": \"Bearer {token}\"}}");
            let how = match &graphiql {
                Some(page) => {
                    format!(
                        "Open GraphiQL at {page} and put this in its Headers tab:\n\n    {header}"
                    )
                }
                None => format!("Send it with every request as the header\n\n    {header}"),
            };
            println!(
                "\nFirst run: created the staff user `admin` (it has no password).\n\
                 Its API token, shown only this once:\n\n    {token}\n\n{how}\n\n\
                 More users and tokens: `mapagov user create <name>`, `mapagov user token <name>`.\n"
            );
        }
    }
    if config.app_env == crate::config::AppEnv::Production && !config.database.url.is_postgres() {
        tracing::warn!(
            "APP_ENV=production on SQLite: one server process only, and no replicas or \
             point-in-time recovery; set DATABASE_URL to PostgreSQL for a production deployment"
        );
    }
    if let Some(replica) = &config.database.replica {
        tracing::info!(
            replica = %replica.url,
            read_your_writes_seconds = replica.read_your_writes.as_secs(),
            "queries read from the replica under the read-your-writes rule"
        );
    }
    match &graphiql {
        Some(page) => tracing::info!(
            database = %config.database.url,
            "MapaGov listening on http://{addr} (GraphiQL at {page})"
        ),
        None => tracing::info!(
            database = %config.database.url,
            "MapaGov listening on http://{addr} (GraphQL at POST {})",
            http::GRAPHQL_PATH
        ),
    }
    http::serve(listener, state, shutdown)
        .await
        .map_err(AppError::internal)
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
