//! Two people (or two tabs) on one POP, over HTTP on both backends: idempotent retries that never
//! look like conflicts (in parallel, and after a `TIMEOUT` whose write was kept), nothing unseen
//! published (`expectedHash` on status changes, `REQUIRE_EXPECTED_HASH`), explicit creation
//! (`createPop`, `POP_ID_REQUIRED`) and history since a sequence.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::pops::{
    autosave_doc, autosave_error, change_status, create, history, pop, restore_doc, save, state,
    HISTORY_FIELDS, POP_FIELDS,
};
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

const STATUS: &str = "mutation($id: ID!, $status: PopStatus!, $hash: String) { \
    changePopStatus(popId: $id, status: $status, expectedHash: $hash) { pop { status \
    integrityHash versao } } }";

const DELETE_SEEN: &str = "mutation($id: ID!, $hash: String) { deletePop(popId: $id, \
    expectedHash: $hash) { id deletedAt } }";

fn create_doc() -> String {
    format!(
        "mutation($input: CreatePopInput!) {{ createPop(input: $input) {{ changed integrityHash \
         autosaveSequence pop {{ ...PopFields }} }} }} {POP_FIELDS}"
    )
}

/// A reviewer publishes only the version they reviewed: an autosave after they loaded it makes the
/// publish a `CONFLICT` carrying who changed it, and nothing moves; with the current hash it goes.
async fn nothing_unseen_is_published(backend: Backend) {
    let server = TestServer::start(backend).await;
    let reviewer = server.staff().await.clone();
    let created = create(&server, "s", json!({"nomeProcesso": "A"})).await;
    let id = created["id"].clone();
    let review = change_status(&server, &id, "IN_REVIEW", None).await;
    let seen = review["pop"]["integrityHash"].clone();
    let unseen = save(
        &server,
        &review["pop"],
        json!({"nomeProcesso": "texto novo"}),
    )
    .await;
    let before = state(&server, &id).await;
    let err = reviewer
        .error(
            STATUS,
            json!({"id": id, "status": "PUBLISHED", "hash": seen}),
        )
        .await;
    assert_eq!(err["extensions"]["code"], "CONFLICT", "{err:#}");
    assert_eq!(err["extensions"]["currentHash"], unseen["integrityHash"]);
    assert_eq!(err["extensions"]["autosaveSequence"], 3);
    assert_eq!(err["extensions"]["changedBy"], "tester");
    assert_eq!(state(&server, &id).await, before, "nothing moved");
    let published = reviewer
        .data(
            STATUS,
            json!({"id": id, "status": "PUBLISHED", "hash": unseen["integrityHash"]}),
        )
        .await;
    assert_eq!(published["changePopStatus"]["pop"]["status"], "PUBLISHED");
    assert_eq!(published["changePopStatus"]["pop"]["versao"], 2);
    // Archiving checks the hash too.
    let err = reviewer
        .error(
            STATUS,
            json!({"id": id, "status": "ARCHIVED", "hash": seen}),
        )
        .await;
    assert_eq!(err["extensions"]["code"], "CONFLICT");
    assert_eq!(err["extensions"]["changedBy"], "staff");
}

/// With `REQUIRE_EXPECTED_HASH=true` every write to an existing POP without `expectedHash` is
/// `EXPECTED_HASH_REQUIRED` and writes nothing; creating needs none, and with the hash all pass.
async fn the_expected_hash_can_be_made_mandatory(backend: Backend) {
    let server = TestServer::start_with(backend, &[("REQUIRE_EXPECTED_HASH", "true")]).await;
    let created = create(&server, "s", json!({"nomeProcesso": "A"})).await;
    let id = created["id"].clone();
    let snapshot = common::pops::backup(&server, "s", None).await.remove(0);
    let before = state(&server, &id).await;
    let refused = [
        (
            autosave_doc(),
            json!({"input": {"popId": id, "sessionId": "s", "content": {"nomeProcesso": "B"}}}),
            "input.expectedHash",
        ),
        (
            autosave_doc(),
            json!({"input": {"sessionId": "s", "content": {"nomeProcesso": "B"}}}),
            "input.expectedHash",
        ),
        (restore_doc(), json!({"id": snapshot["id"]}), "expectedHash"),
        (
            STATUS.to_owned(),
            json!({"id": id, "status": "IN_REVIEW"}),
            "expectedHash",
        ),
        (DELETE_SEEN.to_owned(), json!({"id": id}), "expectedHash"),
    ];
    for (doc, variables, field) in refused {
        let err = server.error(&doc, variables).await;
        assert_eq!(
            err["extensions"]["code"], "EXPECTED_HASH_REQUIRED",
            "{err:#}"
        );
        assert_eq!(err["extensions"]["field"], field);
        assert_eq!(state(&server, &id).await, before);
    }
    let saved = save(&server, &created, json!({"nomeProcesso": "B"})).await;
    let moved = server
        .data(
            STATUS,
            json!({"id": id, "status": "IN_REVIEW", "hash": saved["integrityHash"]}),
        )
        .await;
    let hash = moved["changePopStatus"]["pop"]["integrityHash"].clone();
    let deleted = server
        .data(DELETE_SEEN, json!({"id": id, "hash": hash}))
        .await;
    assert!(deleted["deletePop"]["deletedAt"].is_string());
}

