//! Stale autosaves merged field by field, over HTTP on both backends: edits of different fields
//! and steps from one base all stay (one after another and concurrently), overlapping edits are
//! `CONFLICT` with each path's base, server and client values and who changed it, the opt-out
//! keeps the old refusal, bases are rebuilt across status changes, and steps get stable ids.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::pops::{assert_consistent, autosave, change_status, create, pop, state, POP_FIELDS};
use common::{Backend, Client, TestServer};
use serde_json::{json, Value};

/// The autosave mutation with `mergedPaths`.
fn autosave_doc() -> String {
    format!(
        "mutation($input: AutosavePopInput!) {{ autosavePop(input: $input) {{ changed \
         integrityHash autosaveSequence mergedPaths pop {{ ...PopFields }} }} }} {POP_FIELDS}"
    )
}

/// A step with a stable id.
fn step(id: &str, descricao: &str) -> Value {
    json!({"id": id, "numero": 1, "descricao": descricao, "operador": "Analista"})
}

/// A POP with three steps and a few fields, as tester.
async fn base_pop(server: &TestServer) -> Value {
    create(
        server,
        "tabs",
        json!({
            "macroprocesso": "Gestão",
            "pontosAtencao": "Conferir",
            "entregaEsperada": "Pensão",
            "sistemas": ["SEI", "SIAPE"],
            "operadores": "Analista, Chefe",
            "etapas": [step("a", "abrir"), step("b", "analisar"), step("c", "fechar")],
        }),
    )
    .await
}

/// The input of a save edited from `base` (its hash and sequence).
fn input_from(base: &Value, content: Value) -> Value {
    json!({
        "popId": base["id"],
        "sessionId": base["sessionId"],
        "expectedHash": base["integrityHash"],
        "baseSequence": base["autosaveSequence"],
        "content": content,
    })
}

/// A save as `client` that may fail: the whole response body.
async fn try_save(client: &Client, input: Value) -> Value {
    client.gql(&autosave_doc(), json!({ "input": input })).await
}

/// A save as `client` that must succeed: the `autosavePop` payload.
async fn save_as(client: &Client, input: Value) -> Value {
    let body = try_save(client, input).await;
    assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
    let payload = body["data"]["autosavePop"].clone();
    assert_consistent(&payload["pop"]);
    payload
}

async fn stale_edits_of_different_fields_and_steps_merge(backend: Backend) {
    let server = TestServer::start(backend).await;
    let base = base_pop(&server).await;
    // Tab 1 edits step b and the points of attention, and adds a system.
    let mut steps1 = base["etapas"].clone();
    steps1[1]["descricao"] = json!("analisar com cuidado");
    let first = save_as(
        &server,
        input_from(
            &base,
            json!({"etapas": steps1, "pontosAtencao": "Conferir tudo", "sistemas": ["SEI", "SIAPE", "SOUGOV"]}),
        ),
    )
    .await;
    assert_eq!(first["mergedPaths"], json!([]));
    // Tab 2, still on the base: edits step a, adds step d after it, removes a system, changes
    // the macroprocess and adds an operator.
    let steps2 = json!([
        step("a", "abrir o processo"),
        step("d", "registrar"),
        step("b", "analisar"),
        step("c", "fechar")
    ]);
    let second = save_as(
        &server,
        input_from(
            &base,
            json!({"etapas": steps2, "macroprocesso": "Gestão de Benefícios",
                   "sistemas": ["SEI"], "operadores": "Analista, Chefe, Diretor"}),
        ),
    )
    .await;
    assert_eq!(second["changed"], true);
    assert_eq!(second["autosaveSequence"], 3);
    let merged = &second["pop"];
    assert_eq!(
        merged["etapas"],
        json!([
            step("a", "abrir o processo"),
            step("d", "registrar"),
            step("b", "analisar com cuidado"),
            step("c", "fechar")
        ])
    );
    assert_eq!(merged["pontosAtencao"], "Conferir tudo");
    assert_eq!(merged["macroprocesso"], "Gestão de Benefícios");
    assert_eq!(merged["sistemas"], json!(["SEI", "SOUGOV"]));
    assert_eq!(merged["operadores"], "Analista, Chefe, Diretor");
    assert_eq!(
        second["mergedPaths"],
        json!([
            "/etapas/0",
            "/etapas/1",
            "/macroprocesso",
            "/operadores",
            "/sistemas/1"
        ])
    );
    // What was returned is what is stored.
    assert_eq!(&pop(&server, &base["id"]).await, merged);
    server.stop().await;
}

