//! The status workflow and soft deletion over HTTP on both backends: the allowed transitions,
//! publication (versao and its snapshot), rejection with a reason, refused transitions that write
//! nothing, and deleted POPs that stay readable but can no longer change.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::pops::{
    autosave, autosave_error, change_status, create, history, pop, restore_doc, save, snapshots,
    state, CHANGE_STATUS, DELETE,
};
use common::{Backend, TestServer};
use serde_json::{json, Value};

/// Checks that a status change wrote one write's worth of changes.
fn assert_transition(before: &Value, after: &Value, status: &str, versao: i64) {
    assert_eq!(after["status"], status);
    assert_eq!(after["document"]["status"], status.to_lowercase());
    assert_eq!(after["versao"], versao);
    assert_eq!(after["document"]["versao"], versao);
    assert_eq!(
        after["autosaveSequence"].as_i64().unwrap(),
        before["autosaveSequence"].as_i64().unwrap() + 1
    );
    // The content is untouched; the hash moved with status and versao.
    for key in ["etapas", "nome_processo", "area", "data_criacao", "uuid"] {
        assert_eq!(after["document"][key], before["document"][key], "{key}");
    }
    assert_ne!(after["integrityHash"], before["integrityHash"]);
}

async fn the_workflow_moves_forward_and_publishing_bumps_versao(backend: Backend) {
    let server = TestServer::start(backend).await;
    let draft = create(&server, "s", json!({"nomeProcesso": "A"})).await;
    let id = draft["id"].clone();

    let review = change_status(&server, &id, "IN_REVIEW", None).await;
    assert_transition(&draft, &review["pop"], "IN_REVIEW", 1);
    assert!(review["snapshot"].is_null());

    let published = change_status(&server, &id, "PUBLISHED", None).await;
    let pub_pop = &published["pop"];
    assert_transition(&review["pop"], pub_pop, "PUBLISHED", 2);
    let snap = &published["snapshot"];
    assert_eq!(snap["kind"], "STATUS_CHANGE");
    assert_eq!(snap["status"], "PUBLISHED");
    assert_eq!(snap["versao"], 2);
    assert_eq!(snap["document"], pub_pop["document"]);
    assert_eq!(snap["integrityHash"], pub_pop["integrityHash"]);
    assert_eq!(snap["autosaveSequence"], pub_pop["autosaveSequence"]);
    assert_eq!(snapshots(&server, &id).await, vec![snap.clone()]);

    let archived = change_status(&server, &id, "ARCHIVED", None).await;
    assert_transition(pub_pop, &archived["pop"], "ARCHIVED", 2);
    assert!(archived["snapshot"].is_null());
    assert_eq!(pop(&server, &id).await, archived["pop"]);

    // The history tells the story, newest first.
    let log: Vec<(Value, Value, Value, Value)> = history(&server, &id)
        .await
        .into_iter()
        .filter(|e| e["action"] == "STATUS")
        .map(|e| {
            (
                e["field"].clone(),
                e["oldValue"].clone(),
                e["newValue"].clone(),
                e["autosaveSequence"].clone(),
            )
        })
        .collect();
    let mut sorted = log.clone();
    sorted.sort_by_key(|e| std::cmp::Reverse(e.3.as_i64().unwrap()));
    assert_eq!(log, sorted);
    let status_moves: Vec<(Value, Value)> = log
        .iter()
        .filter(|e| e.0 == "status")
        .map(|e| (e.1.clone(), e.2.clone()))
        .collect();
    assert_eq!(
        status_moves,
        vec![
            (json!("published"), json!("archived")),
            (json!("in_review"), json!("published")),
            (json!("draft"), json!("in_review")),
        ]
    );
    assert!(log
        .iter()
        .any(|e| e.0 == "versao" && e.1 == 1 && e.2 == 2 && e.3 == pub_pop["autosaveSequence"]));
}

