//! The readable history (issue 17), through the real server on both backends: editing sessions
//! over a simulated 8-hour day, and partial restore.
//!
//! The simulated day is written straight into the change log with its own timestamps (a test-only
//! path: 19 200 autosaves through HTTP would take minutes, and time cannot be waited for); the
//! sessions are then read through `popEditSessions` like any client would.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::pops::{backup, create, history, pop as read_pop, row_id, save, steps};
use common::{Backend, Client, TestServer};
use mapagov::db::queries::{self, NewChange};
use mapagov::db::Db;
use scoped_futures::ScopedFutureExt;
use serde_json::{json, Value};

async fn user_id(client: &Client) -> i64 {
    let me = client.data("{ me { id } }", json!({})).await;
    me["me"]["id"].as_str().unwrap().parse().unwrap()
}

/// One write of the simulated day.
struct Write {
    user: i64,
    action: &'static str,
    at: DateTime<Utc>,
}

/// Autosaves every 3 seconds by `user` from `from` to `to` (exclusive).
fn edits(user: i64, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Write> {
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        out.push(Write {
            user,
            action: "autosave",
            at,
        });
        at += Duration::seconds(3);
    }
    out
}

/// The simulated day, from 08:00 to 16:00: Alice edits until a 20-minute coffee break at 10:00
/// and again until noon; Bob edits until 13:00, restores a snapshot, edits until 14:00; Alice
/// edits until 16:00 (with a 9-minute pause at 15:00, shorter than the idle time) and submits
/// the POP for review. With the default idle time of 10 minutes that is 7 sessions (plus the
/// session that created the POP, earlier); with 30 minutes the coffee break no longer splits
/// Alice's morning: 6.
fn day(alice: i64, bob: i64) -> Vec<Write> {
    let t = |h: u32, m: u32, s: u32| Utc.with_ymd_and_hms(2030, 3, 4, h, m, s).unwrap();
    let mut writes = Vec::new();
    writes.extend(edits(alice, t(8, 0, 0), t(10, 0, 0)));
    writes.extend(edits(alice, t(10, 20, 0), t(12, 0, 0)));
    writes.extend(edits(bob, t(12, 0, 3), t(13, 0, 0)));
    writes.push(Write {
        user: bob,
        action: "restore",
        at: t(13, 0, 3),
    });
    writes.extend(edits(bob, t(13, 0, 6), t(14, 0, 0)));
    writes.extend(edits(alice, t(14, 0, 3), t(15, 0, 0)));
    writes.extend(edits(alice, t(15, 9, 0), t(16, 0, 0)));
    writes.push(Write {
        user: alice,
        action: "status",
        at: t(16, 0, 3),
    });
    writes
}

/// Writes the day into the change log after sequence `start`: each autosave changes
/// `pontos_atencao` (`p1`, `p2`…), every tenth also `operadores`.
async fn write_day(db: &Db, pop_id: i64, start: i32, writes: &[Write]) {
    let mut rows = Vec::new();
    for (n, write) in writes.iter().enumerate() {
        let sequence = start + 1 + i32::try_from(n).unwrap();
        let row = |field: &str, old: Value, new: Value| NewChange {
            pop_id,
            user_id: Some(write.user),
            action: mapagov::domain::ChangeAction::parse(write.action).unwrap(),
            field_name: field.into(),
            old_value: Some(old),
            new_value: Some(new),
            autosave_sequence: sequence,
            snapshot_id: None,
            created_at: write.at,
        };
        match write.action {
            "status" => rows.push(row("status", json!("draft"), json!("in_review"))),
            _ => {
                rows.push(row(
                    "pontos_atencao",
                    json!(format!("p{n}")),
                    json!(format!("p{}", n + 1)),
                ));
                if n % 10 == 0 {
                    rows.push(row("operadores", json!(n), json!(n + 1)));
                }
            }
        }
    }
    db.write(|mut conn| {
        async move {
            for chunk in rows.chunks(2000) {
                queries::insert_changes(&mut conn, chunk).await?;
            }
            Ok(())
        }
        .scope_boxed()
    })
    .await
    .unwrap();
}

