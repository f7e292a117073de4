//! The HTTP surface: `/graphql` (GraphQL over HTTP, subscriptions over WebSocket or Server-Sent
//! Events, and GraphiQL),
//! `/healthz`, `/readyz`, `/metrics`, `/pops/{id}/pdf` (a POP's document), GraphiQL's assets;
//! every route is wrapped by [`observe`].

pub mod client_addr;
pub mod cors;
pub mod graphiql;
pub mod graphql;
pub mod health;
pub mod metrics;
pub mod negotiate;
pub mod observe;
pub mod pdf;
pub mod serve;
pub mod sse;
pub mod ws;

use crate::config::{DatabaseConfig, HttpConfig, LiveConfig};
use crate::db::Db;
use crate::graphql::AppSchema;
use crate::telemetry::metrics::Metrics;
use axum::extract::{ConnectInfo, RawQuery, Request, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;

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
    /// Subscription settings (WebSocket keep-alives).
    pub live: LiveConfig,
    /// Renders POPs as PDF (`GET /pops/{id}/pdf`).
    pub pdf: Arc<pdf::PdfService>,
    /// Set to `true` when the server starts shutting down: open event streams end then
    /// ([`sse`]), so that draining does not wait for them.
    pub closing: Arc<tokio::sync::watch::Sender<bool>>,
}

/// Path of the GraphQL endpoint (and of GraphiQL).
pub const GRAPHQL_PATH: &str = "/graphql";

/// Builds the router.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new()
        .route(GRAPHQL_PATH, get(graphql_get).post(graphql::handle))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route(pdf::PDF_ROUTE, get(pdf::pop_pdf));
    if state.http.graphiql {
        router = router.merge(graphiql::asset_routes());
    }
    with_layers(router, state)
}

/// Wraps every route: a panic becomes a clean 500 ([`observe::panic_response`]), inside
/// [`observe::observe`] (request id, metrics, the log line), inside CORS when configured.
fn with_layers(router: Router<AppState>, state: AppState) -> Router {
    let cors = state
        .http
        .cors_allowed_origins
        .layer(state.http.cors_max_age);
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

/// Serves the application on `listener` until `shutdown` resolves, then lets every accepted
/// request finish ([`serve::serve`]).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let closing = Arc::clone(&state.closing);
    let shutdown = async move {
        shutdown.await;
        closing.send_replace(true);
    };
    serve::serve(listener, router(state), shutdown).await
}

/// `GET /graphql`: a WebSocket for subscriptions ([`ws`]), otherwise a query by GET or GraphiQL
/// ([`graphql::handle_get`]).
async fn graphql_get(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    query: RawQuery,
    request: Request,
) -> Response {
    if ws::is_upgrade(request.headers()) {
        let client = state
            .http
            .trusted_proxies
            .client(peer.ip(), request.headers());
        ws::upgrade(state, request, client).await
    } else {
        let headers = request.headers().clone();
        graphql::handle_get(State(state), ConnectInfo(peer), headers, query).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_handler_is_a_clean_500_and_is_counted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("db.sqlite3").display());
        let config =
            crate::config::Config::from_lookup(|k| (k == "DATABASE_URL").then(|| url.clone()))
                .expect("config");
        let state = crate::server::prepare(&config).await.expect("state");
        let metrics = Arc::clone(&state.metrics);
        let boom = Router::new().route(
            "/boom",
            get(|| async {
                if true {
                    panic!("boom");
                }
                StatusCode::OK
            }),
        );
        let response = with_layers(boom, state)
            .oneshot(
                Request::get("/boom")
                    .header("x-request-id", "panic-1")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("a response, not a dropped connection");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()["x-request-id"], "panic-1");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            "INTERNAL_SERVER_ERROR"
        );
        assert!(
            !body.to_string().contains("boom"),
            "the panic message stays server-side"
        );
        let text = metrics.render().await.expect("metrics");
        assert!(
            text.contains(
                r#"mapagov_http_requests_total{method="GET",route="/boom",status="500"} 1"#
            ),
            "{text}"
        );
    }
}
