//! `popChanged` over a real WebSocket (`graphql-transport-ws`) and over Server-Sent Events
//! against the real server, on both backends: every write in order and without gaps, replay with
//! `afterSequence`, the token and the POP re-checked, limits, keep-alives and metrics.
#![allow(clippy::unwrap_used)]

mod common;

use common::prom;
use common::sse;
use common::ws::{self, Received};
use common::{Backend, Client, TestServer};
use serde_json::{json, Value};
use std::time::Duration;

/// Creates a POP for `client`; returns its id and sequence.
async fn create_pop(client: &Client) -> (String, i64) {
    let data = client
        .data(
            "mutation($input: AutosavePopInput!) { autosavePop(input: $input) { \
             autosaveSequence pop { id } } }",
            json!({"input": {"sessionId": "live-1", "content": {"nomeProcesso": "Início"}}}),
        )
        .await;
    let payload = &data["autosavePop"];
    (
        payload["pop"]["id"].as_str().unwrap().to_owned(),
        payload["autosaveSequence"].as_i64().unwrap(),
    )
}

/// Autosaves `content` into `pop`; returns the new sequence and hash.
async fn save(client: &Client, pop: &str, content: Value) -> (i64, String) {
    let data = client
        .data(
            "mutation($input: AutosavePopInput!) { autosavePop(input: $input) { \
             autosaveSequence integrityHash } }",
            json!({"input": {"sessionId": "live-1", "popId": pop, "content": content}}),
        )
        .await;
    let payload = &data["autosavePop"];
    (
        payload["autosaveSequence"].as_i64().unwrap(),
        payload["integrityHash"].as_str().unwrap().to_owned(),
    )
}

