//! Error reporting: the real binary, with `SENTRY_DSN` pointing at an HTTP endpoint this test
//! runs, sends an unexpected error (a row corrupted behind the server's back) to Sentry with its
//! operation name, and nothing of the request body or the bearer token; user errors are not sent;
//! pending events are flushed on shutdown.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Bytes;
use axum::routing::post;
use axum::Router;
use common::binary::{self, Served};
use diesel::{Connection, RunQueryDsl};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// A stand-in for Sentry's ingestion endpoint: keeps every envelope it receives.
async fn sentry_sink() -> (String, Arc<Mutex<Vec<String>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let store = Arc::clone(&received);
    let app = Router::new().route(
        "/api/{project}/envelope/",
        post(move |body: Bytes| {
            let store = Arc::clone(&store);
            async move {
                store
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://0123456789abcdef@{addr}/42"), received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_error_reaches_sentry_without_body_or_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    let database_url = format!("sqlite://{}", path.display());
    binary::run_ok({
        let mut cmd = binary::command(&database_url, dir.path(), &[]);
        cmd.arg("migrate");
        cmd
    });
    let token = binary::create_user(&database_url, dir.path(), "maria");
    let (dsn, received) = sentry_sink().await;
    let served = Served::start(&database_url, dir.path(), &[("SENTRY_DSN", &dsn)]).await;
    let http = reqwest::Client::new();
    let call = async |token: Option<&str>, body: Value| -> Value {
        let mut request = http.post(format!("{}/graphql", served.base)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap().json().await.unwrap()
    };

    let saved = call(
        Some(&token),
        json!({"query": "mutation Save($c: String) { autosavePop(input: {sessionId: \"s\", content: {nomeProcesso: $c}}) { pop { id } } }",
               "variables": {"c": "variable-marker-5d1e"}}),
    )
    .await;
    let id = saved["data"]["autosavePop"]["pop"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Corrupt the row behind the server's back: reading it now fails unexpectedly.
    let mut conn = diesel::sqlite::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    diesel::sql_query("PRAGMA ignore_check_constraints = ON")
        .execute(&mut conn)
        .unwrap();
    let changed = diesel::sql_query("UPDATE pops SET created_at = 'not a time'")
        .execute(&mut conn)
        .unwrap();
    assert_eq!(changed, 1);
    drop(conn);

    let failed = call(
        Some(&token),
        json!({"query": "query ReadPop($id: ID!, $limit: Int) { pop(id: $id) { bodyMarker7f3a: etapas snapshots(first: $limit) { totalCount } } }",
               "variables": {"id": id, "limit": 4242}}),
    )
    .await;
    assert_eq!(
        failed["errors"][0]["extensions"]["code"], "INTERNAL_SERVER_ERROR",
        "{failed:#}"
    );
    // A user error is not an incident.
    let unauthenticated = call(None, json!({"query": "query WhoAmI { me { username } }"})).await;
    assert_eq!(
        unauthenticated["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );

    // Shutdown flushes what is pending.
    let finished = served.terminate();
    assert!(finished.status.success(), "{}", finished.stderr);
    let envelopes = received.lock().unwrap().clone();
    let events: Vec<&String> = envelopes
        .iter()
        .filter(|e| e.contains("\"type\":\"event\""))
        .collect();
    assert_eq!(
        events.len(),
        1,
        "exactly the internal error: {envelopes:#?}"
    );
    let event = events[0];
    assert!(event.contains("\"transaction\":\"ReadPop\""), "{event}");
    assert!(
        event.contains("internal error in operation ReadPop"),
        "{event}"
    );
    assert!(
        !event.contains("WhoAmI"),
        "a user error was reported: {event}"
    );
    for secret in [
        token.as_str(),
        "bodyMarker7f3a",
        "4242",
        "variable-marker-5d1e",
        "Bearer",
        "authorization",
    ] {
        for envelope in &envelopes {
            assert!(
                !envelope.contains(secret),
                "{secret} reached Sentry: {envelope}"
            );
        }
    }
}
