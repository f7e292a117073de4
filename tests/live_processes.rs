//! `popChanged` across processes: two `mapagov serve` processes on one PostgreSQL database. A
//! subscriber connected to one receives, in order and without gaps, every write made through the
//! other, also while the listener's backend is terminated and while PostgreSQL restarts; a
//! client that resubscribes with `afterSequence` loses nothing. Presence beaten through one
//! process is seen through the other. Behind nginx (`deploy/nginx.conf`, round robin), the
//! `graphql-ws` and `graphql-sse` npm clients and the suite's own WebSocket and SSE clients all
//! receive every write, whichever process took it.
#![allow(clippy::unwrap_used)]

mod common;

use common::binary::{self, Served};
use common::nginx::Nginx;
use common::ws::{self, WsClient};
use common::{node, prom, sse};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::{json, Value};
use std::time::Duration;

/// POSTs a GraphQL document to `base` with `token`; returns `data`, which must come without
/// errors.
async fn gql(base: &str, token: &str, query: &str, variables: Value) -> Value {
    let body: Value = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .expect("POST /graphql")
        .json()
        .await
        .expect("JSON");
    assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
    body["data"].clone()
}

const SAVE: &str = "mutation($input: AutosavePopInput!) { autosavePop(input: $input) { \
    autosaveSequence integrityHash pop { id } } }";

/// Autosaves into `pop` (a new one if `None`) through `base`; returns the POP, sequence, hash.
async fn save(base: &str, token: &str, pop: Option<&str>, name: &str) -> (String, i64, String) {
    let data = gql(
        base,
        token,
        SAVE,
        json!({"input": {"sessionId": "procs", "popId": pop,
            "content": {"nomeProcesso": name}}}),
    )
    .await;
    let payload = &data["autosavePop"];
    (
        payload["pop"]["id"].as_str().unwrap().to_owned(),
        payload["autosaveSequence"].as_i64().unwrap(),
        payload["integrityHash"].as_str().unwrap().to_owned(),
    )
}

/// `writers` clients writing `each` autosaves concurrently to `pop` through `base`; returns the
/// sequence → hash of every write.
async fn write_concurrently(
    base: &str,
    token: &str,
    pop: &str,
    writers: usize,
    each: usize,
    tag: &str,
) -> Vec<(i64, String)> {
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (base, token, pop, tag) = (
                base.to_owned(),
                token.to_owned(),
                pop.to_owned(),
                tag.to_owned(),
            );
            tokio::spawn(async move {
                let mut written = Vec::new();
                for i in 0..each {
                    let (_, sequence, hash) =
                        save(&base, &token, Some(&pop), &format!("{tag} {w}-{i}")).await;
                    written.push((sequence, hash));
                }
                written
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("writer"));
    }
    all.sort();
    all
}

/// Reads `expected.len()` events of subscription `id` and checks they are exactly `expected`.
async fn expect_events(client: &mut WsClient, id: &str, expected: &[(i64, String)]) {
    for (sequence, hash) in expected {
        let event = client.event(id).await;
        assert_eq!(event["kind"], "CHANGE", "{event:#}");
        assert_eq!(
            event["sequence"], *sequence,
            "in order, without gaps: {event:#}"
        );
        assert_eq!(event["integrityHash"], *hash, "{event:#}");
    }
}

/// A metric's value on `base`'s `/metrics`.
async fn metric(base: &str, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.trim().parse().ok())
}