async fn sending_back_to_draft_needs_a_reason(backend: Backend) {
    let server = TestServer::start(backend).await;
    let draft = create(&server, "s", json!({"nomeProcesso": "A"})).await;
    let id = draft["id"].clone();
    let review = change_status(&server, &id, "IN_REVIEW", None).await;
    let before = state(&server, &id).await;
    for reason in [Value::Null, json!(""), json!("   ")] {
        let err = server
            .staff()
            .await
            .error(
                CHANGE_STATUS,
                json!({"id": id, "status": "DRAFT", "reason": reason}),
            )
            .await;
        assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT");
        assert_eq!(err["extensions"]["field"], "reason");
        assert_eq!(state(&server, &id).await, before);
    }
    let back = change_status(&server, &id, "DRAFT", Some("Faltam etapas")).await;
    assert_transition(&review["pop"], &back["pop"], "DRAFT", 1);
    let reason = history(&server, &id)
        .await
        .into_iter()
        .find(|e| e["field"] == "status_reason")
        .unwrap();
    assert_eq!(reason["newValue"], "Faltam etapas");
    assert_eq!(reason["action"], "STATUS");
    assert_eq!(reason["autosaveSequence"], back["pop"]["autosaveSequence"]);
    // Back in draft, autosaves are accepted again.
    let saved = save(&server, &back["pop"], json!({"nomeProcesso": "B"})).await;
    assert_eq!(saved["pop"]["status"], "DRAFT");
}

async fn other_transitions_are_refused_and_write_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = create(&server, "s", json!({"nomeProcesso": "A"})).await["id"].clone();
    let refused = |from: &'static str| -> Vec<&'static str> {
        match from {
            "DRAFT" => vec!["DRAFT", "PUBLISHED", "ARCHIVED"],
            "IN_REVIEW" => vec!["IN_REVIEW", "ARCHIVED"],
            "PUBLISHED" => vec!["DRAFT", "IN_REVIEW", "PUBLISHED"],
            _ => vec!["DRAFT", "IN_REVIEW", "PUBLISHED", "ARCHIVED"],
        }
    };
    for (from, next) in [
        ("DRAFT", Some("IN_REVIEW")),
        ("IN_REVIEW", Some("PUBLISHED")),
        ("PUBLISHED", Some("ARCHIVED")),
        ("ARCHIVED", None),
    ] {
        let before = state(&server, &id).await;
        assert_eq!(before["pop"]["status"], from);
        for to in refused(from) {
            let err = server
                .error(
                    CHANGE_STATUS,
                    json!({"id": id, "status": to, "reason": "porque sim"}),
                )
                .await;
            assert_eq!(
                err["extensions"]["code"], "INVALID_TRANSITION",
                "{from} -> {to}"
            );
            assert_eq!(state(&server, &id).await, before, "{from} -> {to}");
        }
        if let Some(next) = next {
            change_status(&server, &id, next, None).await;
        }
    }
    // An unknown POP and a malformed id.
    let err = server
        .error(
            CHANGE_STATUS,
            json!({"id": "00000000-0000-4000-8000-000000000000", "status": "IN_REVIEW"}),
        )
        .await;
    assert_eq!(err["extensions"]["code"], "NOT_FOUND");
    let err = server
        .error(CHANGE_STATUS, json!({"id": "x", "status": "IN_REVIEW"}))
        .await;
    assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(err["extensions"]["field"], "popId");
}

async fn delete_is_soft(backend: Backend) {
    let server = TestServer::start(backend).await;
    let doomed = create(
        &server,
        "s",
        json!({"nomeProcesso": "A", "pontosAtencao": "p"}),
    )
    .await;
    let kept = create(&server, "other", json!({"nomeProcesso": "B"})).await;
    let id = doomed["id"].clone();

    let deleted = server.data(DELETE, json!({"id": id})).await["deletePop"].clone();
    assert_eq!(deleted["id"], id);
    assert!(deleted["deletedAt"].is_string());

    let list = |include: bool| {
        let server = &server;
        async move {
            server
                .data(
                    "query($inc: Boolean!) { pops(includeDeleted: $inc) { totalCount nodes { id } } }",
                    json!({"inc": include}),
                )
                .await["pops"]
                .clone()
        }
    };
    assert_eq!(list(false).await["totalCount"], 1);
    assert_eq!(list(false).await["nodes"], json!([{"id": kept["id"]}]));
    assert_eq!(list(true).await["totalCount"], 2);

    let after = pop(&server, &id).await;
    assert_eq!(after["deletedAt"], deleted["deletedAt"]);
    assert_eq!(after["document"], doomed["document"], "content kept");
    assert_eq!(after["integrityHash"], doomed["integrityHash"]);
    let log = history(&server, &id).await;
    assert_eq!(log[0]["action"], "DELETE");
    assert_eq!(log[0]["field"], "deleted_at");
    assert_eq!(log[0]["autosaveSequence"], after["autosaveSequence"]);

    // A deleted POP is locked: autosave, status changes and restores are refused.
    let before = state(&server, &id).await;
    let err = autosave_error(
        &server,
        json!({"popId": id, "sessionId": "s", "content": {"nomeProcesso": "C"}}),
    )
    .await;
    assert_eq!(err["extensions"]["code"], "POP_LOCKED");
    assert_eq!(state(&server, &id).await, before);
    let err = server
        .error(CHANGE_STATUS, json!({"id": id, "status": "IN_REVIEW"}))
        .await;
    assert_eq!(err["extensions"]["code"], "POP_LOCKED");
    assert_eq!(state(&server, &id).await, before);
    // Deleting again changes nothing.
    let again = server.data(DELETE, json!({"id": id})).await["deletePop"].clone();
    assert_eq!(again["deletedAt"], deleted["deletedAt"]);
    assert_eq!(state(&server, &id).await, before);

    // The session's next autosave starts a new POP.
    let fresh = autosave(
        &server,
        json!({"sessionId": "s", "content": {"nomeProcesso": "C"}}),
    )
    .await;
    assert_ne!(fresh["pop"]["id"], id);
    assert_eq!(state(&server, &id).await["pop"], before["pop"]);
}

