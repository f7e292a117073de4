//! Graceful shutdown of the real binary: with autosaves in flight, SIGTERM stops accepting, lets
//! the in-flight requests finish, closes the pool and exits 0. Every response a client got is
//! complete, and the database is consistent afterwards: each POP's sequence is at least the last
//! one acknowledged and matches its change log, and `mapagov verify` passes. A burst of requests
//! around the signal, many times over: every request is either answered completely or refused
//! at connect (none reset or cut short). Open subscriptions (an event stream, a WebSocket) do
//! not hold the exit up: their streams end without `complete`, so clients reconnect elsewhere.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::binary::{self, Served};
use common::writers::{self, Tally};
use common::Backend;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

both_backends!(
    sigterm_lets_inflight_autosaves_finish,
    sigterm_answers_every_request_it_accepted,
    open_subscriptions_do_not_hold_the_exit_up
);

const WRITERS: usize = 8;
const SAVE: &str = "mutation($s: String!, $c: String) { autosavePop(input: {sessionId: $s, \
    content: {nomeProcesso: $c}}) { autosaveSequence pop { id } } }";

/// What one writer saw: its POP's id and the last sequence the server acknowledged.
struct Acked {
    pop_id: Option<String>,
    last_sequence: i64,
    responses: usize,
}

/// A fresh database of `backend` migrated by the binary, and a folder for the server's files.
async fn migrated(backend: Backend) -> (String, tempfile::TempDir) {
    let (database_url, sqlite_dir) = common::fresh_database(backend).await;
    let dir = sqlite_dir.unwrap_or_else(|| tempfile::tempdir().unwrap());
    binary::run_ok({
        let mut cmd = binary::command(&database_url, dir.path(), &[]);
        cmd.arg("migrate");
        cmd
    });
    (database_url, dir)
}