async fn an_overlapping_edit_is_a_conflict_with_paths_and_author(backend: Backend) {
    let server = TestServer::start(backend).await;
    let base = base_pop(&server).await;
    let staff = server.staff().await;
    let mut steps1 = base["etapas"].clone();
    steps1[2]["descricao"] = json!("arquivar");
    save_as(
        staff,
        input_from(
            &base,
            json!({"pontosAtencao": "Servidor", "etapas": steps1}),
        ),
    )
    .await;
    let before = state(&server, &base["id"]).await;
    let mut steps2 = base["etapas"].clone();
    steps2[2]["descricao"] = json!("encerrar");
    steps2[0]["descricao"] = json!("abrir já");
    let body = try_save(
        &server,
        input_from(
            &base,
            json!({"pontosAtencao": "Cliente", "etapas": steps2, "macroprocesso": "Outro"}),
        ),
    )
    .await;
    let error = &body["errors"][0];
    assert_eq!(error["extensions"]["code"], "CONFLICT", "{body:#}");
    assert_eq!(error["extensions"]["autosaveSequence"], 2);
    let conflicts = error["extensions"]["conflicts"].as_array().unwrap();
    let paths: Vec<&str> = conflicts
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/etapas/2/descricao", "/pontos_atencao"]);
    let text = &conflicts[1];
    assert_eq!(text["base"], "Conferir");
    assert_eq!(text["server"], "Servidor");
    assert_eq!(text["client"], "Cliente");
    assert_eq!(text["changedBy"]["username"], "staff");
    assert_eq!(text["changedAtSequence"], 2);
    assert!(text["changedAt"].as_str().is_some());
    assert_eq!(conflicts[0]["server"], "arquivar");
    assert_eq!(conflicts[0]["client"], "encerrar");
    // Nothing was written, not even the parts that did not overlap.
    assert_eq!(state(&server, &base["id"]).await, before);
    server.stop().await;
}

async fn an_edited_step_deleted_on_the_other_side_is_a_conflict(backend: Backend) {
    let server = TestServer::start(backend).await;
    let base = base_pop(&server).await;
    let without_b = json!([base["etapas"][0], base["etapas"][2]]);
    save_as(&server, input_from(&base, json!({"etapas": without_b}))).await;
    let mut edited = base["etapas"].clone();
    edited[1]["descricao"] = json!("analisar de novo");
    let body = try_save(&server, input_from(&base, json!({"etapas": edited}))).await;
    let error = &body["errors"][0];
    assert_eq!(error["extensions"]["code"], "CONFLICT");
    let conflict = &error["extensions"]["conflicts"][0];
    assert_eq!(conflict["path"], "/etapas/1");
    assert_eq!(conflict["server"], Value::Null);
    assert_eq!(conflict["client"]["descricao"], "analisar de novo");
    server.stop().await;
}

async fn refusing_or_no_base_sequence_keeps_the_plain_conflict(backend: Backend) {
    let server = TestServer::start(backend).await;
    let base = base_pop(&server).await;
    save_as(&server, input_from(&base, json!({"pontosAtencao": "x"}))).await;
    let mut refuse = input_from(&base, json!({"macroprocesso": "y"}));
    refuse["onStale"] = json!("REFUSE");
    let mut no_base = input_from(&base, json!({"macroprocesso": "y"}));
    no_base.as_object_mut().unwrap().remove("baseSequence");
    for input in [refuse, no_base] {
        let body = try_save(&server, input).await;
        let ext = &body["errors"][0]["extensions"];
        assert_eq!(ext["code"], "CONFLICT", "{body:#}");
        assert_eq!(ext["autosaveSequence"], 2);
        assert!(ext.get("conflicts").is_none());
    }
    server.stop().await;
}

async fn a_base_that_cannot_be_rebuilt_is_base_unavailable(backend: Backend) {
    let server = TestServer::start(backend).await;
    let base = base_pop(&server).await;
    let next = save_as(&server, input_from(&base, json!({"pontosAtencao": "x"}))).await;
    // The current sequence, one not yet written, one before any, and sequence 1 with a hash
    // it never had.
    let other_hash = "0".repeat(64);
    for (sequence, hash) in [(2, None), (5, None), (0, None), (1, Some(&other_hash))] {
        let mut input = input_from(&base, json!({"macroprocesso": "y"}));
        input["baseSequence"] = json!(sequence);
        if let Some(hash) = hash {
            input["expectedHash"] = json!(hash);
        }
        let body = try_save(&server, input).await;
        let ext = &body["errors"][0]["extensions"];
        assert_eq!(ext["code"], "BASE_UNAVAILABLE", "{body:#}");
        assert_eq!(ext["currentHash"], next["integrityHash"]);
    }
    server.stop().await;
}

async fn the_base_is_rebuilt_across_status_changes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let base = base_pop(&server).await;
    // Submitted for review (a write: sequence 2), then edited by the reviewer (sequence 3).
    change_status(&server, &base["id"], "IN_REVIEW", None).await;
    let reviewed = pop(&server, &base["id"]).await;
    save_as(
        server.staff().await,
        input_from(&reviewed, json!({"entregaEsperada": "Pensão concedida"})),
    )
    .await;
    // The author's tab still holds the draft of sequence 1.
    let merged = save_as(
        &server,
        input_from(&base, json!({"pontosAtencao": "Prazos"})),
    )
    .await;
    assert_eq!(merged["mergedPaths"], json!(["/pontos_atencao"]));
    assert_eq!(merged["pop"]["entregaEsperada"], "Pensão concedida");
    assert_eq!(merged["pop"]["pontosAtencao"], "Prazos");
    assert_eq!(merged["pop"]["status"], "IN_REVIEW");
    server.stop().await;
}