/// `createPop` starts a second POP in a session without touching the first; afterwards an
/// autosave without `popId` is `POP_ID_REQUIRED` (it never picks one silently), and ten parallel
/// copies of one keyed `createPop` create one POP.
async fn creating_is_explicit(backend: Backend) {
    let server = Arc::new(TestServer::start(backend).await);
    let first = create(&server, "s", json!({"nomeProcesso": "Primeiro"})).await;
    let before = state(&server, &first["id"]).await;
    let input = json!({"sessionId": "s", "idempotencyKey": "novo-1",
                       "content": {"nomeProcesso": "Segundo"}});
    let bodies = in_parallel(&server, &create_doc(), json!({"input": input}), 10).await;
    let second = bodies[0]["data"]["createPop"].clone();
    for body in &bodies {
        assert!(body.get("errors").is_none(), "{body:#}");
        assert_eq!(body["data"]["createPop"], second);
    }
    assert_ne!(second["pop"]["id"], first["id"]);
    assert_eq!(second["autosaveSequence"], 1);
    assert_eq!(second["pop"]["sessionId"], "s");
    assert_eq!(second["pop"]["nomeProcesso"], "Segundo");
    let log = history(&server, &second["pop"]["id"]).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["action"], "CREATE");
    assert_eq!(state(&server, &first["id"]).await["pop"], before["pop"]);
    let count = server
        .data("{ pops(sessionId: \"s\") { totalCount } }", json!({}))
        .await;
    assert_eq!(count["pops"]["totalCount"], 2);

    let err = autosave_error(
        &server,
        json!({"sessionId": "s", "content": {"nomeProcesso": "qual?"}}),
    )
    .await;
    assert_eq!(err["extensions"]["code"], "POP_ID_REQUIRED");
    // The same key for an autosave is another request.
    let err = autosave_error(
        &server,
        json!({"sessionId": "s", "idempotencyKey": "novo-1", "content": {"nomeProcesso": "Segundo"}}),
    )
    .await;
    assert_eq!(err["extensions"]["code"], "IDEMPOTENCY_KEY_REUSED");
    // With popId each POP is saved on its own.
    let saved = save(&server, &second["pop"], json!({"pontosAtencao": "x"})).await;
    assert_eq!(saved["pop"]["id"], second["pop"]["id"]);
    assert_eq!(state(&server, &first["id"]).await["pop"], before["pop"]);

    // A POP created empty still has its creation in the history.
    let empty = server
        .data(&create_doc(), json!({"input": {"sessionId": "vazio"}}))
        .await["createPop"]
        .clone();
    let log = history(&server, &empty["pop"]["id"]).await;
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(
        (
            &log[0]["action"],
            &log[0]["field"],
            &log[0]["oldValue"],
            &log[0]["newValue"]
        ),
        (
            &json!("CREATE"),
            &json!("status"),
            &Value::Null,
            &json!("draft")
        )
    );
}

fn history_doc(args: &str) -> String {
    format!(
        "query($id: ID!) {{ popHistory(popId: $id, {args}) {{ totalCount \
         pageInfo {{ hasNextPage hasPreviousPage }} nodes {{ ...HistoryFields }} }} }} \
         {HISTORY_FIELDS}"
    )
}

/// A client holding sequence N catches up in one request: `sinceSequence: N` gives exactly the
/// entries of later writes (newest first), `action` narrows them, and `last`/`before` page from
/// the oldest; a negative sequence is `BAD_USER_INPUT`.
async fn history_since_a_sequence(backend: Backend) {
    let server = TestServer::start(backend).await;
    let created = create(&server, "s", json!({"nomeProcesso": "A"})).await;
    let id = created["id"].clone();
    let mut current = created.clone();
    for i in 0..4 {
        current =
            save(&server, &current, json!({"pontosAtencao": format!("v{i}")})).await["pop"].clone();
    }
    change_status(&server, &id, "IN_REVIEW", None).await;
    let all = history(&server, &id).await;
    let data = server
        .data(
            &history_doc("sinceSequence: 3, first: 100"),
            json!({"id": id}),
        )
        .await;
    let since = &data["popHistory"];
    let expected: Vec<Value> = all
        .iter()
        .filter(|e| e["autosaveSequence"].as_i64().unwrap() > 3)
        .cloned()
        .collect();
    assert_eq!(since["nodes"].as_array().unwrap(), &expected);
    assert_eq!(
        since["totalCount"], 3,
        "saves 4 and 5, then the status change"
    );
    let saves = server
        .data(
            &history_doc("sinceSequence: 3, action: AUTOSAVE"),
            json!({"id": id}),
        )
        .await;
    let nodes = saves["popHistory"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    assert!(nodes.iter().all(|e| e["action"] == "AUTOSAVE"));
    let two = server
        .data(
            &history_doc("action: [CREATE, STATUS], last: 1"),
            json!({"id": id}),
        )
        .await;
    let page = &two["popHistory"];
    assert_eq!(
        page["nodes"][0]["action"], "CREATE",
        "the oldest first with last"
    );
    assert_eq!(page["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(page["totalCount"], 2);
    let err = server
        .error(&history_doc("sinceSequence: -1"), json!({"id": id}))
        .await;
    assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(err["extensions"]["field"], "sinceSequence");
}

both_backends!(
    ten_parallel_copies_of_a_keyed_autosave_get_the_first_result,
    a_retry_after_a_timeout_replays_the_write_that_was_kept,
    nothing_unseen_is_published,
    the_expected_hash_can_be_made_mandatory,
    creating_is_explicit,
    history_since_a_sequence,
);
