//! Two people (or two tabs) on one POP, over HTTP on both backends: idempotent retries that never
//! look like conflicts (in parallel, and after a `TIMEOUT` whose write was kept).
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::pops::{autosave_doc, create, history, pop, state};
use common::write_lock::WriteLock;
use common::{Backend, TestServer};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sends the same request `n` times at once; returns every response body.
async fn in_parallel(
    server: &Arc<TestServer>,
    doc: &str,
    variables: Value,
    n: usize,
) -> Vec<Value> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (server, doc, variables) = (server.clone(), doc.to_owned(), variables.clone());
            tokio::spawn(async move { server.gql(&doc, variables).await })
        })
        .collect();
    let mut bodies = Vec::new();
    for task in tasks {
        bodies.push(task.await.unwrap());
    }
    bodies
}

/// Ten copies of one keyed autosave carrying `expectedHash`, sent at once (a client retrying
/// while its first attempt still runs): every copy gets the first result, none a `CONFLICT`
/// against its own write, and the POP is written once.
async fn ten_parallel_copies_of_a_keyed_autosave_get_the_first_result(backend: Backend) {
    let server = Arc::new(TestServer::start(backend).await);
    let created = create(&server, "s", json!({"pontosAtencao": "inicial"})).await;
    let input = json!({"popId": created["id"], "sessionId": "s", "idempotencyKey": "tentativa-1",
                       "expectedHash": created["integrityHash"],
                       "content": {"pontosAtencao": "uma vez"}});
    let bodies = in_parallel(&server, &autosave_doc(), json!({"input": input}), 10).await;
    let first = bodies[0]["data"]["autosavePop"].clone();
    for body in &bodies {
        assert!(body.get("errors").is_none(), "{body:#}");
        assert_eq!(body["data"]["autosavePop"], first);
    }
    assert_eq!(first["autosaveSequence"], 2);
    assert_eq!(first["pop"]["pontosAtencao"], "uma vez");
    let now = pop(&server, &created["id"]).await;
    assert_eq!(now, first["pop"]);
    assert_eq!(
        history(&server, &created["id"]).await.len(),
        2,
        "create + one save"
    );
}

/// A keyed autosave answered `TIMEOUT` while it waited for the database (its write lock held
/// from outside) is told the outcome is unknown, still saves once the database is free, and its
/// retry with the same key gets that save's result without writing again.
async fn a_retry_after_a_timeout_replays_the_write_that_was_kept(backend: Backend) {
    let server = TestServer::start_with(
        backend,
        &[("REQUEST_TIMEOUT", "1"), ("DB_POOL_TIMEOUT", "20")],
    )
    .await;
    let created = create(&server, "s", json!({"pontosAtencao": "inicial"})).await;
    let id = created["id"].clone();
    let input = json!({"popId": id, "sessionId": "s", "idempotencyKey": "lento",
                       "expectedHash": created["integrityHash"],
                       "content": {"pontosAtencao": "salvo depois"}});

    let lock = WriteLock::take(&server.database_url).await;
    let body = server
        .gql(&autosave_doc(), json!({"input": input.clone()}))
        .await;
    let error = &body["errors"][0];
    assert_eq!(error["extensions"]["code"], "TIMEOUT", "{body:#}");
    assert_eq!(error["extensions"]["writeOutcome"], "UNKNOWN", "{body:#}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("same idempotencyKey"), "{message}");
    assert!(!message.contains("nothing"), "{message}");
    lock.release().await;

    // The write the client gave up on goes through.
    let started = Instant::now();
    let saved = loop {
        let now = pop(&server, &id).await;
        if now["autosaveSequence"] == 2 {
            break now;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the timed-out write was never kept: {now:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(saved["pontosAtencao"], "salvo depois");

    let before = state(&server, &id).await;
    let retry = server.data(&autosave_doc(), json!({"input": input})).await["autosavePop"].clone();
    assert_eq!(retry["autosaveSequence"], 2);
    assert_eq!(retry["pop"], saved);
    assert_eq!(state(&server, &id).await, before, "the retry wrote nothing");
}

both_backends!(
    ten_parallel_copies_of_a_keyed_autosave_get_the_first_result,
    a_retry_after_a_timeout_replays_the_write_that_was_kept,
);