async fn published_pops_are_archived_not_deleted(backend: Backend) {
    let server = TestServer::start(backend).await;
    let created = create(&server, "s", json!({"nomeProcesso": "A"})).await;
    let id = created["id"].clone();
    let snap_source = common::pops::backup(&server, "s", None).await.remove(0);
    change_status(&server, &id, "IN_REVIEW", None).await;
    change_status(&server, &id, "PUBLISHED", None).await;
    let before = state(&server, &id).await;
    let err = server.error(DELETE, json!({"id": id})).await;
    assert_eq!(err["extensions"]["code"], "POP_LOCKED");
    assert_eq!(state(&server, &id).await, before);
    let err = server
        .error(
            &restore_doc(),
            json!({"id": snap_source["id"], "hash": null}),
        )
        .await;
    assert_eq!(err["extensions"]["code"], "POP_LOCKED");
    assert_eq!(state(&server, &id).await, before);
    // Archived, it may be deleted.
    change_status(&server, &id, "ARCHIVED", None).await;
    let deleted = server.data(DELETE, json!({"id": id})).await;
    assert!(deleted["deletePop"]["deletedAt"].is_string());
}

/// `statusReason` says why a POP was sent back, until its status changes again, in one query
/// for a page of POPs as for one.
async fn a_pop_says_why_it_was_sent_back(backend: Backend) {
    let server = TestServer::start(backend).await;
    let reason_of = "query($id: ID!) { pop(id: $id) { status statusReason } }";
    let listed = "{ pops(first: 10) { nodes { id statusReason } } }";
    let p = create(&server, "s-reason", json!({"nomeProcesso": "Um"})).await;
    let other = create(&server, "s-other", json!({"nomeProcesso": "Dois"})).await;
    let read = |id: Value| {
        let server = &server;
        async move { server.data(reason_of, json!({"id": id})).await["pop"].clone() }
    };
    assert_eq!(read(p["id"].clone()).await["statusReason"], Value::Null);

    change_status(&server, &p["id"], "IN_REVIEW", None).await;
    assert_eq!(read(p["id"].clone()).await["statusReason"], Value::Null);
    change_status(&server, &p["id"], "DRAFT", Some("  Falta a base legal.  ")).await;
    let now = read(p["id"].clone()).await;
    assert_eq!(now["status"], "DRAFT");
    assert_eq!(now["statusReason"], "Falta a base legal.");
    // The author's edits keep the reason in view; only a status change replaces it.
    let current = pop(&server, &p["id"]).await;
    save(&server, &current, json!({"nomeProcesso": "Um, corrigido"})).await;
    assert_eq!(
        read(p["id"].clone()).await["statusReason"],
        "Falta a base legal."
    );

    let page = server.data(listed, json!({})).await;
    let reasons: Vec<(Value, Value)> = page["pops"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].clone(), n["statusReason"].clone()))
        .collect();
    assert!(
        reasons.contains(&(p["id"].clone(), json!("Falta a base legal."))),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&(other["id"].clone(), Value::Null)),
        "{reasons:?}"
    );

    change_status(&server, &p["id"], "IN_REVIEW", None).await;
    assert_eq!(read(p["id"].clone()).await["statusReason"], Value::Null);
}

both_backends!(
    a_pop_says_why_it_was_sent_back,
    the_workflow_moves_forward_and_publishing_bumps_versao,
    sending_back_to_draft_needs_a_reason,
    other_transitions_are_refused_and_write_nothing,
    delete_is_soft,
    published_pops_are_archived_not_deleted,
);