async fn sigterm_lets_inflight_autosaves_finish(backend: Backend) {
    let (database_url, dir) = migrated(backend).await;
    let token = binary::create_user(&database_url, dir.path(), "maria");
    let served = Served::start(&database_url, dir.path(), &[]).await;
    let url = format!("{}/graphql", served.base);
    let acked_total = Arc::new(AtomicUsize::new(0));

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (url, token, acked_total) = (url.clone(), token.clone(), Arc::clone(&acked_total));
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut acked = Acked {
                    pop_id: None,
                    last_sequence: 0,
                    responses: 0,
                };
                for n in 1.. {
                    let sent = http
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&json!({"query": SAVE, "variables": {"s": format!("w{w}"), "c": format!("w{w}-{n}")}}))
                        .send()
                        .await;
                    // No response: the server no longer accepts requests.
                    let Ok(resp) = sent else { break };
                    // A response, once started, must be complete and successful.
                    assert_eq!(resp.status(), 200, "writer {w}");
                    let body: Value = resp.json().await.expect("a complete JSON response");
                    assert!(body.get("errors").is_none(), "writer {w}: {body:#}");
                    let saved = &body["data"]["autosavePop"];
                    let sequence = saved["autosaveSequence"].as_i64().unwrap();
                    assert_eq!(sequence, acked.last_sequence + 1, "writer {w}: no gap, no repeat");
                    acked.last_sequence = sequence;
                    acked.pop_id = saved["pop"]["id"].as_str().map(str::to_owned);
                    acked.responses += 1;
                    acked_total.fetch_add(1, Ordering::SeqCst);
                }
                acked
            })
        })
        .collect();

    // Let every writer get going, then ask the server to stop mid-stream.
    while AtomicUsize::load(&acked_total, Ordering::SeqCst) < WRITERS * 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    served.sigterm();
    let acked_at_sigterm = AtomicUsize::load(&acked_total, Ordering::SeqCst);
    let finished = tokio::task::spawn_blocking(move || served.wait())
        .await
        .unwrap();
    assert!(
        finished.status.success(),
        "exit status {:?}: {}",
        finished.status,
        finished.stderr
    );
    assert_eq!(finished.status.code(), Some(0));
    assert!(
        finished.stderr.contains("shutting down"),
        "{}",
        finished.stderr
    );

    let mut acked = Vec::new();
    for writer in writers {
        acked.push(
            tokio::time::timeout(Duration::from_secs(30), writer)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    assert!(acked.iter().all(|a| a.responses >= 1));
    assert!(
        AtomicUsize::load(&acked_total, Ordering::SeqCst) > acked_at_sigterm,
        "requests in flight at SIGTERM were answered"
    );

    // The database after the stop: nothing acknowledged lost, and at most the one request a
    // writer had in flight (unanswered) applied beyond what it saw acknowledged.
    let tallies: Vec<Tally> = acked
        .iter()
        .enumerate()
        .map(|(w, a)| Tally {
            session: format!("writer {w}"),
            pop_id: Some(a.pop_id.clone().unwrap()),
            last_sequence: a.last_sequence,
            ..Tally::default()
        })
        .collect();
    let stored = writers::stored_sequences(&database_url, &tallies).await;
    for (t, sequence) in tallies.iter().zip(stored) {
        assert!(
            sequence <= t.last_sequence + 1,
            "{}: at most the one unanswered request was applied",
            t.session
        );
    }

    let output = binary::command(&database_url, dir.path(), &[])
        .args(["verify", "--json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "mapagov verify: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What one client of the burst saw: complete answers, and every failure that was not a clean
/// refusal at connect.
struct Burst {
    answered: usize,
    broken: Vec<String>,
}

const ROUNDS: usize = 6;
const CLIENTS: usize = 16;

async fn sigterm_answers_every_request_it_accepted(backend: Backend) {
    let (database_url, dir) = migrated(backend).await;
    let mut broken = Vec::new();
    let mut answered_after_sigterm = 0;
    for round in 0..ROUNDS {
        let served = Served::start(&database_url, dir.path(), &[]).await;
        let url = format!("{}/graphql", served.base);
        let answered = Arc::new(AtomicUsize::new(0));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (url, answered) = (url.clone(), Arc::clone(&answered));
                tokio::spawn(async move {
                    // Half reuse their connection, half open one per request.
                    let http = if c % 2 == 0 {
                        reqwest::Client::new()
                    } else {
                        reqwest::Client::builder()
                            .pool_max_idle_per_host(0)
                            .build()
                            .unwrap()
                    };
                    let mut burst = Burst {
                        answered: 0,
                        broken: Vec::new(),
                    };
                    let deadline = std::time::Instant::now() + Duration::from_secs(30);
                    while std::time::Instant::now() < deadline {
                        let sent = http
                            .post(&url)
                            .json(&json!({"query": "{ __typename }"}))
                            .send()
                            .await;
                        let resp = match sent {
                            Ok(resp) => resp,
                            // Refused: the listener is closed, as it should be.
                            Err(err) if err.is_connect() => break,
                            Err(err) => {
                                burst.broken.push(format!("{err:?}"));
                                break;
                            }
                        };
                        match resp.json::<Value>().await {
                            Ok(body) if body["data"]["__typename"] == "Query" => {
                                burst.answered += 1;
                                answered.fetch_add(1, Ordering::SeqCst);
                            }
                            Ok(body) => burst.broken.push(format!("unexpected answer {body}")),
                            Err(err) => burst.broken.push(format!("cut short: {err:?}")),
                        }
                    }
                    burst
                })
            })
            .collect();
        // Signal while every client is busy (the moment varies from round to round).
        let target = 40 + round * 15;
        while AtomicUsize::load(&answered, Ordering::SeqCst) < target {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        served.sigterm();
        let at_sigterm = AtomicUsize::load(&answered, Ordering::SeqCst);
        let finished = tokio::task::spawn_blocking(move || served.wait())
            .await
            .unwrap();
        assert_eq!(finished.status.code(), Some(0), "{}", finished.stderr);
        for client in clients {
            let burst = tokio::time::timeout(Duration::from_secs(60), client)
                .await
                .unwrap()
                .unwrap();
            assert!(burst.answered > 0);
            broken.extend(
                burst
                    .broken
                    .into_iter()
                    .map(|b| format!("round {round}: {b}")),
            );
        }
        answered_after_sigterm += AtomicUsize::load(&answered, Ordering::SeqCst) - at_sigterm;
    }
    assert!(
        broken.is_empty(),
        "{} requests reset or cut short around SIGTERM:\n{}",
        broken.len(),
        broken.join("\n")
    );
    println!(
        "{ROUNDS} signals: {answered_after_sigterm} requests answered after SIGTERM, none broken"
    );
}

/// A subscriber on an event stream and one on a WebSocket stay connected until SIGTERM; the
/// server then ends both streams (the event stream without `complete`, so a `graphql-sse` client
/// reconnects and resubscribes) and exits 0 promptly, instead of waiting for them forever.
async fn open_subscriptions_do_not_hold_the_exit_up(backend: Backend) {
    let (database_url, dir) = migrated(backend).await;
    let token = binary::create_user(&database_url, dir.path(), "maria");
    let served = Served::start(&database_url, dir.path(), &[]).await;
    let saved: Value = reqwest::Client::new()
        .post(format!("{}/graphql", served.base))
        .bearer_auth(&token)
        .json(&json!({"query": SAVE, "variables": {"s": "sub", "c": "aberto"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pop = saved["data"]["autosavePop"]["pop"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream = common::sse::subscribe(&served.base, &token, &pop, None).await;
    let mut socket = common::ws::connect_ok(&served.base, &token).await;
    socket.subscribe("1", &pop, None).await;
    stream.assert_silent(Duration::from_millis(300)).await;

    served.sigterm();
    let started = std::time::Instant::now();
    assert_eq!(
        stream.next().await,
        None,
        "the event stream ends, without complete"
    );
    let finished = tokio::task::spawn_blocking(move || served.wait())
        .await
        .unwrap();
    assert!(finished.status.success(), "{}", finished.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "exited after {:?}",
        started.elapsed()
    );
    drop(socket);
}
