//! Start-up of the HTTP server: connect, migrate, build the schema, serve.

use crate::config::Config;
use crate::db::migrate::{self, Direction};
use crate::db::Db;
use crate::error::AppError;
use crate::graphql;
use crate::http::{self, AppState};
use std::future::Future;
use tokio::net::TcpListener;

/// Connects to the database, applies pending migrations and builds the application state.
pub async fn prepare(config: &Config) -> Result<AppState, AppError> {
    let applied = migrate::run(&config.database, Direction::Up).await?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "applied pending migrations");
    }
    let db = Db::connect(&config.database).await?;
    let schema = graphql::build(
        db.clone(),
        graphql::Settings {
            snapshot_every: config.snapshot_every,
        },
    );
    Ok(AppState { db, schema })
}

/// Serves on `listener` until `shutdown` resolves.
pub async fn run(
    config: &Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AppError> {
    let state = prepare(config).await?;
    let addr = listener.local_addr().map_err(AppError::internal)?;
    tracing::info!(
        database = %config.database.url,
        "MapaGov listening on http://{addr} (GraphiQL at http://{addr}{})",
        http::GRAPHQL_PATH
    );
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