async fn every_write_reaches_the_subscriber_in_order(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (pop, created) = create_pop(&server).await;
    let token = server.token.clone().unwrap();
    let mut ws = ws::connect_ok(&server.base, &token).await;
    ws.subscribe("1", &pop, Some(created)).await;
    // A second subscriber, without afterSequence: it gets what comes from now on.
    let mut other = ws::connect_ok(&server.base, &token).await;
    other.subscribe("a", &pop, None).await;
    // Both subscriptions are open once the server has registered them.
    wait_for_open_subscriptions(&server, 2).await;

    let mut expected = Vec::new();
    for i in 0..5 {
        let content = if i % 2 == 0 {
            json!({"nomeProcesso": format!("Nome {i}")})
        } else {
            json!({"etapas": [{"descricao": format!("Etapa {i}")}], "area": {"codigo": format!("A{i}")}, "nomeProcesso": format!("Nome {i}")})
        };
        expected.push(save(&server, &pop, content).await);
    }
    let staff = server.staff().await;
    let status = staff
        .data(
            "mutation($id: ID!) { changePopStatus(popId: $id, status: IN_REVIEW) { \
             pop { autosaveSequence integrityHash } } }",
            json!({"id": pop}),
        )
        .await;
    let reviewed = &status["changePopStatus"]["pop"];
    expected.push((
        reviewed["autosaveSequence"].as_i64().unwrap(),
        reviewed["integrityHash"].as_str().unwrap().to_owned(),
    ));
    let deleted = server
        .data(
            "mutation($id: ID!) { deletePop(popId: $id) { autosaveSequence integrityHash } }",
            json!({"id": pop}),
        )
        .await;
    expected.push((
        deleted["deletePop"]["autosaveSequence"].as_i64().unwrap(),
        deleted["deletePop"]["integrityHash"]
            .as_str()
            .unwrap()
            .to_owned(),
    ));

    for (client, id) in [(&mut ws, "1"), (&mut other, "a")] {
        let mut events = Vec::new();
        for _ in 0..expected.len() {
            events.push(client.event(id).await);
        }
        let got: Vec<(i64, String)> = events
            .iter()
            .map(|e| {
                (
                    e["sequence"].as_i64().unwrap(),
                    e["integrityHash"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(got, expected, "every write, in order, with its hash");
        assert!(events
            .iter()
            .all(|e| e["kind"] == "CHANGE" && e["popId"] == pop));
        assert_eq!(events[0]["action"], "AUTOSAVE");
        assert_eq!(events[0]["actor"]["username"], "tester");
        assert_eq!(events[0]["changedPaths"], json!(["/nome_processo"]));
        assert_eq!(
            events[1]["changedPaths"],
            json!(["/area/codigo", "/etapas", "/nome_processo"]),
            "{:#}",
            events[1]
        );
        assert_eq!(events[5]["action"], "STATUS");
        assert_eq!(events[5]["actor"]["username"], "staff");
        assert_eq!(events[5]["changedPaths"], json!(["/status"]));
        assert_eq!(events[6]["action"], "DELETE");
        assert!(events[6]["createdAt"].is_string());
        client.assert_silent(Duration::from_millis(300)).await;
    }

    let samples = prom::scrape(server.http(), &server.base).await;
    assert_eq!(
        prom::value(&samples, "mapagov_subscriptions_open", &[]),
        2.0
    );
    assert_eq!(
        prom::value(&samples, "mapagov_subscription_events_total", &[]),
        (2 * expected.len()) as f64
    );
    // Completing a subscription closes it.
    ws.send(json!({"id": "1", "type": "complete"})).await;
    wait_for_open_subscriptions(&server, 1).await;
}

/// Waits until `/metrics` shows `open` subscriptions.
async fn wait_for_open_subscriptions(server: &TestServer, open: usize) {
    for _ in 0..100 {
        let samples = prom::scrape(server.http(), &server.base).await;
        if prom::value(&samples, "mapagov_subscriptions_open", &[]) == open as f64 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never saw {open} open subscriptions");
}

async fn after_sequence_replays_what_the_subscriber_missed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (pop, created) = create_pop(&server).await;
    let mut saved = Vec::new();
    for i in 0..4 {
        saved.push(save(&server, &pop, json!({"nomeProcesso": format!("v{i}")})).await);
    }
    let token = server.token.clone().unwrap();
    let mut ws = ws::connect_ok(&server.base, &token).await;

    // Missed sequences 3 and 4 and 5: replayed, then live.
    ws.subscribe("r", &pop, Some(created + 1)).await;
    for (sequence, hash) in &saved[1..] {
        let event = ws.event("r").await;
        assert_eq!(event["kind"], "CHANGE");
        assert_eq!(event["sequence"], *sequence);
        assert_eq!(event["integrityHash"], *hash);
    }
    let live = save(&server, &pop, json!({"nomeProcesso": "live"})).await;
    let event = ws.event("r").await;
    assert_eq!(event["sequence"], live.0);

    // From before the creation: the creation is not an event, so a resync at the current state,
    // then live events.
    ws.subscribe("z", &pop, Some(0)).await;
    let resync = ws.event("z").await;
    assert_eq!(resync["kind"], "RESYNC");
    assert_eq!(resync["sequence"], live.0);
    assert_eq!(resync["integrityHash"], live.1);
    assert!(resync["action"].is_null() && resync["actor"].is_null());
    let next = save(&server, &pop, json!({"nomeProcesso": "after resync"})).await;
    // Both subscriptions get it, in either order.
    let mut seen = [ws.message().await, ws.message().await];
    seen.sort_by_key(|m| m["id"].as_str().unwrap().to_owned());
    for (message, id) in seen.iter().zip(["r", "z"]) {
        assert_eq!(message["id"], id);
        assert_eq!(message["payload"]["data"]["popChanged"]["sequence"], next.0);
    }

    // Ahead of the POP, or negative: a clear error.
    ws.subscribe("bad", &pop, Some(next.0 + 1)).await;
    let message = ws.message().await;
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
}

async fn the_token_and_the_pop_are_checked_and_rechecked(backend: Backend) {
    let server = TestServer::start_with(backend, &[("SUBSCRIPTION_RECHECK", "1")]).await;
    let (pop, _) = create_pop(&server).await;

    // No token, or a wrong one: the connection is closed with 4403.
    for token in [None, Some("not-a-token")] {
        let (_, first) = ws::connect(&server.base, token).await;
        match first {
            Received::Closed(code, _) => assert_eq!(code, 4403, "token {token:?}"),
            other => panic!("expected a close, got {other:?}"),
        }
    }

    // Someone who may not read the POP is told it does not exist.
    let stranger = server.user("stranger", false, None).await;
    let mut ws = ws::connect_ok(&server.base, stranger.token.as_deref().unwrap()).await;
    ws.subscribe("s", &pop, None).await;
    assert_eq!(ws.ending_error("s").await, "NOT_FOUND");

    // A token revoked while subscribed ends the subscription (at the next re-check).
    let second = server.user("second", true, None).await;
    let mut ws = ws::connect_ok(&server.base, second.token.as_deref().unwrap()).await;
    ws.subscribe("t", &pop, None).await;
    wait_for_open_subscriptions(&server, 1).await;
    second.data("mutation { logout }", json!({})).await;
    assert_eq!(ws.ending_error("t").await, "UNAUTHENTICATED");
    // And a new subscription on that connection is refused too.
    ws.subscribe("u", &pop, None).await;
    assert_eq!(ws.ending_error("u").await, "UNAUTHENTICATED");
}

async fn subscriptions_are_limited_per_connection_and_per_user(backend: Backend) {
    let server = TestServer::start_with(
        backend,
        &[
            ("SUBSCRIPTIONS_PER_CONNECTION", "2"),
            ("SUBSCRIPTIONS_PER_USER", "3"),
            ("SUBSCRIPTION_KEEPALIVE", "1"),
        ],
    )
    .await;
    let (pop, _) = create_pop(&server).await;
    let token = server.token.clone().unwrap();
    let mut first = ws::connect_ok(&server.base, &token).await;
    first.subscribe("1", &pop, None).await;
    first.subscribe("2", &pop, None).await;
    wait_for_open_subscriptions(&server, 2).await;
    first.subscribe("3", &pop, None).await;
    assert_eq!(first.ending_error("3").await, "TOO_MANY_SUBSCRIPTIONS");
    let mut second = ws::connect_ok(&server.base, &token).await;
    second.subscribe("1", &pop, None).await;
    wait_for_open_subscriptions(&server, 3).await;
    second.subscribe("2", &pop, None).await;
    assert_eq!(second.ending_error("2").await, "TOO_MANY_SUBSCRIPTIONS");
    // Closing a subscription gives its place back.
    first.send(json!({"id": "1", "type": "complete"})).await;
    assert_eq!(first.message().await["type"], "complete");
    wait_for_open_subscriptions(&server, 2).await;
    second.subscribe("4", &pop, None).await;
    wait_for_open_subscriptions(&server, 3).await;
    // Keep-alives: the server pings an idle connection.
    first.assert_silent(Duration::from_millis(2500)).await;
    assert!(first.pings >= 1, "no keep-alive ping in 2.5 s");
}

/// A query or mutation sent over the socket is bounded by `REQUEST_TIMEOUT` as over HTTP: a
/// deletion stuck behind the database's write lock answers `TIMEOUT`. Both are counted in the
/// operation metrics, as HTTP operations are.
async fn operations_on_the_socket_are_bounded_by_the_request_timeout(backend: Backend) {
    let server = TestServer::start_with(
        backend,
        &[("REQUEST_TIMEOUT", "1"), ("DB_POOL_TIMEOUT", "8")],
    )
    .await;
    let (pop, _) = create_pop(&server).await;
    let token = server.token.clone().unwrap();
    let mut socket = ws::connect_ok(&server.base, &token).await;
    let held = common::write_lock::WriteLock::take(&server.database_url).await;
    let started = std::time::Instant::now();
    socket
        .send(json!({"id": "m", "type": "subscribe", "payload": {
            "query": "mutation SocketDelete($id: ID!) { deletePop(popId: $id) { id } }",
            "variables": {"id": pop}}}))
        .await;
    let message = socket.message().await;
    let waited = started.elapsed();
    held.release().await;
    assert_eq!(message["type"], "next", "{message:#}");
    let error = &message["payload"]["errors"][0];
    assert_eq!(error["extensions"]["code"], "TIMEOUT", "{message:#}");
    assert_eq!(
        error["extensions"]["writeOutcome"], "UNKNOWN",
        "{message:#}"
    );
    // On PostgreSQL the wait for the lock is cut at the deadline. On SQLite the writer's wait for
    // its turn ends only at `DB_POOL_TIMEOUT` (as over HTTP); the answer is still `TIMEOUT`.
    if matches!(backend, Backend::Postgres) {
        assert!(waited < Duration::from_secs(5), "answered after {waited:?}");
    }
    // Counted in the operation metrics as over HTTP, with its error code; a query too.
    socket
        .send(json!({"id": "q", "type": "subscribe", "payload": {
            "query": "query SocketRead { me { username } }"}}))
        .await;
    let complete = socket.message().await;
    assert_eq!(
        (&complete["id"], &complete["type"]),
        (&json!("m"), &json!("complete"))
    );
    let read = socket.message().await;
    assert_eq!(
        (&read["id"], &read["type"]),
        (&json!("q"), &json!("next")),
        "{read:#}"
    );
    let samples = prom::scrape(server.http(), &server.base).await;
    let count = |name: &str, labels: &[(&str, &str)]| prom::value(&samples, name, labels);
    let operations = "mapagov_graphql_operations_total";
    assert_eq!(count(operations, &[("operation", "SocketDelete")]), 1.0);
    assert_eq!(count(operations, &[("operation", "SocketRead")]), 1.0);
    let errors = [("operation", "SocketDelete"), ("code", "TIMEOUT")];
    assert_eq!(count("mapagov_graphql_errors_total", &errors), 1.0);

    assert_eq!(socket.message().await["type"], "complete", "the query's");

    // An error async-graphql raises without a code while executing (here a required variable
    // the request does not send) gets the code HTTP would give it, on the socket and in the
    // metrics.
    socket
        .send(json!({"id": "u", "type": "subscribe", "payload": {
            "query": "query SocketUnsent($id: ID!) { pop(id: $id) { id } }"}}))
        .await;
    let unsent = socket.message().await;
    assert_eq!(
        unsent["payload"]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{unsent:#}"
    );
    assert_eq!(socket.message().await["type"], "complete", "{unsent:#}");
    let samples = prom::scrape(server.http(), &server.base).await;
    let coded = [("operation", "SocketUnsent"), ("code", "BAD_USER_INPUT")];
    assert_eq!(
        prom::value(&samples, "mapagov_graphql_errors_total", &coded),
        1.0
    );

    // A subscription is not an operation to count, and neither are its events.
    let (followed, _) = create_pop(&server).await;
    socket
        .send(json!({"id": "s", "type": "subscribe", "payload": {
            "query": "subscription SocketFollow($p: ID!) { popChanged(popId: $p) { sequence } }",
            "variables": {"p": followed}}}))
        .await;
    wait_for_open_subscriptions(&server, 1).await;
    for i in 0..2 {
        save(
            &server,
            &followed,
            json!({"nomeProcesso": format!("seguir {i}")}),
        )
        .await;
        assert_eq!(socket.event("s").await["sequence"].as_i64(), Some(2 + i));
    }
    let samples = prom::scrape(server.http(), &server.base).await;
    let follow = [("operation", "SocketFollow")];
    assert_eq!(prom::value(&samples, operations, &follow), 0.0);
}

/// The same events over Server-Sent Events: a `POST` that prefers `text/event-stream` gets every
/// write in order (replayed from `afterSequence`), keep-alive comments, one `complete` after a
/// query's result, the usual error codes in a `next` event, and a batch refused before a stream
/// starts. The subscription counts as one, and is given back when the client goes away.
async fn events_also_stream_over_server_sent_events(backend: Backend) {
    let server = TestServer::start_with(backend, &[("SUBSCRIPTION_KEEPALIVE", "1")]).await;
    let (pop, created) = create_pop(&server).await;
    let token = server.token.clone().unwrap();
    let missed = save(&server, &pop, json!({"nomeProcesso": "antes"})).await;
    let mut stream = sse::subscribe(&server.base, &token, &pop, Some(created)).await;
    assert_eq!(stream.headers()["x-accel-buffering"], "no");
    assert_eq!(stream.headers()["cache-control"], "no-cache");
    wait_for_open_subscriptions(&server, 1).await;
    let mut expected = vec![missed];
    for i in 0..3 {
        expected.push(save(&server, &pop, json!({"nomeProcesso": format!("SSE {i}")})).await);
    }
    let mut got = Vec::new();
    for _ in 0..expected.len() {
        let event = stream.event().await;
        assert_eq!(event["kind"], "CHANGE");
        assert_eq!(event["actor"]["username"], "tester");
        got.push((
            event["sequence"].as_i64().unwrap(),
            event["integrityHash"].as_str().unwrap().to_owned(),
        ));
    }
    assert_eq!(
        got, expected,
        "the missed write, then every write, in order"
    );
    stream.assert_silent(Duration::from_millis(2500)).await;
    assert!(stream.comments >= 1, "no keep-alive comment in 2.5 s");
    drop(stream);
    wait_for_open_subscriptions(&server, 0).await;

    // A subscription by GET, for tools that cannot POST (a mutation by GET is refused).
    let get = |query: &str| {
        let variables = json!({"popId": pop, "after": expected[3].0}).to_string();
        server
            .http()
            .get(server.url("/graphql"))
            .query(&[("query", query), ("variables", variables.as_str())])
            .header("accept", "text/event-stream")
            .bearer_auth(&token)
            .send()
    };
    let mut by_get = sse::SseClient::from(get(ws::POP_CHANGED).await.unwrap());
    wait_for_open_subscriptions(&server, 1).await;
    let later = save(&server, &pop, json!({"nomeProcesso": "por GET"})).await;
    let event = by_get.event().await;
    assert_eq!(event["sequence"], later.0, "{event:#}");
    drop(by_get);
    let deletion = "mutation($popId: ID!) { deletePop(popId: $popId) { id } }";
    let mut mutation = sse::SseClient::from(get(deletion).await.unwrap());
    let refused = mutation.next().await.unwrap();
    let code = &refused.data["errors"][0]["extensions"]["code"];
    assert_eq!(code, "METHOD_NOT_ALLOWED", "{refused:?}");

    // A query: one result, then `complete`, then the stream ends; it is counted as over HTTP.
    let mut query = sse::open(
        &server.base,
        Some(&token),
        json!({"query": "query Streamed($id: ID!) { pop(id: $id) { autosaveSequence } }",
            "operationName": "Streamed", "variables": {"id": pop}}),
    )
    .await;
    let result = query.next().await.unwrap();
    assert_eq!(result.event, "next");
    let answer = json!({"data": {"pop": {"autosaveSequence": later.0}}});
    assert_eq!(result.data, answer);
    let complete = query.next().await.unwrap();
    assert_eq!(complete.event, "complete");
    assert_eq!(complete.data, Value::Null);
    assert_eq!(query.next().await, None);
    let samples = prom::scrape(server.http(), &server.base).await;
    let counted = [("operation", "Streamed")];
    let streamed = prom::value(&samples, "mapagov_graphql_operations_total", &counted);
    assert_eq!(streamed, 1.0);
    // Timed as it ran (a streamed operation has no request around it to time).
    let durations = "mapagov_graphql_operation_duration_seconds";
    assert_eq!(prom::at_most(&samples, durations, &counted, 5.0), 1.0);

    // Without a token, with a bad one (told so, as over HTTP), and with a document that does not
    // validate: coded errors, then complete.
    let invalid = "GRAPHQL_VALIDATION_FAILED";
    for (token, query, code) in [
        (None, ws::POP_CHANGED, "UNAUTHENTICATED"),
        (Some("not-a-token"), ws::POP_CHANGED, "UNAUTHENTICATED"),
        (Some(token.as_str()), "subscription { nope }", invalid),
    ] {
        let variables = json!({"popId": pop});
        let body = json!({"query": query, "variables": variables});
        let mut refused = sse::open(&server.base, token, body).await;
        let challenged = refused.headers().get("www-authenticate").is_some();
        assert_eq!(challenged, token == Some("not-a-token"), "{token:?}");
        let result = refused.next().await.unwrap();
        let got = &result.data["errors"][0]["extensions"]["code"];
        assert_eq!(got, code, "{result:?}");
        assert_eq!(refused.next().await.unwrap().event, "complete");
    }

    // A batch cannot be one stream: refused before any stream starts.
    let batch = server
        .http()
        .post(server.url("/graphql"))
        .header("accept", "text/event-stream")
        .bearer_auth(&token)
        .json(&json!([{"query": "{ __typename }"}, {"query": "{ __typename }"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(batch.status(), 400);
    let body: Value = batch.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_REQUEST");
}

both_backends!(
    events_also_stream_over_server_sent_events,
    every_write_reaches_the_subscriber_in_order,
    after_sequence_replays_what_the_subscriber_missed,
    the_token_and_the_pop_are_checked_and_rechecked,
    subscriptions_are_limited_per_connection_and_per_user,
    operations_on_the_socket_are_bounded_by_the_request_timeout,
);
