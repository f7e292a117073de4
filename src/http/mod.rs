//! The HTTP surface: `/graphql` (GraphQL over HTTP and GraphiQL), `/healthz`, and GraphiQL's assets.

pub mod graphiql;
pub mod health;

use crate::db::Db;
use crate::graphql::AppSchema;
use async_graphql_axum::{GraphQLBatchRequest, GraphQLResponse};
use axum::extract::State;
use axum::routing::get;
use axum::Router;
use std::future::Future;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The GraphQL schema (holds its own handle on `db`).
    pub schema: AppSchema,
}

/// Path of the GraphQL endpoint (and of GraphiQL).
pub const GRAPHQL_PATH: &str = "/graphql";

/// Builds the router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(GRAPHQL_PATH, get(graphiql_page).post(graphql))
        .route("/healthz", get(health::healthz))
        .merge(graphiql::asset_routes())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn graphql(State(state): State<AppState>, request: GraphQLBatchRequest) -> GraphQLResponse {
    state
        .schema
        .execute_batch(request.into_inner())
        .await
        .into()
}

async fn graphiql_page() -> axum::response::Html<String> {
    graphiql::page(GRAPHQL_PATH)
}