/// Terminates the `LISTEN` backends of every server process on the database of `url`.
async fn terminate_listeners(url: &str) -> usize {
    #[derive(diesel::QueryableByName)]
    struct Terminated {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        #[allow(dead_code)]
        terminated: bool,
    }
    let mut conn = AsyncPgConnection::establish(url).await.expect("connect");
    diesel::sql_query(
        "SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity \
         WHERE application_name = 'mapagov-listener' AND datname = current_database()",
    )
    .load::<Terminated>(&mut conn)
    .await
    .expect("terminate the listeners")
    .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_on_one_process_gets_every_write_made_through_another() {
    // A cluster of its own: this test restarts PostgreSQL, which would cut the connections of
    // the other tests of this file running beside it on the shared one.
    let cluster = tokio::task::spawn_blocking(|| {
        let cluster = common::pg_cluster::PgCluster::start(Default::default());
        cluster.create_database("live");
        cluster
    })
    .await
    .expect("a cluster");
    let url = cluster.url("live");
    let dir = tempfile::tempdir().expect("dir");
    // A long re-check: delivery must not depend on polling.
    let settings = [("SUBSCRIPTION_RECHECK", "3600")];
    let a = Served::start(&url, dir.path(), &settings).await;
    let b = Served::start(&url, dir.path(), &settings).await;
    let token = binary::create_user(&url, dir.path(), "editor");
    for base in [&a.base, &b.base] {
        for _ in 0..100 {
            if metric(base, "mapagov_live_listener_up").await == Some(1.0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(metric(base, "mapagov_live_listener_up").await, Some(1.0));
    }

    let (pop, created, _) = save(&b.base, &token, None, "first").await;
    let mut subscriber = ws::connect_ok(&a.base, &token).await;
    subscriber.subscribe("1", &pop, Some(created)).await;

    // Concurrent writers through the other process, and a few through this one.
    let written = write_concurrently(&b.base, &token, &pop, 4, 8, "b").await;
    let mut expected = written.clone();
    expected.extend(write_concurrently(&a.base, &token, &pop, 1, 2, "a").await);
    expected.sort();
    let sequences: Vec<i64> = expected.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        sequences,
        ((created + 1)..=(created + 34)).collect::<Vec<_>>(),
        "every concurrent write got its own sequence"
    );
    expect_events(&mut subscriber, "1", &expected).await;

    // The listener's backend dies; writes go on through B meanwhile. Nothing is lost: A's
    // listener reconnects and its subscribers read what they missed.
    assert_eq!(
        terminate_listeners(&url).await,
        2,
        "one listener per process"
    );
    let during = write_concurrently(&b.base, &token, &pop, 2, 5, "during").await;
    expect_events(&mut subscriber, "1", &during).await;
    let mut reconnected = false;
    for _ in 0..100 {
        if metric(&a.base, "mapagov_live_listener_reconnects_total").await >= Some(1.0) {
            reconnected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reconnected, "the listener reconnected");
    let after = write_concurrently(&b.base, &token, &pop, 2, 3, "after").await;
    expect_events(&mut subscriber, "1", &after).await;

    // A client that goes away and comes back with afterSequence gets exactly what it missed.
    let last_seen = after.last().expect("writes").0;
    drop(subscriber);
    let missed = write_concurrently(&b.base, &token, &pop, 1, 4, "missed").await;
    let mut back = ws::connect_ok(&a.base, &token).await;
    back.subscribe("2", &pop, Some(last_seen)).await;
    expect_events(&mut back, "2", &missed).await;

    // PostgreSQL restarts: the open subscription goes on without a gap.
    // Kept until the servers are stopped below.
    let _cluster = tokio::task::spawn_blocking(move || {
        cluster.restart();
        cluster
    })
    .await
    .expect("restart");
    {
        let mut restarted = Vec::new();
        for i in 0..5 {
            // The first requests after the restart may find dead pooled connections: retried.
            for attempt in 0.. {
                let body: Value = reqwest::Client::new()
                    .post(format!("{}/graphql", b.base))
                    .bearer_auth(&token)
                    // The key makes a retry of a write that did commit answer without writing.
                    .json(
                        &json!({"query": SAVE, "variables": {"input": {"sessionId": "procs",
                        "popId": pop, "idempotencyKey": format!("restart-{i}"),
                        "content": {"nomeProcesso": format!("restart {i}")}}}}),
                    )
                    .send()
                    .await
                    .expect("POST")
                    .json()
                    .await
                    .expect("JSON");
                if body.get("errors").is_none() {
                    let payload = &body["data"]["autosavePop"];
                    restarted.push((
                        payload["autosaveSequence"].as_i64().unwrap(),
                        payload["integrityHash"].as_str().unwrap().to_owned(),
                    ));
                    break;
                }
                assert!(attempt < 50, "writes never recovered: {body:#}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        expect_events(&mut back, "2", &restarted).await;
    }
    back.assert_silent(Duration::from_millis(300)).await;
    for served in [a, b] {
        let finished = served.terminate();
        assert!(finished.status.success(), "{}", finished.stderr);
    }
}

/// Two processes behind nginx, no sticky sessions: writes spread over both; subscribers through
/// nginx (the npm `graphql-ws` and `graphql-sse` clients, and the suite's own WebSocket and
/// event-stream clients) each get every write in order without gaps; keep-alives pass through
/// nginx on an idle stream; an event-stream client that reconnects with `afterSequence` gets
/// exactly what it missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_every_subscriber_gets_every_write_whichever_process_took_it() {
    let url = common::fresh_pg_database().await;
    let dir = tempfile::tempdir().expect("dir");
    let settings = [
        ("SUBSCRIPTION_RECHECK", "3600"),
        ("SUBSCRIPTION_KEEPALIVE", "1"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ];
    let a = Served::start(&url, dir.path(), &settings).await;
    let b = Served::start(&url, dir.path(), &settings).await;
    let nginx = Nginx::start(&[&a.base, &b.base]).await;
    let token = binary::create_user(&url, dir.path(), "editor");
    for base in [&a.base, &b.base] {
        for _ in 0..100 {
            if metric(base, "mapagov_live_listener_up").await == Some(1.0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let (pop, created, _) = save(&nginx.base, &token, None, "balanced").await;
    const WRITES: usize = 24;

    // The npm clients, in a Node process of their own, from the POP's creation on.
    let node_clients = {
        let (base, token, pop) = (nginx.base.clone(), token.clone(), pop.clone());
        tokio::spawn(async move {
            node::run(
                "subscribe.mjs",
                &[
                    &base,
                    &token,
                    &pop,
                    &created.to_string(),
                    &WRITES.to_string(),
                ],
            )
            .await
        })
    };
    let mut socket = ws::connect_ok(&nginx.base, &token).await;
    socket.subscribe("1", &pop, Some(created)).await;
    let mut stream = sse::subscribe(&nginx.base, &token, &pop, Some(created)).await;

    let written = write_concurrently(&nginx.base, &token, &pop, 4, WRITES / 4, "lb").await;
    let sequences: Vec<i64> = written.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        sequences,
        ((created + 1)..=(created + WRITES as i64)).collect::<Vec<_>>()
    );
    for base in [&a.base, &b.base] {
        let samples = prom::scrape(&reqwest::Client::new(), base).await;
        let posts = prom::value(
            &samples,
            "mapagov_http_requests_total",
            &[("method", "POST"), ("route", "/graphql"), ("status", "200")],
        );
        assert!(
            posts >= 5.0,
            "{base} took {posts} of the writes: not balanced"
        );
    }

    expect_events(&mut socket, "1", &written).await;
    for (sequence, hash) in &written {
        let event = stream.event().await;
        assert_eq!(
            (&event["sequence"], &event["integrityHash"]),
            (&json!(sequence), &json!(hash))
        );
    }
    let out = node_clients.await.expect("node task");
    assert!(out.status.success(), "{}", node::text(&out));
    let received: Value = serde_json::from_slice(&out.stdout).expect("JSON line");
    let expected = json!(written);
    assert_eq!(received["ws"], expected, "graphql-ws through nginx");
    assert_eq!(received["sse"], expected, "graphql-sse through nginx");

    // Idle: keep-alive comments come through nginx.
    stream.assert_silent(Duration::from_millis(2500)).await;
    assert!(stream.comments >= 1, "no keep-alive through nginx in 2.5 s");

    // An event-stream client that drops and comes back with afterSequence misses nothing.
    let last = written.last().expect("writes").0;
    drop(stream);
    let missed = write_concurrently(&nginx.base, &token, &pop, 2, 3, "missed").await;
    let mut back = sse::subscribe(&nginx.base, &token, &pop, Some(last)).await;
    for (sequence, hash) in &missed {
        let event = back.event().await;
        assert_eq!(
            (&event["sequence"], &event["integrityHash"]),
            (&json!(sequence), &json!(hash))
        );
    }
    expect_events(&mut socket, "1", &missed).await;
    assert!(
        nginx.error_log().lines().all(|l| !l.contains("[error]")),
        "{}",
        nginx.error_log()
    );
    drop(nginx);
    for served in [a, b] {
        let finished = served.terminate();
        assert!(finished.status.success(), "{}", finished.stderr);
    }
}

/// Presence is kept in the database: tabs beating through either process are seen through both,
/// and a tab that leaves through one is gone from the other at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_the_same_through_every_process() {
    let url = common::fresh_pg_database().await;
    let dir = tempfile::tempdir().expect("dir");
    let a = Served::start(&url, dir.path(), &[]).await;
    let b = Served::start(&url, dir.path(), &[]).await;
    let token = binary::create_user(&url, dir.path(), "editor");
    let (pop, _, _) = save(&a.base, &token, None, "aberto").await;
    let beat = "mutation($p: ID!, $c: String!) { heartbeatPop(popId: $p, clientId: $c) { tabs } }";
    let look = "query($p: ID!) { popEditors(popId: $p) { user { username } tabs } }";
    gql(&a.base, &token, beat, json!({"p": pop, "c": "tab-1"})).await;
    let through_b = gql(&b.base, &token, beat, json!({"p": pop, "c": "tab-2"})).await;
    assert_eq!(through_b["heartbeatPop"], json!([{"tabs": 2}]));
    let through_a = gql(&a.base, &token, look, json!({"p": pop})).await;
    assert_eq!(
        through_a["popEditors"],
        json!([{"user": {"username": "editor"}, "tabs": 2}])
    );
    let leave = "mutation($p: ID!, $c: String!) { leavePop(popId: $p, clientId: $c) }";
    gql(&b.base, &token, leave, json!({"p": pop, "c": "tab-1"})).await;
    let through_a = gql(&a.base, &token, look, json!({"p": pop})).await;
    assert_eq!(through_a["popEditors"][0]["tabs"], 1);
    for served in [a, b] {
        served.terminate();
    }
}