const SESSIONS: &str = "query($id: ID!, $first: Int, $after: String, $idle: Int) { \
    popEditSessions(popId: $id, first: $first, after: $after, idleMinutes: $idle) { \
    pageInfo { hasNextPage hasPreviousPage endCursor } \
    edges { cursor node { action actor { username } startedAt endedAt entryCount writeCount \
    fields firstSequence lastSequence } } } }";

/// Every session, newest first, read `page` at a time.
async fn all_sessions(
    server: &TestServer,
    pop: &Value,
    page: i32,
    idle: Option<i32>,
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let data = server
            .data(
                SESSIONS,
                json!({ "id": pop["id"], "first": page, "after": after, "idle": idle }),
            )
            .await;
        let conn = &data["popEditSessions"];
        let edges = conn["edges"].as_array().unwrap();
        assert!(edges.len() <= usize::try_from(page).unwrap());
        out.extend(edges.iter().map(|e| e["node"].clone()));
        assert_eq!(conn["pageInfo"]["hasPreviousPage"], after.is_some());
        if conn["pageInfo"]["hasNextPage"] == false {
            return out;
        }
        after = Some(conn["pageInfo"]["endCursor"].as_str().unwrap().to_owned());
    }
}

async fn an_eight_hour_day_gives_a_bounded_number_of_sessions(backend: Backend) {
    let server = TestServer::start(backend).await;
    let bob_client = server.user("bob", false, None).await;
    let (alice, bob) = (user_id(&server).await, user_id(&bob_client).await);
    let pop = create(&server, "day", json!({ "nomeProcesso": "Dia" })).await;
    let db = server.db().await;
    let pop_id = row_id(&db, &pop).await;
    let writes = day(alice, bob);
    assert_eq!(
        writes.len(),
        9_018,
        "8 hours of autosaves every 3 s, minus the breaks"
    );
    write_day(&db, pop_id, 1, &writes).await;

    let sessions = all_sessions(&server, &pop, 3, None).await;
    let summary: Vec<(String, String, i64)> = sessions
        .iter()
        .map(|s| {
            (
                s["action"].as_str().unwrap().to_owned(),
                s["actor"]["username"].as_str().unwrap().to_owned(),
                s["writeCount"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, String, i64)> = [
        ("STATUS", "tester", 1),
        ("AUTOSAVE", "tester", 1199 + 1020),
        ("AUTOSAVE", "bob", 1198),
        ("RESTORE", "bob", 1),
        ("AUTOSAVE", "bob", 1199),
        ("AUTOSAVE", "tester", 2000),
        ("AUTOSAVE", "tester", 2400),
        ("CREATE", "tester", 1),
    ]
    .iter()
    .map(|(a, u, n)| ((*a).to_owned(), (*u).to_owned(), *n))
    .collect();
    assert_eq!(summary, expected);
    let total_writes: i64 = summary.iter().map(|s| s.2).sum();
    assert_eq!(
        total_writes,
        9_018 + 1,
        "every write is in exactly one session"
    );

    // Sequences are contiguous from session to session, and pages agree with one big page.
    for pair in sessions.windows(2) {
        assert_eq!(
            pair[1]["lastSequence"].as_i64().unwrap() + 1,
            pair[0]["firstSequence"].as_i64().unwrap()
        );
    }
    assert_eq!(all_sessions(&server, &pop, 100, None).await, sessions);
    let morning = &sessions[6];
    assert_eq!(morning["startedAt"], "2030-03-04T08:00:00.000Z");
    assert_eq!(morning["endedAt"], "2030-03-04T09:59:57.000Z");
    assert_eq!(morning["fields"], json!(["operadores", "pontos_atencao"]));
    assert_eq!(morning["entryCount"], 2400 + 240);

    // A longer idle time joins Alice's morning across the coffee break.
    let relaxed = all_sessions(&server, &pop, 100, Some(30)).await;
    assert_eq!(relaxed.len(), 7);
    assert_eq!(relaxed[5]["writeCount"], 2400 + 2000);

    // The diff of a session runs from its start to its end; its entries are the raw rows.
    let data = server
        .data(
            "query($id: ID!) { popEditSessions(popId: $id, first: 2) { nodes { \
             diff { changedFields changes { path kind old new } patch } \
             entries(first: 2) { totalCount nodes { field newValue } } } } }",
            json!({ "id": pop["id"] }),
        )
        .await;
    let afternoon = &data["popEditSessions"]["nodes"][1];
    assert_eq!(
        afternoon["diff"]["changedFields"],
        json!(["operadores", "pontos_atencao"])
    );
    let first_n = 2400 + 2000 + 1199 + 1 + 1198;
    let last_n = first_n + 2219 - 1;
    assert_eq!(
        afternoon["diff"]["changes"][1],
        json!({ "path": "/pontos_atencao", "kind": "CHANGED",
                "old": format!("p{first_n}"), "new": format!("p{}", last_n + 1) })
    );
    assert_eq!(afternoon["entries"]["totalCount"], 2219 + 222);
    assert_eq!(
        afternoon["entries"]["nodes"][0],
        json!({ "field": "pontos_atencao", "newValue": format!("p{}", last_n + 1) })
    );

    // Bad idle times are refused with the argument named.
    let err = server
        .error(SESSIONS, json!({ "id": pop["id"], "idle": 0 }))
        .await;
    assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(err["extensions"]["field"], "idleMinutes");
    server.stop().await;
}

async fn a_real_restore_and_status_change_start_sessions(backend: Backend) {
    let server = TestServer::start(backend).await;
    let pop = create(&server, "s", json!({ "etapas": steps(2) })).await;
    let saved = save(&server, &pop, json!({ "pontosAtencao": "a" })).await;
    let saved = save(&server, &saved["pop"], json!({ "pontosAtencao": "b" })).await;
    let pop = saved["pop"].clone();
    let data = server
        .data(
            "mutation($id: ID!) { changePopStatus(popId: $id, status: IN_REVIEW) { pop { id } } }",
            json!({ "id": pop["id"] }),
        )
        .await;
    assert!(!data["changePopStatus"].is_null());
    let sessions = all_sessions(&server, &pop, 10, None).await;
    let actions: Vec<&str> = sessions
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["STATUS", "CREATE"]);
    assert_eq!(sessions[1]["writeCount"], 3);
    server.stop().await;
}

const RESTORE_PATHS: &str = "mutation($id: ID!, $snap: ID, $seq: Int, $paths: [String!]!, \
    $hash: String) { restorePaths(popId: $id, snapshotId: $snap, sequence: $seq, paths: $paths, \
    expectedHash: $hash) { pop { integrityHash autosaveSequence etapas pontosAtencao } \
    safetySnapshot { id autosaveSequence } } }";

fn step(id: &str, descricao: &str) -> Value {
    json!({ "id": id, "descricao": descricao, "operador": "Analista" })
}

async fn a_partial_restore_of_one_step_keeps_later_changes_to_the_others(backend: Backend) {
    let server = TestServer::start(backend).await;
    let original = json!([step("s1", "um"), step("s2", "dois"), step("s3", "tres")]);
    let pop = create(
        &server,
        "pr",
        json!({ "etapas": original, "pontosAtencao": "cuidado" }),
    )
    .await;
    let snapshot = backup(&server, "pr", None).await[0].clone();
    // Sequence 2 spoils step s2; sequence 3 improves s1 and s3 and the points of attention.
    let saved = save(
        &server,
        &pop,
        json!({ "etapas": [step("s1", "um"), step("s2", "ERRADO"), step("s3", "tres")] }),
    )
    .await;
    let later = json!([step("s1", "um+"), step("s2", "ERRADO"), step("s3", "tres+")]);
    let saved = save(
        &server,
        &saved["pop"],
        json!({ "etapas": later, "pontosAtencao": "novo" }),
    )
    .await;
    let current = saved["pop"].clone();

    // A stale hash is a conflict and writes nothing.
    let err = server
        .error(
            RESTORE_PATHS,
            json!({ "id": pop["id"], "seq": 1, "paths": ["/etapas/s2"], "hash": pop["integrityHash"] }),
        )
        .await;
    assert_eq!(err["extensions"]["code"], "CONFLICT");
    // Bad paths name themselves.
    for (path, why) in [
        ("etapas", "no slash"),
        ("/status", "not content"),
        ("/etapas/zz", "absent"),
    ] {
        let err = server
            .error(
                RESTORE_PATHS,
                json!({ "id": pop["id"], "seq": 1, "paths": [path], "hash": current["integrityHash"] }),
            )
            .await;
        assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT", "{why}");
        assert_eq!(err["extensions"]["path"], path, "{why}");
    }
    assert_eq!(read_pop(&server, &pop["id"]).await["autosaveSequence"], 3);

    // Step s2 as it was after sequence 1, by its id: s1 and s3 keep their later text.
    let data = server
        .data(
            RESTORE_PATHS,
            json!({ "id": pop["id"], "seq": 1, "paths": ["/etapas/s2"], "hash": current["integrityHash"] }),
        )
        .await;
    let restored = &data["restorePaths"];
    assert_eq!(
        restored["pop"]["etapas"],
        json!([step("s1", "um+"), step("s2", "dois"), step("s3", "tres+")])
    );
    assert_eq!(restored["pop"]["pontosAtencao"], "novo");
    assert_eq!(restored["pop"]["autosaveSequence"], 4);
    assert_eq!(restored["safetySnapshot"]["autosaveSequence"], 3);

    // From a snapshot, by index: the points of attention come back, the steps stay.
    let data = server
        .data(
            RESTORE_PATHS,
            json!({ "id": pop["id"], "snap": snapshot["id"], "paths": ["/pontos_atencao", "/etapas/0/operador"],
                    "hash": restored["pop"]["integrityHash"] }),
        )
        .await;
    let pop_now = &data["restorePaths"]["pop"];
    assert_eq!(pop_now["pontosAtencao"], "cuidado");
    assert_eq!(pop_now["etapas"][0]["descricao"], "um+");

    // The history names the source and the paths.
    let log = history(&server, &pop["id"]).await;
    let sources: Vec<&Value> = log
        .iter()
        .filter(|e| e["field"] == "restore_source")
        .map(|e| &e["newValue"])
        .collect();
    assert_eq!(
        sources,
        vec![
            &json!({ "snapshotId": snapshot["id"], "paths": ["/pontos_atencao", "/etapas/0/operador"] }),
            &json!({ "sequence": 1, "paths": ["/etapas/s2"] }),
        ]
    );
    assert!(log
        .iter()
        .any(|e| e["action"] == "RESTORE" && e["field"] == "etapas" && e["autosaveSequence"] == 4));
    server.stop().await;
}

/// Legacy steps have no ids; a partial restore of them writes them with ids, like every write.
async fn restored_legacy_steps_get_ids(backend: Backend) {
    let server = TestServer::start(backend).await;
    let data = mapagov::legacy::read(&common::fixture("dump_pops.json"))
        .await
        .unwrap();
    mapagov::transfer::import::import(
        &server.db().await,
        &data,
        &mapagov::transfer::import::ImportOptions::default(),
    )
    .await
    .unwrap();
    let staff = server.staff().await;
    let list = staff
        .data(
            "{ pops(first: 100) { edges { node { id integrityHash status \
             snapshots(first: 5) { edges { node { id document } } } } } } }",
            json!({}),
        )
        .await;
    let without_ids = |steps: &Value| {
        steps
            .as_array()
            .is_some_and(|s| !s.is_empty() && s.iter().all(|step| step.get("id").is_none()))
    };
    let (pop, snapshot) = list["pops"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .filter(|p| p["status"] == "DRAFT")
        .find_map(|p| {
            p["snapshots"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| without_ids(&s["node"]["document"]["etapas"]))
                .map(|s| (p.clone(), s["node"].clone()))
        })
        .expect("the fixture has a draft POP with a snapshot of steps without ids");
    let data = staff
        .data(
            RESTORE_PATHS,
            json!({ "id": pop["id"], "snap": snapshot["id"], "paths": ["/etapas"],
                    "hash": pop["integrityHash"] }),
        )
        .await;
    let steps = data["restorePaths"]["pop"]["etapas"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        steps.len(),
        snapshot["document"]["etapas"].as_array().unwrap().len()
    );
    for step in &steps {
        assert!(
            step["id"].as_str().is_some_and(|id| !id.is_empty()),
            "a restored step without an id: {step}"
        );
    }
    server.stop().await;
}

/// Retries of a keyed `restorePaths`, racing each other, restore once and all get the first
/// result; the same key with other paths is refused.
async fn a_keyed_partial_restore_is_applied_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let pop = create(&server, "kpr", json!({ "pontosAtencao": "antes" })).await;
    let snapshot = backup(&server, "kpr", None).await[0].clone();
    let saved = save(&server, &pop, json!({ "pontosAtencao": "depois" })).await;
    let keyed = "mutation($id: ID!, $snap: ID, $paths: [String!]!, $hash: String, $key: String) { \
        restorePaths(popId: $id, snapshotId: $snap, paths: $paths, expectedHash: $hash, \
        idempotencyKey: $key) { pop { integrityHash autosaveSequence pontosAtencao } \
        safetySnapshot { id } } }";
    let variables = json!({ "id": pop["id"], "snap": snapshot["id"], "paths": ["/pontos_atencao"],
                            "hash": saved["pop"]["integrityHash"], "key": "restaurar-1" });
    let answers =
        futures_util::future::join_all((0..4).map(|_| server.gql(keyed, variables.clone()))).await;
    for answer in &answers {
        assert!(answer.get("errors").is_none(), "{answer}");
        assert_eq!(answer["data"], answers[0]["data"]);
    }
    let first = &answers[0]["data"]["restorePaths"];
    assert_eq!(first["pop"]["pontosAtencao"], "antes");
    assert_eq!(first["pop"]["autosaveSequence"], 3);
    // Once more, after the fact: the same first result, and still one restore.
    let again = server.data(keyed, variables.clone()).await;
    assert_eq!(again["restorePaths"], *first);
    let log = history(&server, &pop["id"]).await;
    assert_eq!(
        log.iter()
            .filter(|e| e["field"] == "restore_source")
            .count(),
        1
    );
    // Its session names the field it restored, not the history's own `restore_source` entry.
    let sessions = server
        .data(SESSIONS, json!({ "id": pop["id"], "first": 10 }))
        .await;
    let restore = sessions["popEditSessions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["action"] == "RESTORE")
        .expect("a restore session");
    assert_eq!(restore["node"]["fields"], json!(["pontos_atencao"]));
    let reused = server
        .error_code(keyed, {
            let mut other = variables.clone();
            other["paths"] = json!(["/etapas"]);
            other
        })
        .await;
    assert_eq!(reused, "IDEMPOTENCY_KEY_REUSED");
}

both_backends!(
    a_keyed_partial_restore_is_applied_once,
    restored_legacy_steps_get_ids,
    an_eight_hour_day_gives_a_bounded_number_of_sessions,
    a_real_restore_and_status_change_start_sessions,
    a_partial_restore_of_one_step_keeps_later_changes_to_the_others,
);
