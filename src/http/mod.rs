//! The HTTP surface: `/graphql` (GraphQL over HTTP, and GraphiQL), `/healthz`, `/readyz`,
//! `/metrics`, GraphiQL's assets; every route is wrapped by [`observe`].

pub mod graphiql;
pub mod graphql;
pub mod health;
pub mod metrics;
pub mod observe;

use crate::config::{DatabaseConfig, HttpConfig};
use crate::db::Db;
use crate::graphql::AppSchema;
use crate::telemetry::metrics::Metrics;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The GraphQL schema (holds its own handle on `db`).
    pub schema: AppSchema,
    /// Request limits and API exposure.
    pub http: Arc<HttpConfig>,
    /// Where the database is (for the readiness check's migration status).
    pub database: Arc<DatabaseConfig>,
    /// What `/metrics` serves.
    pub metrics: Arc<Metrics>,
}

/// Path of the GraphQL endpoint (and of GraphiQL).
pub const GRAPHQL_PATH: &str = "/graphql";

/// Builds the router.
pub fn router(state: AppState) -> Router {
    let cors = cors_layer(&state.http.cors_allowed_origins);
    let mut router = Router::new()
        .route(GRAPHQL_PATH, get(graphiql_page).post(graphql::handle))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics));
    if state.http.graphiql {
        router = router.merge(graphiql::asset_routes());
    }
    let router = router
        .layer(CatchPanicLayer::custom(observe::panic_response))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ));
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
    .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

async fn graphiql_page(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    if state.http.graphiql {
        Html(graphiql::page(GRAPHQL_PATH).0).into_response()
    } else {
        (StatusCode::NOT_FOUND, "GraphiQL is disabled on this server").into_response()
    }
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(allowed))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
    )
}