async fn concurrent_edits_of_different_fields_and_steps_lose_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let base = base_pop(&server).await;
    let mut edits: Vec<Value> = (0..3)
        .map(|i| {
            let mut steps = base["etapas"].clone();
            steps[i]["descricao"] = json!(format!("etapa {i} editada"));
            json!({"etapas": steps})
        })
        .collect();
    edits.push(json!({"macroprocesso": "M"}));
    edits.push(json!({"pontosAtencao": "P"}));
    edits.push(json!({"entregaEsperada": "E"}));
    edits.push(json!({"sistemas": ["SEI", "SIAPE", "NOVO"]}));
    let tasks: Vec<_> = edits
        .into_iter()
        .map(|content| {
            let client: Client = (*server).clone();
            let input = input_from(&base, content);
            tokio::spawn(async move { save_as(&client, input).await })
        })
        .collect();
    let mut merged_saves = 0;
    for task in tasks {
        let payload = task.await.unwrap();
        if payload["mergedPaths"] != json!([]) {
            merged_saves += 1;
        }
    }
    // One save found the base current; every other one was merged.
    assert_eq!(merged_saves, 6);
    let now = pop(&server, &base["id"]).await;
    assert_eq!(now["autosaveSequence"], 8);
    for i in 0..3 {
        assert_eq!(now["etapas"][i]["descricao"], format!("etapa {i} editada"));
        assert_eq!(now["etapas"][i]["id"], base["etapas"][i]["id"]);
    }
    assert_eq!(now["macroprocesso"], "M");
    assert_eq!(now["pontosAtencao"], "P");
    assert_eq!(now["entregaEsperada"], "E");
    assert_eq!(now["sistemas"], json!(["SEI", "SIAPE", "NOVO"]));
    server.stop().await;
}

async fn concurrent_edits_of_one_field_have_one_winner(backend: Backend) {
    let server = TestServer::start(backend).await;
    let base = base_pop(&server).await;
    let tasks: Vec<_> = (0..5)
        .map(|i| {
            let client: Client = (*server).clone();
            let input = input_from(&base, json!({"pontosAtencao": format!("versão {i}")}));
            tokio::spawn(async move { try_save(&client, input).await })
        })
        .collect();
    let mut winners = Vec::new();
    let mut conflicts = 0;
    for task in tasks {
        let body = task.await.unwrap();
        match body.get("errors") {
            None => winners.push(body["data"]["autosavePop"]["pop"]["pontosAtencao"].clone()),
            Some(errors) => {
                let ext = &errors[0]["extensions"];
                assert_eq!(ext["code"], "CONFLICT", "{body:#}");
                assert_eq!(ext["conflicts"][0]["path"], "/pontos_atencao");
                assert_eq!(ext["conflicts"][0]["base"], "Conferir");
                assert_eq!(ext["conflicts"].as_array().unwrap().len(), 1);
                conflicts += 1;
            }
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(conflicts, 4);
    let now = pop(&server, &base["id"]).await;
    assert_eq!(now["pontosAtencao"], winners[0]);
    assert_eq!(now["autosaveSequence"], 2);
    server.stop().await;
}

async fn steps_get_stable_ids_on_write(backend: Backend) {
    let server = TestServer::start(backend).await;
    let created = create(
        &server,
        "legacy",
        json!({"etapas": [{"numero": 1, "descricao": "a"}, {"numero": 2, "descricao": "b"}]}),
    )
    .await;
    let ids: Vec<&str> = created["etapas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.iter().all(|id| uuid::Uuid::parse_str(id).is_ok()));
    assert_ne!(ids[0], ids[1]);
    // A client that does not know about ids sends its steps by position: they keep theirs.
    let saved = autosave(
        &server,
        json!({"popId": created["id"], "sessionId": "legacy",
               "expectedHash": created["integrityHash"],
               "content": {"etapas": [{"numero": 1, "descricao": "a!"}, {"numero": 2, "descricao": "b"}]}}),
    )
    .await;
    assert_eq!(saved["pop"]["etapas"][0]["id"], ids[0]);
    assert_eq!(saved["pop"]["etapas"][1]["id"], ids[1]);
    assert_eq!(saved["pop"]["etapas"][0]["descricao"], "a!");
    server.stop().await;
}

both_backends!(
    stale_edits_of_different_fields_and_steps_merge,
    an_overlapping_edit_is_a_conflict_with_paths_and_author,
    an_edited_step_deleted_on_the_other_side_is_a_conflict,
    refusing_or_no_base_sequence_keeps_the_plain_conflict,
    a_base_that_cannot_be_rebuilt_is_base_unavailable,
    the_base_is_rebuilt_across_status_changes,
    concurrent_edits_of_different_fields_and_steps_lose_nothing,
    concurrent_edits_of_one_field_have_one_winner,
    steps_get_stable_ids_on_write,
);
