//! Snapshots over HTTP on both backends: `backupSession`, `restoreSnapshot` (safety copy, undo,
//! conflicts), `markMilestone` and `snapshotDiff` (one addition per inserted step, a patch that
//! really turns one document into the other).
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::pops::{
    backup, change_status, create, history, move_session, pop, restore_doc, save, snapshot,
    snapshots, state, steps, CONTENT_FIELDS, DELETE, SNAPSHOT_FIELDS,
};
use common::{Backend, TestServer};
use mapagov::domain::hash::integrity_hash;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const MILESTONE: &str = "mutation($id: ID!, $label: String!) { markMilestone(snapshotId: $id, \
    label: $label) { id milestone milestoneLabel } }";

const DIFF: &str = "query($from: ID!, $to: ID) { snapshotDiff(fromId: $from, toId: $to) { \
    from { id document } to { id document } changedFields patch changes { path kind old new } } }";

async fn restore(server: &TestServer, snapshot: &Value, hash: &Value) -> Value {
    let data = server
        .data(&restore_doc(), json!({"id": snapshot["id"], "hash": hash}))
        .await;
    data["restoreSnapshot"].clone()
}

async fn diff(server: &TestServer, from: &Value, to: Option<&Value>) -> Value {
    let to = to.map(|s| s["id"].clone());
    server
        .data(DIFF, json!({"from": from["id"], "to": to}))
        .await["snapshotDiff"]
        .clone()
}

/// The top-level keys whose values differ between two documents, sorted.
fn differing_keys(a: &Value, b: &Value) -> Vec<String> {
    let keys: BTreeSet<&String> = a
        .as_object()
        .unwrap()
        .keys()
        .chain(b.as_object().unwrap().keys())
        .collect();
    keys.into_iter()
        .filter(|k| a.get(k.as_str()) != b.get(k.as_str()))
        .cloned()
        .collect()
}

/// Applies an RFC 6902 patch with the `json-patch` crate.
fn apply(document: &Value, patch: &Value) -> Value {
    let patch: json_patch::Patch = serde_json::from_value(patch.clone()).unwrap();
    let mut out = document.clone();
    json_patch::patch(&mut out, &patch).unwrap();
    out
}

