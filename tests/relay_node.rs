//! Relay object identification on both backends: `node(id:)` refetches POPs, snapshots,
//! history entries and published versions by the ids the lists return, answers `null` for what the caller may not read,
//! and the snapshot arguments still take the plain numbers snapshot ids were before.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::pops::{
    backup, create, history, restore_doc, save, snapshot, HISTORY_FIELDS, POP_FIELDS,
    SNAPSHOT_FIELDS,
};
use common::{Backend, TestServer};
use mapagov::graphql::node::GlobalId;
use serde_json::{json, Value};

/// Every node field a test compares, whatever the node's type.
fn node_doc() -> String {
    format!(
        "query($id: ID!) {{ node(id: $id) {{ __typename id ...PopFields ...SnapshotFields \
         ...HistoryFields }} }} {POP_FIELDS} {SNAPSHOT_FIELDS} {HISTORY_FIELDS}"
    )
}

async fn node(client: &common::Client, id: &Value) -> Value {
    client.data(&node_doc(), json!({ "id": id })).await["node"].clone()
}

/// The row number inside a snapshot's global id.
fn snapshot_number(id: &Value) -> i64 {
    match GlobalId::decode(id.as_str().unwrap()) {
        Some(GlobalId::Snapshot(number)) => number,
        other => panic!("not a snapshot id: {id} ({other:?})"),
    }
}

async fn node_refetches_pops_snapshots_and_history_entries(backend: Backend) {
    let server = TestServer::start(backend).await;
    let created = create(&server, "relay", json!({"nomeProcesso": "Relay"})).await;
    let saved = save(&server, &created, json!({"nomeProcesso": "Relay 2"})).await;
    let kept = backup(&server, "relay", Some("kept")).await;
    assert_eq!(kept.len(), 1);
    let kept = &kept[0];

    // A POP: its id is its UUID, and node answers what pop(id:) answers.
    let pop = node(&server, &created["id"]).await;
    assert_eq!(pop["__typename"], "Pop");
    assert_eq!(pop["id"], created["id"]);
    assert_eq!(pop["nomeProcesso"], "Relay 2");
    assert_eq!(pop["integrityHash"], saved["pop"]["integrityHash"]);

    // A snapshot: an opaque id, not the row number, and the same snapshot as snapshot(id:).
    assert!(
        kept["id"].as_str().unwrap().parse::<i64>().is_err(),
        "{kept}"
    );
    let refetched = node(&server, &kept["id"]).await;
    assert_eq!(refetched["__typename"], "Snapshot");
    let mut without_typename = refetched.as_object().unwrap().clone();
    without_typename.remove("__typename");
    assert_eq!(
        Value::Object(without_typename),
        snapshot(&server, &kept["id"]).await
    );

    // Restoring it writes a history entry that names the snapshot by the same global id.
    let restored = server
        .data(
            &restore_doc(),
            json!({"id": kept["id"], "hash": saved["pop"]["integrityHash"]}),
        )
        .await;
    // Restoring it again changes nothing: the entry that says so names it the same way.
    server
        .data(
            &restore_doc(),
            json!({"id": kept["id"], "hash": restored["restoreSnapshot"]["pop"]["integrityHash"]}),
        )
        .await;
    let entries = history(&server, &created["id"]).await;
    let unchanged = entries
        .iter()
        .find(|e| e["field"] == "snapshot")
        .expect("the entry of a restore that changed nothing");
    assert_eq!(unchanged["newValue"], kept["id"]);
    assert_eq!(unchanged["snapshotId"], kept["id"]);
    let restore = entries
        .iter()
        .find(|e| e["action"] == "RESTORE")
        .expect("a restore entry");
    assert_eq!(restore["snapshotId"], kept["id"]);
    // Every history entry refetches itself.
    for entry in &entries {
        let refetched = node(&server, &entry["id"]).await;
        assert_eq!(refetched["__typename"], "HistoryEntry", "{entry}");
        for field in [
            "id",
            "action",
            "field",
            "oldValue",
            "newValue",
            "autosaveSequence",
        ] {
            assert_eq!(refetched[field], entry[field], "{field} of {entry}");
        }
    }

    // The plain numbers of before are still accepted where snapshot ids are taken.
    let number = snapshot_number(&kept["id"]).to_string();
    assert_eq!(snapshot(&server, &json!(number)).await["id"], kept["id"]);
    let diff = server
        .data(
            "query($from: ID!) { snapshotDiff(fromId: $from) { from { id } } }",
            json!({"from": number}),
        )
        .await;
    assert_eq!(diff["snapshotDiff"]["from"]["id"], kept["id"]);
    let marked = server
        .data(
            "mutation($id: ID!) { markMilestone(snapshotId: $id, label: \"v1\") { id } }",
            json!({"id": number}),
        )
        .await;
    assert_eq!(marked["markMilestone"]["id"], kept["id"]);

    // Someone who may not read the POP gets null for each of its nodes, as for a missing one.
    let other = server.user("other", false, None).await;
    for id in [&created["id"], &kept["id"], &entries[0]["id"]] {
        assert!(node(&other, id).await.is_null(), "{id}");
    }
    let missing = GlobalId::Snapshot(snapshot_number(&kept["id"]) + 1_000_000).encode();
    assert!(node(&server, &json!(missing.0)).await.is_null());
    let missing = GlobalId::HistoryEntry(i64::MAX).encode();
    assert!(node(&server, &json!(missing.0)).await.is_null());

    // What is not one of this API's ids is bad input.
    for bad in ["42", "not an id", "QXJlYTox" /* "Area:1" */, ""] {
        let error = server.error(&node_doc(), json!({"id": bad})).await;
        assert_eq!(
            error["extensions"]["code"], "BAD_USER_INPUT",
            "{bad}: {error}"
        );
    }
}

