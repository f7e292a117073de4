//! `/metrics` after real traffic, parsed with a Prometheus text-format parser: every counter moved
//! by exactly what the test did, operation names are bounded, and on PostgreSQL the server's
//! connections appear as `pg_stat_activity` sees them.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::prom::{label_values, scrape, value};
use common::{Backend, TestServer};
use mapagov::telemetry::operation::MAX_DISTINCT_NAMES;
use prometheus_parse::Sample;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

both_backends!(
    counters_move_by_exactly_the_traffic,
    operation_names_are_bounded
);

const SAVE: &str = "mutation SaveDraft($name: String) { autosavePop(input: {sessionId: \"m\", \
    content: {nomeProcesso: $name}}) { autosaveSequence } }";

async fn post(server: &TestServer, token: bool, body: Value) -> Value {
    let client = if token {
        (*server).clone()
    } else {
        server.anonymous()
    };
    let resp = client.post().json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn counters_move_by_exactly_the_traffic(backend: Backend) {
    let server = TestServer::start(backend).await;
    let before = scrape(server.http(), &server.base).await;

    for i in 0..3 {
        let body = post(
            &server,
            true,
            json!({"query": SAVE, "variables": {"name": format!("v{i}")}}),
        )
        .await;
        assert!(body.get("errors").is_none(), "{body:#}");
    }
    let batch = post(
        &server,
        true,
        json!([
            {"query": SAVE, "variables": {"name": "v3"}},
            {"query": "query WhoAmI { me { username } }"}
        ]),
    )
    .await;
    assert_eq!(batch.as_array().unwrap().len(), 2);
    let anon = post(
        &server,
        false,
        json!({"query": "query Anon { me { username } }"}),
    )
    .await;
    assert_eq!(anon["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    let broken = post(&server, true, json!({"query": "query Broken { nope }"})).await;
    assert_eq!(
        broken["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    let unparsable = post(&server, true, json!({"query": "query Unfinished {"})).await;
    assert_eq!(
        unparsable["errors"][0]["extensions"]["code"],
        "GRAPHQL_PARSE_FAILED"
    );
    post(&server, true, json!({"query": "{ me { username } }"})).await;
    post(
        &server,
        true,
        json!({"query": "query Real { me { username } }", "operationName": "bad name!"}),
    )
    .await;
    for _ in 0..2 {
        let resp = server
            .http()
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let resp = server
        .http()
        .get(server.url("/no/such/123"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    let after = scrape(server.http(), &server.base).await;
    let delta = |metric: &str, labels: &[(&str, &str)]| {
        value(&after, metric, labels) - value(&before, metric, labels)
    };
    let http = |method: &str, route: &str, status: &str| {
        delta(
            "mapagov_http_requests_total",
            &[("method", method), ("route", route), ("status", status)],
        )
    };
    assert_eq!(http("POST", "/graphql", "200"), 9.0);
    assert_eq!(http("GET", "/healthz", "200"), 2.0);
    assert_eq!(http("GET", "unmatched", "404"), 1.0);
    assert_eq!(http("GET", "/metrics", "200"), 1.0, "the first scrape");
    assert!(
        label_values(&after, "mapagov_http_requests_total", "route")
            .iter()
            .all(|r| !r.contains("123")),
        "a raw path became a label"
    );

    let ops = |op: &str| delta("mapagov_graphql_operations_total", &[("operation", op)]);
    assert_eq!(ops("SaveDraft"), 4.0);
    assert_eq!(ops("WhoAmI"), 1.0);
    assert_eq!(ops("Anon"), 1.0);
    assert_eq!(ops("Broken"), 1.0);
    assert_eq!(
        ops("anonymous"),
        2.0,
        "the unnamed query and the unparsable one"
    );
    assert_eq!(ops("other"), 1.0, "the malformed operation name");
    assert_eq!(
        delta(
            "mapagov_graphql_operation_duration_seconds",
            &[("operation", "SaveDraft")]
        ),
        4.0
    );

    let errors = |op: &str, code: &str| {
        delta(
            "mapagov_graphql_errors_total",
            &[("operation", op), ("code", code)],
        )
    };
    assert_eq!(errors("Anon", "UNAUTHENTICATED"), 1.0);
    assert_eq!(errors("Broken", "GRAPHQL_VALIDATION_FAILED"), 1.0);
    assert_eq!(errors("anonymous", "GRAPHQL_PARSE_FAILED"), 1.0);
    assert!(
        label_values(&after, "mapagov_graphql_errors_total", "operation")
            .iter()
            .all(|op| op != "SaveDraft" && op != "WhoAmI")
    );

    assert_eq!(
        value(&after, "mapagov_db_pool_max_connections", &[]),
        f64::from(mapagov::config::DEFAULT_POOL_SIZE)
    );
    match backend {
        Backend::Postgres => pg_connections_match_the_pool(&server).await,
        Backend::Sqlite => assert!(
            label_values(&after, "mapagov_pg_connections", "state").is_empty(),
            "no pg_stat_activity on SQLite"
        ),
    }
}

/// `mapagov_pg_connections` counts the connections `pg_stat_activity` shows for this server;
/// they are the pool's (the harness's own short-lived connections close shortly after use).
async fn pg_connections_match_the_pool(server: &TestServer) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let samples: Vec<Sample> = scrape(server.http(), &server.base).await;
        assert_eq!(value(&samples, "mapagov_pg_stat_activity_up", &[]), 1.0);
        let seen: f64 = label_values(&samples, "mapagov_pg_connections", "state")
            .iter()
            .map(|state| value(&samples, "mapagov_pg_connections", &[("state", state)]))
            .sum();
        let pool = value(
            &samples,
            "mapagov_db_pool_connections",
            &[("state", "idle")],
        ) + value(
            &samples,
            "mapagov_db_pool_connections",
            &[("state", "in_use")],
        );
        let active = value(&samples, "mapagov_pg_connections", &[("state", "active")]);
        if seen == pool && active >= 1.0 {
            assert!(pool >= 1.0);
            return;
        }
        assert!(
            Instant::now() < deadline,
            "pg_stat_activity shows {seen} connections (active {active}), the pool has {pool}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn operation_names_are_bounded(backend: Backend) {
    let server = TestServer::start(backend).await;
    let before = scrape(server.http(), &server.base).await;
    let names = MAX_DISTINCT_NAMES + 5;
    for i in 0..names {
        let body = post(
            &server,
            true,
            json!({"query": format!("query Op{i} {{ me {{ username }} }}")}),
        )
        .await;
        assert!(body.get("errors").is_none(), "{body:#}");
    }
    let after = scrape(server.http(), &server.base).await;
    let labels = label_values(&after, "mapagov_graphql_operations_total", "operation");
    let kept: Vec<&String> = labels.iter().filter(|l| l.starts_with("Op")).collect();
    assert_eq!(kept.len(), MAX_DISTINCT_NAMES);
    let other = value(
        &after,
        "mapagov_graphql_operations_total",
        &[("operation", "other")],
    ) - value(
        &before,
        "mapagov_graphql_operations_total",
        &[("operation", "other")],
    );
    assert_eq!(other, (names - MAX_DISTINCT_NAMES) as f64);
}
