//! `clonePop` over HTTP on both backends: a new draft activity from a published or in-review POP,
//! owned by whoever clones, with the next sibling code, fresh step ids and its source in the
//! history.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::pops::{change_status, create, history};
use common::{Backend, TestServer};
use serde_json::{json, Value};

const CLONE: &str = "mutation($id: ID!, $name: String!) { clonePop(popId: $id, name: $name) { \
    id sessionId status versao nomeProcesso codigoProcesso etapas integrityHash document \
    createdBy { username } } }";

async fn clones_are_new_drafts_with_the_next_sibling_code(backend: Backend) {
    let server = TestServer::start(backend).await;
    let staff = server.staff().await;
    staff
        .data(
            "mutation($input: CatalogueAreaInput!) { createArea(input: $input) { codigo } }",
            json!({"input": {"codigo": "DIGEP", "nome": "Gestão de Pessoas", "slug": "digep",
                             "prefixo": "05"}}),
        )
        .await;
    let steps = json!([{"id": "passo-1", "descricao": "Receber"}, {"descricao": "Analisar"}]);
    let source = create(
        &server,
        "s",
        json!({"nomeProcesso": "Conceder férias", "codigoProcesso": "05.01.02.03.001",
               "area": {"codigo": "DIGEP", "nome": "DIGEP"}, "etapas": steps,
               "entregaEsperada": "Férias concedidas"}),
    )
    .await;
    let other = server.user("colega", false, None).await;

    // A draft cannot be cloned, and someone else's draft is not even visible.
    let err = server
        .error(
            CLONE,
            json!({"id": source["id"], "name": "Conceder licença"}),
        )
        .await;
    assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(err["extensions"]["field"], "popId");
    let err = other
        .error(
            CLONE,
            json!({"id": source["id"], "name": "Conceder licença"}),
        )
        .await;
    assert_eq!(err["extensions"]["code"], "NOT_FOUND");

    change_status(&server, &source["id"], "IN_REVIEW", None).await;
    let err = server
        .error(CLONE, json!({"id": source["id"], "name": "Curt"}))
        .await;
    assert_eq!(
        (&err["extensions"]["code"], &err["extensions"]["field"]),
        (&json!("BAD_USER_INPUT"), &json!("name"))
    );
    let first = server
        .data(
            CLONE,
            json!({"id": source["id"], "name": "Conceder licença"}),
        )
        .await["clonePop"]
        .clone();
    assert_eq!(first["status"], "DRAFT");
    assert_eq!(first["versao"], 0);
    assert_eq!(first["nomeProcesso"], "Conceder licença");
    assert_eq!(first["codigoProcesso"], "05.01.02.03.002");
    assert_eq!(first["document"]["entrega_esperada"], "Férias concedidas");
    assert_eq!(
        first["integrityHash"].as_str().unwrap(),
        mapagov::domain::hash::integrity_hash(&first["document"])
    );
    let source_ids: Vec<&Value> = steps.as_array().unwrap().iter().map(|s| &s["id"]).collect();
    let clone_steps = first["etapas"].as_array().unwrap();
    assert_eq!(clone_steps.len(), 2);
    for step in clone_steps {
        assert!(step["id"].is_string(), "{step}");
        assert!(!source_ids.contains(&&step["id"]), "{step}");
    }
    assert_ne!(clone_steps[0]["id"], clone_steps[1]["id"]);

    // Once published, anyone signed in may clone it; the clone is theirs, with the next code.
    change_status(&server, &source["id"], "PUBLISHED", None).await;
    let second = other
        .data(CLONE, json!({"id": source["id"], "name": "Conceder abono"}))
        .await["clonePop"]
        .clone();
    assert_eq!(second["createdBy"]["username"], "colega");
    assert_eq!(second["codigoProcesso"], "05.01.02.03.003");
    assert_ne!(second["sessionId"], first["sessionId"]);

    // The history says where it came from.
    let log = history(&server, &first["id"]).await;
    let origin = log
        .iter()
        .find(|entry| entry["field"] == "cloned_from")
        .unwrap_or_else(|| panic!("{log:#?}"));
    assert_eq!(origin["action"], "CREATE");
    assert_eq!(origin["newValue"]["popId"], source["id"]);
    assert_eq!(origin["newValue"]["codigoProcesso"], "05.01.02.03.001");
}

both_backends!(clones_are_new_drafts_with_the_next_sibling_code);