/// A published version refetches itself by the id `publishedVersions` gives, for every signed-in
/// user (published versions are not private); once its POP is deleted it is `null`, as the
/// catalogue no longer answers it.
async fn node_refetches_published_versions(backend: Backend) {
    let server = TestServer::start(backend).await;
    let created = create(&server, "versions", json!({"nomeProcesso": "Publicado"})).await;
    let staff = server.staff().await;
    let status = "mutation($id: ID!, $s: PopStatus!) { changePopStatus(popId: $id, status: $s) \
                  { pop { id } } }";
    for to in ["IN_REVIEW", "PUBLISHED"] {
        staff
            .data(status, json!({"id": created["id"], "s": to}))
            .await;
    }
    let listed = server
        .data(
            "query($id: ID!) { pop(id: $id) { publishedVersions { id versao isCurrent } } }",
            json!({"id": created["id"]}),
        )
        .await;
    let version = &listed["pop"]["publishedVersions"][0];
    assert!(matches!(
        GlobalId::decode(version["id"].as_str().unwrap()),
        Some(GlobalId::PublishedVersion(_))
    ));
    let doc = "query($id: ID!) { node(id: $id) { __typename id \
               ... on PublishedVersion { popId versao isCurrent nomeProcesso } } }";
    let other = server.user("reader", false, None).await;
    for client in [&*server, &other] {
        let refetched = client.data(doc, json!({"id": version["id"]})).await["node"].clone();
        assert_eq!(
            refetched,
            json!({"__typename": "PublishedVersion", "id": version["id"],
                   "popId": created["id"], "versao": version["versao"], "isCurrent": true,
                   "nomeProcesso": "Publicado"})
        );
    }
    staff
        .data(status, json!({"id": created["id"], "s": "ARCHIVED"}))
        .await;
    staff
        .data(
            "mutation($id: ID!) { deletePop(popId: $id) { id } }",
            json!({"id": created["id"]}),
        )
        .await;
    let gone = server.data(doc, json!({"id": version["id"]})).await;
    assert!(gone["node"].is_null(), "{gone}");
}

both_backends!(
    node_refetches_pops_snapshots_and_history_entries,
    node_refetches_published_versions
);