fn content_of(pop: &Value) -> Value {
    CONTENT_FIELDS
        .iter()
        .map(|f| (f.to_string(), pop[*f].clone()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

async fn backup_covers_the_live_pops_of_one_session(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p1 = create(&server, "s1", json!({"nomeProcesso": "Um"})).await;
    let p2 = create(
        &server,
        "tmp",
        json!({"nomeProcesso": "Dois", "etapas": steps(2)}),
    )
    .await;
    move_session(&server, "tmp", "s1").await;
    let p3 = create(&server, "tmp3", json!({"nomeProcesso": "Três"})).await;
    move_session(&server, "tmp3", "s1").await;
    server.data(DELETE, json!({"id": p3["id"]})).await;
    let other = create(&server, "s2", json!({"nomeProcesso": "Outro"})).await;
    let p3_before = state(&server, &p3["id"]).await;
    let other_before = state(&server, &other["id"]).await;

    let taken = backup(&server, "s1", Some("antes da revisão")).await;
    assert_eq!(taken.len(), 2);
    let ids: BTreeSet<String> = taken
        .iter()
        .map(|s| s["pop"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        BTreeSet::from([
            p1["id"].as_str().unwrap().to_owned(),
            p2["id"].as_str().unwrap().to_owned()
        ])
    );
    for snap in &taken {
        let current = pop(&server, &snap["pop"]["id"]).await;
        assert_eq!(snap["kind"], "BACKUP");
        assert_eq!(snap["label"], "antes da revisão");
        assert_eq!(snap["milestone"], false);
        assert_eq!(snap["document"], current["document"]);
        assert_eq!(snap["integrityHash"], current["integrityHash"]);
        assert_eq!(snap["autosaveSequence"], current["autosaveSequence"]);
        assert_eq!(snap["sequence"], 1);
        // Stored, and readable by id.
        assert_eq!(snapshot(&server, &snap["id"]).await, *snap);
        assert_eq!(snapshots(&server, &current["id"]).await, vec![snap.clone()]);
    }
    assert_eq!(state(&server, &p3["id"]).await, p3_before);
    assert_eq!(state(&server, &other["id"]).await, other_before);

    // An unknown session has nothing to back up; an empty one is bad input.
    assert!(backup(&server, "nobody", None).await.is_empty());
    let err = server
        .error(
            "mutation { backupSession(sessionId: \" \") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(err["extensions"]["field"], "sessionId");
    assert_eq!(state(&server, &other["id"]).await, other_before);
}

async fn restore_takes_a_safety_snapshot_and_can_be_undone(backend: Backend) {
    let server = TestServer::start(backend).await;
    let created = create(
        &server,
        "s",
        json!({"nomeProcesso": "A", "pontosAtencao": "pa", "etapas": steps(2)}),
    )
    .await;
    let old = backup(&server, "s", None).await.remove(0);
    let saved = save(
        &server,
        &created,
        json!({"nomeProcesso": "B", "etapas": steps(4), "operadores": "Chefe"}),
    )
    .await;
    let before = saved["pop"].clone();
    let history_before = history(&server, &before["id"]).await.len();

    let restored = restore(&server, &old, &before["integrityHash"]).await;
    let safety = &restored["safetySnapshot"];
    assert_eq!(safety["kind"], "PRE_RESTORE");
    assert_eq!(safety["document"], before["document"]);
    assert_eq!(safety["integrityHash"], before["integrityHash"]);
    assert_eq!(safety["autosaveSequence"], before["autosaveSequence"]);
    assert_eq!(restored["restoredSnapshot"]["id"], old["id"]);
    let after = &restored["pop"];
    assert_eq!(after["document"], old["document"]);
    assert_eq!(content_of(after), content_of(&created));
    assert_eq!(after["autosaveSequence"], 3);
    assert_eq!(after["integrityHash"], integrity_hash(&after["document"]));
    assert_eq!(after["integrityHash"], old["integrityHash"]);
    assert_eq!(pop(&server, &before["id"]).await, *after);

    // One RESTORE entry per field the restore changed, pointing at the snapshot.
    let log = history(&server, &before["id"]).await;
    let entries: Vec<&Value> = log[..log.len() - history_before].iter().collect();
    let fields: BTreeSet<&str> = entries
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from(["nome_processo", "etapas", "operadores"])
    );
    for e in &entries {
        assert_eq!(e["action"], "RESTORE");
        assert_eq!(e["snapshotId"], old["id"]);
        assert_eq!(e["autosaveSequence"], 3);
    }
    let etapas = entries.iter().find(|e| e["field"] == "etapas").unwrap();
    assert_eq!(etapas["oldValue"], json!(steps(4)));
    assert_eq!(etapas["newValue"], json!(steps(2)));

    // Restoring the safety snapshot gives back exactly the state before.
    let undone = restore(&server, safety, &after["integrityHash"]).await;
    let back = &undone["pop"];
    assert_eq!(back["document"], before["document"]);
    assert_eq!(content_of(back), content_of(&before));
    assert_eq!(back["integrityHash"], before["integrityHash"]);
    assert_eq!(back["autosaveSequence"], 4);
    // That restore kept its own safety copy of the restored state.
    assert_eq!(undone["safetySnapshot"]["kind"], "PRE_RESTORE");
    assert_eq!(undone["safetySnapshot"]["document"], old["document"]);
    assert_eq!(snapshots(&server, &before["id"]).await.len(), 3);
}

async fn restore_reuses_the_latest_snapshot_when_it_holds_the_current_state(backend: Backend) {
    let server = TestServer::start_with(backend, &[("SNAPSHOT_EVERY", "2")]).await;
    let created = create(&server, "s", json!({"nomeProcesso": "A"})).await;
    let old = backup(&server, "s", None).await.remove(0);
    let saved = save(&server, &created, json!({"nomeProcesso": "B"})).await;
    assert_eq!(saved["snapshotCreated"], true);
    let latest = saved["snapshot"].clone();
    let count = snapshots(&server, &created["id"]).await.len();

    let restored = restore(&server, &old, &Value::Null).await;
    assert_eq!(restored["safetySnapshot"]["id"], latest["id"]);
    assert_eq!(restored["safetySnapshot"]["kind"], "AUTOSAVE");
    assert_eq!(snapshots(&server, &created["id"]).await.len(), count);
    assert_eq!(restored["pop"]["nomeProcesso"], "A");
    assert_eq!(restored["pop"]["autosaveSequence"], 3);
}

async fn a_failed_restore_writes_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let created = create(&server, "s", json!({"nomeProcesso": "A"})).await;
    let old = backup(&server, "s", None).await.remove(0);
    let current = save(&server, &created, json!({"nomeProcesso": "B"})).await["pop"].clone();
    let before = state(&server, &created["id"]).await;

    let err = server
        .error(
            &restore_doc(),
            json!({"id": old["id"], "hash": created["integrityHash"]}),
        )
        .await;
    assert_eq!(err["extensions"]["code"], "CONFLICT");
    assert_eq!(err["extensions"]["currentHash"], current["integrityHash"]);
    assert_eq!(
        err["extensions"]["autosaveSequence"],
        current["autosaveSequence"]
    );
    assert_eq!(err["extensions"]["updatedAt"], current["updatedAt"]);
    assert_eq!(state(&server, &created["id"]).await, before);

    for (id, code) in [
        (json!("999999"), "NOT_FOUND"),
        (json!("x"), "BAD_USER_INPUT"),
    ] {
        let err = server
            .error(&restore_doc(), json!({"id": id, "hash": null}))
            .await;
        assert_eq!(err["extensions"]["code"], code);
        assert_eq!(state(&server, &created["id"]).await, before);
    }

    // A published POP cannot be rolled back.
    change_status(&server, &created["id"], "IN_REVIEW", None).await;
    change_status(&server, &created["id"], "PUBLISHED", None).await;
    let before = state(&server, &created["id"]).await;
    let err = server
        .error(&restore_doc(), json!({"id": old["id"], "hash": null}))
        .await;
    assert_eq!(err["extensions"]["code"], "POP_LOCKED");
    assert_eq!(state(&server, &created["id"]).await, before);
}

async fn milestones_take_a_label_of_1_to_120_characters(backend: Backend) {
    let server = TestServer::start(backend).await;
    let created = create(&server, "s", json!({"nomeProcesso": "A"})).await;
    let snap = backup(&server, "s", None).await.remove(0);
    let before = state(&server, &created["id"]).await;
    for label in ["", "   ", &"a".repeat(121), &"ç".repeat(121)] {
        let err = server
            .error(MILESTONE, json!({"id": snap["id"], "label": label}))
            .await;
        assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT", "{label:?}");
        assert_eq!(err["extensions"]["field"], "label");
        assert_eq!(state(&server, &created["id"]).await, before);
    }
    let err = server
        .error(MILESTONE, json!({"id": "999999", "label": "v1"}))
        .await;
    assert_eq!(err["extensions"]["code"], "NOT_FOUND");
    assert_eq!(state(&server, &created["id"]).await, before);

    for label in ["v", &"ç".repeat(120)] {
        let marked = server
            .data(MILESTONE, json!({"id": snap["id"], "label": label}))
            .await;
        assert_eq!(marked["markMilestone"]["milestone"], true);
        assert_eq!(marked["markMilestone"]["milestoneLabel"], label);
        let reread = snapshot(&server, &snap["id"]).await;
        assert_eq!(reread["milestone"], true);
        assert_eq!(reread["milestoneLabel"], label);
        // Nothing else about the snapshot changed.
        assert_eq!(reread["document"], snap["document"]);
        assert_eq!(reread["integrityHash"], snap["integrityHash"]);
    }
}

async fn inserting_a_step_is_one_addition(backend: Backend) {
    let server = TestServer::start(backend).await;
    let created = create(&server, "s", json!({"etapas": steps(10)})).await;
    let first = backup(&server, "s", None).await.remove(0);
    let mut etapas = steps(10);
    let inserted = json!({"id": "00000000-0000-4000-8000-000000000099", "numero": 99,
                          "descricao": "Nova etapa", "detalhes": [],
                          "operador": "Chefe", "tipo": "condicional",
                          "cenarios": [{"descricao": "Sim", "proximo_passo": 6}]});
    etapas.insert(4, inserted.clone());
    let saved = save(&server, &created, json!({"etapas": etapas})).await;
    let second = backup(&server, "s", None).await.remove(0);

    let d = diff(&server, &first, Some(&second)).await;
    assert_eq!(d["from"]["id"], first["id"]);
    assert_eq!(d["to"]["id"], second["id"]);
    assert_eq!(d["changedFields"], json!(["etapas"]));
    assert_eq!(
        d["changes"],
        json!([{"path": "/etapas/4", "kind": "ADDED", "old": null, "new": inserted}])
    );
    assert_eq!(apply(&first["document"], &d["patch"]), second["document"]);

    // Against the current state (toId omitted), which has moved on.
    let now = save(
        &server,
        &saved["pop"],
        json!({"pontosAtencao": "nova", "area": {"codigo": "COATE"}}),
    )
    .await["pop"]
        .clone();
    let d = diff(&server, &first, None).await;
    assert!(d["to"].is_null());
    let expected = differing_keys(&first["document"], &now["document"]);
    assert_eq!(d["changedFields"], json!(expected));
    assert_eq!(
        d["changedFields"],
        json!(["area", "etapas", "pontos_atencao"])
    );
    let etapa_changes: Vec<&Value> = d["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["path"].as_str().unwrap().starts_with("/etapas"))
        .collect();
    assert_eq!(etapa_changes.len(), 1);
    assert_eq!(etapa_changes[0]["path"], "/etapas/4");
    assert_eq!(etapa_changes[0]["kind"], "ADDED");
    assert_eq!(apply(&first["document"], &d["patch"]), now["document"]);

    // And backwards: the step is one removal.
    let d = diff(&server, &second, Some(&first)).await;
    assert_eq!(
        d["changes"],
        json!([{"path": "/etapas/4", "kind": "REMOVED", "old": inserted, "new": null}])
    );
    assert_eq!(apply(&second["document"], &d["patch"]), first["document"]);
}

async fn a_diff_of_many_edits_is_a_patch_between_the_documents(backend: Backend) {
    let server = TestServer::start_with(backend, &[("SNAPSHOT_EVERY", "2")]).await;
    let created = create(
        &server,
        "s",
        json!({"etapas": steps(6), "sistemas": ["SEI", "SIAPE"], "operadores": "A",
               "nomeUsuario": "Maria"}),
    )
    .await;
    let mut etapas = steps(6);
    etapas.remove(1);
    etapas[2]["descricao"] = json!("Etapa três, revista");
    etapas.push(json!({"numero": 7, "descricao": "Última"}));
    let saved = save(
        &server,
        &created,
        json!({"etapas": etapas, "sistemas": ["SEI"], "operadores": "B",
               "fluxosSaida": ["Arquivo"]}),
    )
    .await;
    let first_snap = backup(&server, "s", None).await; // state of sequence 2
    let snaps = snapshots(&server, &created["id"]).await;
    // The autosave snapshot (sequence 2) and the backup hold the same document.
    assert_eq!(snaps.len(), 2);
    assert_eq!(snaps[0]["document"], snaps[1]["document"]);
    let d = diff(&server, &snaps[1], Some(&first_snap[0])).await;
    assert_eq!(d["changedFields"], json!([]));
    assert_eq!(d["changes"], json!([]));
    assert_eq!(d["patch"], json!([]));

    let back = save(
        &server,
        &saved["pop"],
        json!({"etapas": steps(6), "nomeUsuario": "José"}),
    )
    .await;
    let d = diff(&server, &snaps[0], None).await;
    assert_eq!(
        d["changedFields"],
        json!(differing_keys(
            &snaps[0]["document"],
            &back["pop"]["document"]
        ))
    );
    assert_eq!(
        apply(&snaps[0]["document"], &d["patch"]),
        back["pop"]["document"]
    );
}

async fn snapshots_of_two_pops_cannot_be_compared(backend: Backend) {
    let server = TestServer::start(backend).await;
    create(&server, "a", json!({"nomeProcesso": "A"})).await;
    create(&server, "b", json!({"nomeProcesso": "B"})).await;
    let a = backup(&server, "a", None).await.remove(0);
    let b = backup(&server, "b", None).await.remove(0);
    let err = server
        .error(DIFF, json!({"from": a["id"], "to": b["id"]}))
        .await;
    assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(err["extensions"]["field"], "toId");
    let err = server
        .error(DIFF, json!({"from": a["id"], "to": "999999"}))
        .await;
    assert_eq!(err["extensions"]["code"], "NOT_FOUND");
    let err = server
        .error(DIFF, json!({"from": "999999", "to": a["id"]}))
        .await;
    assert_eq!(err["extensions"]["code"], "NOT_FOUND");
    // Fields of a snapshot read through the fragment stay consistent with its hash.
    let doc = format!(
        "query($id: ID!) {{ snapshot(id: $id) {{ ...SnapshotFields }} }} {SNAPSHOT_FIELDS}"
    );
    let snap = server.data(&doc, json!({"id": a["id"]})).await["snapshot"].clone();
    assert_eq!(snap["integrityHash"], integrity_hash(&snap["document"]));
}

async fn a_restore_drops_the_form_state_of_before(backend: Backend) {
    let server = TestServer::start(backend).await;
    let first = common::pops::autosave(
        &server,
        json!({"sessionId": "s", "content": {"nomeProcesso": "A"}, "rawPayload": {"form": "A"}}),
    )
    .await["pop"]
        .clone();
    let old = backup(&server, "s", None).await.remove(0);
    let saved = common::pops::autosave(
        &server,
        json!({"popId": first["id"], "sessionId": "s", "expectedHash": first["integrityHash"],
               "content": {"nomeProcesso": "B"}, "rawPayload": {"form": "B"}}),
    )
    .await["pop"]
        .clone();
    assert_eq!(saved["rawPayload"], json!({"form": "B"}));

    // The form state of B would rebuild B in the editor and undo the restore on its next save.
    let restored = restore(&server, &old, &saved["integrityHash"]).await["pop"].clone();
    assert_eq!(restored["nomeProcesso"], "A");
    assert_eq!(restored["rawPayload"], Value::Null);
    assert_eq!(pop(&server, &first["id"]).await["rawPayload"], Value::Null);

    // The editor's next save brings its own form state again.
    let next = common::pops::autosave(
        &server,
        json!({"popId": first["id"], "sessionId": "s", "expectedHash": restored["integrityHash"],
               "content": {"pontosAtencao": "x"}, "rawPayload": {"form": "A2"}}),
    )
    .await["pop"]
        .clone();
    assert_eq!(next["rawPayload"], json!({"form": "A2"}));
    assert_eq!(next["nomeProcesso"], "A");
}

/// On PostgreSQL, holds the row lock of the POP `id` (as a long write of its owner would) until
/// the connection is dropped. SQLite has no row locks: a writer holds the whole database.
async fn hold_row_lock(server: &TestServer, id: &Value) -> Option<diesel_async::AsyncPgConnection> {
    use diesel_async::{AsyncConnection, SimpleAsyncConnection};
    if server.backend != Backend::Postgres {
        return None;
    }
    let mut conn = diesel_async::AsyncPgConnection::establish(&server.database_url)
        .await
        .unwrap();
    let id = id.as_str().unwrap();
    conn.batch_execute(&format!(
        "BEGIN; SELECT id FROM pops WHERE uuid = '{id}' FOR UPDATE;"
    ))
    .await
    .unwrap();
    Some(conn)
}

async fn another_users_writes_never_take_the_victims_lock(backend: Backend) {
    let server = TestServer::start(backend).await;
    let victim = create(&server, "s-victim", json!({"macroprocesso": "a"})).await;
    let mallory = server.user("mallory", false, None).await;
    let backup_doc = "mutation($s: String!) { backupSession(sessionId: $s) { id } }";
    let patience = std::time::Duration::from_secs(3);

    // Refused before the lock: answered while the victim's row is locked.
    let holder = hold_row_lock(&server, &victim["id"]).await;
    for _ in 0..3 {
        let answer = tokio::time::timeout(
            patience,
            mallory.data(backup_doc, json!({ "s": "s-victim" })),
        )
        .await
        .expect("another user's backup waited for the victim's row lock");
        assert_eq!(answer["backupSession"], json!([]));
        let code = tokio::time::timeout(
            patience,
            mallory.error_code(DELETE, json!({ "id": victim["id"] })),
        )
        .await
        .expect("another user's delete waited for the victim's row lock");
        assert_eq!(code, "NOT_FOUND");
    }
    drop(holder);

    // A loop of backups of the victim's session by another user, racing the victim's saves.
    let looping = {
        let mallory = mallory.clone();
        tokio::spawn(async move {
            for _ in 0..20 {
                let answer = mallory.data(backup_doc, json!({ "s": "s-victim" })).await;
                assert_eq!(answer["backupSession"], json!([]));
            }
        })
    };
    let mut current = victim.clone();
    for i in 0..5 {
        let saved = tokio::time::timeout(
            patience,
            save(
                &server,
                &current,
                json!({ "macroprocesso": format!("v{i}") }),
            ),
        )
        .await
        .expect("the victim's save waited");
        current = saved["pop"].clone();
    }
    looping.await.unwrap();
    assert_eq!(current["autosaveSequence"], 6);
    let backups = snapshots(&server, &victim["id"])
        .await
        .into_iter()
        .filter(|s| s["kind"] == "BACKUP")
        .count();
    assert_eq!(backups, 0);
}

/// An editor that works by POP id backs that POP up (`backupSession(popId:)`), and a POP's
/// snapshots can be listed by kind, with `totalCount` counting what the filter keeps.
async fn one_pop_is_backed_up_by_id_and_snapshots_are_filtered_by_kind(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = create(&server, "s-kind", json!({"nomeProcesso": "Um"})).await;
    let by_id = "mutation($p: ID, $s: String, $l: String) { backupSession(popId: $p, \
        sessionId: $s, label: $l) { id kind label pop { id } } }";
    let taken = server
        .data(by_id, json!({"p": p["id"], "l": "pela aba"}))
        .await["backupSession"]
        .clone();
    assert_eq!(taken.as_array().unwrap().len(), 1, "{taken:#}");
    assert_eq!(taken[0]["kind"], "BACKUP");
    assert_eq!(taken[0]["label"], "pela aba");
    assert_eq!(taken[0]["pop"]["id"], p["id"]);
    // Exactly one of the two ways to name what to back up.
    for variables in [json!({"p": p["id"], "s": "s-kind"}), json!({})] {
        assert_eq!(server.error_code(by_id, variables).await, "BAD_USER_INPUT");
    }
    // Someone else's POP is not theirs to back up, and nothing is taken.
    let stranger = server.user("estranha", false, None).await;
    assert_eq!(
        stranger.error_code(by_id, json!({"p": p["id"]})).await,
        "NOT_FOUND"
    );
    change_status(&server, &p["id"], "IN_REVIEW", None).await;
    change_status(&server, &p["id"], "PUBLISHED", None).await;

    let all = snapshots(&server, &p["id"]).await;
    let of_kinds = |kinds: &[&str]| -> Vec<Value> {
        all.iter()
            .filter(|s| kinds.iter().any(|k| s["kind"] == *k))
            .map(|s| s["id"].clone())
            .collect()
    };
    let filtered = "query($id: ID!, $kind: [SnapshotKind!]) { pop(id: $id) { \
        snapshots(first: 100, kind: $kind) { totalCount nodes { id kind } } } }";
    for kinds in [
        vec!["BACKUP"],
        vec!["BACKUP", "STATUS_CHANGE"],
        vec!["PRE_RESTORE"],
    ] {
        let page = server
            .data(filtered, json!({"id": p["id"], "kind": kinds}))
            .await["pop"]["snapshots"]
            .clone();
        let ids: Vec<Value> = page["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].clone())
            .collect();
        assert_eq!(ids, of_kinds(&kinds), "{kinds:?}");
        assert_eq!(page["totalCount"], ids.len(), "{kinds:?}");
    }
    assert_eq!(of_kinds(&["BACKUP"]).len(), 1);
    assert_eq!(of_kinds(&["BACKUP", "STATUS_CHANGE"]).len(), 2);
    // One value stands for a list of one, and no filter lists every snapshot.
    let one = server
        .data(filtered, json!({"id": p["id"], "kind": "BACKUP"}))
        .await;
    assert_eq!(one["pop"]["snapshots"]["totalCount"], 1);
    let unfiltered = server.data(filtered, json!({"id": p["id"]})).await;
    assert_eq!(unfiltered["pop"]["snapshots"]["totalCount"], all.len());
}

both_backends!(
    one_pop_is_backed_up_by_id_and_snapshots_are_filtered_by_kind,
    a_restore_drops_the_form_state_of_before,
    another_users_writes_never_take_the_victims_lock,
    backup_covers_the_live_pops_of_one_session,
    restore_takes_a_safety_snapshot_and_can_be_undone,
    restore_reuses_the_latest_snapshot_when_it_holds_the_current_state,
    a_failed_restore_writes_nothing,
    milestones_take_a_label_of_1_to_120_characters,
    inserting_a_step_is_one_addition,
    a_diff_of_many_edits_is_a_patch_between_the_documents,
    snapshots_of_two_pops_cannot_be_compared,
);
