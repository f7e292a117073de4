//! `autosavePop` over HTTP on both backends: creation and lookup, partial updates, the legacy
//! hash, the change log, periodic snapshots, conflicts, idempotency, locks, bad input, and
//! concurrent writers that must not lose an update.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::pops::{
    all_pops, autosave, autosave_error, change_status, create, history, pop, save, snapshots,
    state, steps, DELETE,
};
use common::{Backend, TestServer};
use mapagov::domain::hash::integrity_hash;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// A POP with something in every content field.
fn full_content() -> Value {
    json!({
        "nomeUsuario": "Maria",
        "area": {"codigo": "COATE", "nome": "Coordenação de Atendimento"},
        "macroprocesso": "Gestão de Benefícios",
        "codigoProcesso": "7.2.1.1.1",
        "nomeProcesso": "Conceder pensão",
        "processoEspecifico": "Pensão por morte",
        "entregaEsperada": "Pensão concedida",
        "dispositivosNormativos": "Lei 8.112/90 | Decreto 1.234",
        "sistemas": ["SIAPE", "SEI"],
        "operadores": "Analista, Chefe",
        "pontosAtencao": "Conferir documentos",
        "etapas": steps(3),
        "documentosUtilizados": [{"tipo_documento": "RG", "tipo_uso": "entrada", "obrigatorio": true,
                                   "descricao": "Identidade", "sistema": "SEI"}],
        "fluxosEntrada": ["Protocolo"],
        "fluxosSaida": ["Arquivo"],
    })
}

/// The history entries written at one autosave sequence, as `(field, old, new)`.
fn entries_at(history: &[Value], sequence: i64) -> BTreeSet<(String, String, String)> {
    history
        .iter()
        .filter(|e| e["autosaveSequence"] == sequence)
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["oldValue"].to_string(),
                e["newValue"].to_string(),
            )
        })
        .collect()
}

fn entry(field: &str, old: Value, new: Value) -> (String, String, String) {
    (field.to_owned(), old.to_string(), new.to_string())
}

async fn creates_a_draft_then_finds_the_sessions_newest_pop(backend: Backend) {
    let server = TestServer::start(backend).await;
    let first = autosave(
        &server,
        json!({"sessionId": "user_1", "content": {"nomeProcesso": "Conceder pensão"}}),
    )
    .await;
    assert_eq!(first["changed"], true);
    assert_eq!(first["autosaveSequence"], 1);
    let p1 = &first["pop"];
    assert_eq!(p1["status"], "DRAFT");
    assert_eq!(p1["versao"], 1);
    assert_eq!(p1["sessionId"], "user_1");
    assert_eq!(p1["nomeProcesso"], "Conceder pensão");
    let log = history(&server, &p1["id"]).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["action"], "CREATE");
    assert_eq!(log[0]["field"], "nome_processo");
    assert_eq!(log[0]["oldValue"], Value::Null);
    assert_eq!(log[0]["newValue"], "Conceder pensão");
    assert_eq!(log[0]["autosaveSequence"], 1);

    // Without popId, the session's POP is found and updated.
    let second = autosave(
        &server,
        json!({"sessionId": "user_1", "content": {"macroprocesso": "Benefícios"}}),
    )
    .await;
    assert_eq!(second["pop"]["id"], p1["id"]);
    assert_eq!(second["autosaveSequence"], 2);
    assert_eq!(second["pop"]["nomeProcesso"], "Conceder pensão");
    assert_eq!(second["pop"]["macroprocesso"], "Benefícios");

    // Another session gets its own POP.
    let other = create(&server, "user_2", json!({"nomeProcesso": "Outro"})).await;
    assert_ne!(other["id"], p1["id"]);

    // A deleted POP is skipped: the next autosave of its session starts a new draft, which is
    // then the one found.
    server.data(DELETE, json!({"id": p1["id"]})).await;
    let fresh = autosave(
        &server,
        json!({"sessionId": "user_1", "content": {"nomeProcesso": "De novo"}}),
    )
    .await;
    assert_ne!(fresh["pop"]["id"], p1["id"]);
    assert_eq!(fresh["autosaveSequence"], 1);
    let again = autosave(
        &server,
        json!({"sessionId": "user_1", "content": {"pontosAtencao": "x"}}),
    )
    .await;
    assert_eq!(again["pop"]["id"], fresh["pop"]["id"]);
    assert_eq!(again["autosaveSequence"], 2);
    let deleted = pop(&server, &p1["id"]).await;
    assert_eq!(deleted["autosaveSequence"], 3, "only the delete touched it");
    assert_eq!(deleted["pontosAtencao"], Value::Null);
}

async fn partial_update_changes_only_the_fields_given(backend: Backend) {
    let server = TestServer::start(backend).await;
    let before = create(&server, "s", full_content()).await;
    let saved = save(
        &server,
        &before,
        json!({
            "pontosAtencao": "Conferir assinaturas",
            "area": {"nome": "Nova coordenação"},
            "macroprocesso": null,
            "etapas": null,
            "sistemas": null,
        }),
    )
    .await;
    assert_eq!(saved["changed"], true);
    assert_eq!(saved["autosaveSequence"], 2);
    let after = pop(&server, &before["id"]).await;
    assert_eq!(after, saved["pop"]);

    let mut expected = before["document"].clone();
    expected["pontos_atencao"] = json!("Conferir assinaturas");
    expected["area"]["nome"] = json!("Nova coordenação");
    assert_eq!(after["document"], expected);
    assert_eq!(after["area"]["codigo"], "COATE");
    assert_eq!(after["macroprocesso"], before["macroprocesso"]);
    assert_eq!(after["etapas"], before["etapas"]);
    assert_eq!(after["sistemas"], before["sistemas"]);
    assert_ne!(after["integrityHash"], before["integrityHash"]);

    let log = history(&server, &before["id"]).await;
    assert_eq!(
        entries_at(&log, 2),
        BTreeSet::from([
            entry(
                "pontos_atencao",
                json!("Conferir documentos"),
                json!("Conferir assinaturas")
            ),
            entry(
                "area_nome",
                json!("Coordenação de Atendimento"),
                json!("Nova coordenação")
            ),
        ])
    );
    assert!(log
        .iter()
        .filter(|e| e["autosaveSequence"] == 2)
        .all(|e| e["action"] == "AUTOSAVE"));
}

async fn the_hash_is_the_legacy_hash_of_the_document(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut content = full_content();
    content["etapas"] = json!([
        {"numero": 1, "descricao": "Análise \"prévia\"\n", "tempo": 1.5, "zz": null, "aa": [true, -3]},
        {"tipo": "condicional", "cenarios": [{"descricao": "Sim ✓", "proximo_passo": 3}]},
    ]);
    let created = create(&server, "hash", content).await;
    let doc = &created["document"];
    let keys: BTreeSet<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "nome_usuario",
            "area",
            "macroprocesso",
            "codigo_processo",
            "nome_processo",
            "processo_especifico",
            "entrega_esperada",
            "dispositivos_normativos",
            "sistemas",
            "operadores",
            "pontos_atencao",
            "etapas",
            "documentos_utilizados",
            "fluxos_entrada",
            "fluxos_saida",
            "data_criacao",
            "status",
            "versao",
            "uuid",
        ])
    );
    assert_eq!(doc["etapas"], created["etapas"], "steps kept faithfully");
    let mut without_uuid = doc.clone();
    without_uuid.as_object_mut().unwrap().remove("uuid");
    let dumped = mapagov::domain::hash::python_json_dumps(&without_uuid);
    assert!(dumped.contains("\"Análise \\\"prévia\\\"\\n\""), "{dumped}");
    assert_eq!(created["integrityHash"], integrity_hash(&without_uuid));
    // Every later write keeps the hash current.
    let saved = save(&server, &created, json!({"nomeUsuario": "José"})).await;
    assert_eq!(
        saved["integrityHash"],
        integrity_hash(&saved["pop"]["document"])
    );
    let reread = pop(&server, &created["id"]).await;
    assert_eq!(reread["integrityHash"], saved["integrityHash"]);
}

async fn a_stale_hash_is_a_conflict_with_the_server_state(backend: Backend) {
    let server = TestServer::start(backend).await;
    let created = create(&server, "s", json!({"nomeProcesso": "A"})).await;
    let current = save(&server, &created, json!({"nomeProcesso": "B"})).await["pop"].clone();
    let before = state(&server, &created["id"]).await;

    let err = autosave_error(
        &server,
        json!({"popId": created["id"], "sessionId": "s", "expectedHash": created["integrityHash"],
               "content": {"nomeProcesso": "C"}}),
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

    // The hash from the conflict lets the client save.
    let retry = autosave(
        &server,
        json!({"popId": created["id"], "sessionId": "s",
               "expectedHash": err["extensions"]["currentHash"], "content": {"nomeProcesso": "C"}}),
    )
    .await;
    assert_eq!(retry["autosaveSequence"], 3);
    assert_eq!(retry["pop"]["nomeProcesso"], "C");
}

async fn each_accepted_autosave_bumps_the_sequence_and_logs_each_real_change(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut current = create(
        &server,
        "s",
        json!({"nomeProcesso": "A", "operadores": "X"}),
    )
    .await;
    let edits = [
        json!({"nomeProcesso": "A", "macroprocesso": "M"}),
        json!({"etapas": steps(2), "operadores": "Y", "sistemas": ["SEI"]}),
        json!({"etapas": steps(2), "entregaEsperada": "E"}),
        json!({"fluxosEntrada": ["a", "b"], "fluxosSaida": ["c"], "documentosUtilizados": []}),
    ];
    let mut expected_log = history(&server, &current["id"]).await.len();
    for edit in edits {
        let old_doc = current["document"].clone();
        let old_seq = current["autosaveSequence"].as_i64().unwrap();
        let payload = save(&server, &current, edit).await;
        let new_doc = &payload["pop"]["document"];
        // The fields that really changed are the document keys that differ.
        let changed: Vec<&String> = old_doc
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, v)| new_doc[k.as_str()] != **v)
            .map(|(k, _)| k)
            .collect();
        assert_eq!(payload["autosaveSequence"], old_seq + 1);
        expected_log += changed.len();
        let log = history(&server, &current["id"]).await;
        assert_eq!(log.len(), expected_log, "one entry per changed field");
        let fields: BTreeSet<String> = log
            .iter()
            .filter(|e| e["autosaveSequence"] == old_seq + 1)
            .map(|e| {
                let field = e["field"].as_str().unwrap();
                if field == "sistemas_utilizados" {
                    "sistemas".to_owned()
                } else {
                    field.to_owned()
                }
            })
            .collect();
        let expected: BTreeSet<String> = changed.into_iter().cloned().collect();
        assert_eq!(fields, expected);
        for e in log.iter().filter(|e| e["autosaveSequence"] == old_seq + 1) {
            let key = match e["field"].as_str().unwrap() {
                "sistemas_utilizados" => "sistemas",
                other => other,
            };
            assert_eq!(e["oldValue"], old_doc[key]);
            assert_eq!(e["newValue"], new_doc[key]);
        }
        current = payload["pop"].clone();
    }
}

async fn an_autosave_that_changes_nothing_writes_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let created = create(&server, "s", full_content()).await;
    let saved = autosave(
        &server,
        json!({"popId": created["id"], "sessionId": "s", "content": {"pontosAtencao": "novo"},
               "rawPayload": {"form": 1}}),
    )
    .await;
    let before = state(&server, &created["id"]).await;
    let mut same = full_content();
    same["pontosAtencao"] = json!("novo");
    for input in [
        json!({"popId": created["id"], "sessionId": "s", "content": same}),
        json!({"popId": created["id"], "sessionId": "s", "content": {}}),
        json!({"popId": created["id"], "sessionId": "s"}),
        json!({"sessionId": "s", "content": {"pontosAtencao": "novo"}, "rawPayload": {"form": 1}}),
        json!({"popId": created["id"], "sessionId": "s", "expectedHash": saved["integrityHash"],
               "content": {"nomeProcesso": "Conceder pensão", "area": {"codigo": "COATE"}}}),
    ] {
        let payload = autosave(&server, input.clone()).await;
        assert_eq!(payload["changed"], false, "{input}");
        assert_eq!(payload["snapshotCreated"], false);
        assert_eq!(payload["autosaveSequence"], saved["autosaveSequence"]);
        assert_eq!(payload["integrityHash"], saved["integrityHash"]);
        assert_eq!(state(&server, &created["id"]).await, before, "{input}");
    }
}

async fn snapshots_every_n_autosaves_never_duplicating_the_latest(backend: Backend) {
    let server = TestServer::start_with(backend, &[("SNAPSHOT_EVERY", "2")]).await;
    let mut current = create(&server, "s", json!({"pontosAtencao": "v1"})).await;
    assert!(snapshots(&server, &current["id"]).await.is_empty());
    // Sequence 2..=7; the content at 6 equals the content at 4.
    let values = ["v2", "v3", "v4", "v5", "v4", "v7"];
    let mut taken = Vec::new();
    for value in values {
        let payload = save(&server, &current, json!({"pontosAtencao": value})).await;
        let sequence = payload["autosaveSequence"].as_i64().unwrap();
        let expect_snapshot = sequence % 2 == 0 && sequence != 6;
        assert_eq!(payload["snapshotCreated"], expect_snapshot, "at {sequence}");
        if expect_snapshot {
            let snap = &payload["snapshot"];
            assert_eq!(snap["kind"], "AUTOSAVE");
            assert_eq!(snap["autosaveSequence"], sequence);
            assert_eq!(snap["document"], payload["pop"]["document"]);
            assert_eq!(snap["integrityHash"], payload["integrityHash"]);
            assert_eq!(snap["integrityHash"], integrity_hash(&snap["document"]));
            taken.push(snap.clone());
        } else {
            assert!(payload["snapshot"].is_null());
        }
        current = payload["pop"].clone();
    }
    let stored = snapshots(&server, &current["id"]).await;
    assert_eq!(stored.len(), 2);
    let newest_first: Vec<Value> = taken.iter().rev().map(|s| s["id"].clone()).collect();
    assert_eq!(
        stored.iter().map(|s| s["id"].clone()).collect::<Vec<_>>(),
        newest_first
    );
    assert_eq!(stored[1]["sequence"], 1);
    assert_eq!(stored[0]["sequence"], 2);
    assert_eq!(stored[0]["document"]["pontos_atencao"], "v4");
    // At sequence 8 the content differs from the latest snapshot again: a new one.
    let payload = save(&server, &current, json!({"pontosAtencao": "v8"})).await;
    assert_eq!(payload["autosaveSequence"], 8);
    assert_eq!(payload["snapshotCreated"], true);
    assert_eq!(payload["snapshot"]["sequence"], 3);
}

async fn an_idempotent_retry_returns_the_first_result(backend: Backend) {
    let server = TestServer::start(backend).await;
    // A retried create does not create twice.
    let create_input = json!({"sessionId": "s", "idempotencyKey": "k0",
                              "content": {"nomeProcesso": "A"}});
    let created = autosave(&server, create_input.clone()).await;
    let id = created["pop"]["id"].clone();
    let retried = autosave(&server, create_input).await;
    assert_eq!(retried["pop"]["id"], id);
    assert_eq!(retried["autosaveSequence"], 1);
    assert_eq!(all_pops(&server).await["totalCount"], 1);

    let input = json!({"popId": id, "sessionId": "s", "idempotencyKey": "k1",
                       "expectedHash": created["integrityHash"], "content": {"macroprocesso": "M"}});
    let first = autosave(&server, input.clone()).await;
    assert_eq!(first["autosaveSequence"], 2);
    let before = state(&server, &id).await;
    let retry = autosave(&server, input.clone()).await;
    for key in [
        "changed",
        "integrityHash",
        "autosaveSequence",
        "snapshotCreated",
    ] {
        assert_eq!(retry[key], first[key], "{key}");
    }
    assert_eq!(state(&server, &id).await, before);

    // Still the first result after other writes.
    let later = autosave(
        &server,
        json!({"popId": id, "sessionId": "s", "content": {"macroprocesso": "N"}}),
    )
    .await;
    assert_eq!(later["autosaveSequence"], 3);
    let before = state(&server, &id).await;
    let retry = autosave(&server, input.clone()).await;
    assert_eq!(retry["autosaveSequence"], 2);
    assert_eq!(retry["integrityHash"], first["integrityHash"]);
    assert_eq!(
        retry["pop"], first["pop"],
        "the POP as the first save left it"
    );
    assert_eq!(state(&server, &id).await, before);

    // The same key with another request is refused, and writes nothing.
    for other in [
        json!({"popId": id, "sessionId": "s", "idempotencyKey": "k1",
               "expectedHash": created["integrityHash"], "content": {"macroprocesso": "Z"}}),
        json!({"popId": id, "sessionId": "s", "idempotencyKey": "k1",
               "content": {"macroprocesso": "M"}}),
    ] {
        let err = autosave_error(&server, other).await;
        assert_eq!(err["extensions"]["code"], "IDEMPOTENCY_KEY_REUSED");
        assert_eq!(state(&server, &id).await, before);
    }
}

/// A keyed autosave's record holds no second copy of the form state the request sent: a replay
/// restores it from the replayed request (whose fingerprint covers it), so the record stays small
/// and the replay still answers the first result.
async fn idempotency_records_hold_no_copy_of_the_form_state(backend: Backend) {
    let server = TestServer::start(backend).await;
    let form = json!({ "campos": "x".repeat(200_000) });
    let doc = "mutation($input: AutosavePopInput!) { autosavePop(input: $input) { \
               autosaveSequence integrityHash pop { id sessionId integrityHash rawPayload nomeProcesso } } }";
    let input = json!({ "sessionId": "s", "idempotencyKey": "k", "rawPayload": form,
                        "content": { "nomeProcesso": "A" } });
    let first = server.data(doc, json!({ "input": input })).await["autosavePop"].clone();
    assert_eq!(first["pop"]["rawPayload"], form);
    let db = server.db().await;
    let records: Vec<Value> = {
        let mut pooled = db.get().await.unwrap();
        let mut conn = pooled.conn();
        mapagov::with_backend!(&mut conn, |c| {
            use diesel::prelude::*;
            use diesel_async::RunQueryDsl;
            schema::idempotency_keys::table
                .select(schema::idempotency_keys::response)
                .load::<Value>(c)
                .await
        })
        .unwrap()
    };
    assert_eq!(records.len(), 1);
    let size = records[0].to_string().len();
    assert!(size < 50_000, "the record holds {size} bytes");
    // Another write changes the form state; the retry still answers the first result.
    save(&server, &first["pop"], json!({ "nomeProcesso": "B" })).await;
    let retry = server.data(doc, json!({ "input": input })).await["autosavePop"].clone();
    assert_eq!(retry, first);
}

async fn published_and_archived_pops_are_locked(backend: Backend) {
    let server = TestServer::start(backend).await;
    let created = create(&server, "s", json!({"nomeProcesso": "A"})).await;
    let id = created["id"].clone();
    let review = change_status(&server, &id, "IN_REVIEW", None).await;
    // In review, autosaves are still accepted.
    let saved = save(&server, &review["pop"], json!({"nomeProcesso": "B"})).await;
    assert_eq!(saved["pop"]["status"], "IN_REVIEW");
    for status in ["PUBLISHED", "ARCHIVED"] {
        let changed = change_status(&server, &id, status, None).await;
        let before = state(&server, &id).await;
        for input in [
            json!({"popId": id, "sessionId": "s", "content": {"nomeProcesso": "C"}}),
            json!({"popId": id, "sessionId": "s", "expectedHash": changed["pop"]["integrityHash"],
                   "content": {"nomeProcesso": "C"}}),
        ] {
            let err = autosave_error(&server, input).await;
            assert_eq!(err["extensions"]["code"], "POP_LOCKED");
            assert_eq!(err["extensions"]["status"], status, "as the enum spells it");
            assert_eq!(state(&server, &id).await, before);
        }
        // Without popId the session is not stuck: the client is told to name a POP or create one.
        let input = json!({"sessionId": "s", "content": {"nomeProcesso": "C"}});
        let err = autosave_error(&server, input).await;
        assert_eq!(err["extensions"]["code"], "POP_ID_REQUIRED");
        assert!(err["message"].as_str().unwrap().contains("createPop"));
        assert_eq!(state(&server, &id).await, before);
    }
}

async fn bad_input_names_the_field_and_writes_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let created = create(&server, "s", full_content()).await;
    let id = created["id"].clone();
    let before = state(&server, &id).await;
    let cases = [
        (
            json!({"popId": id, "sessionId": "s", "content": {"etapas": "uma etapa"}}),
            "input.content.etapas",
        ),
        (
            json!({"popId": id, "sessionId": "s", "content": {"etapas": {"numero": 1}}}),
            "input.content.etapas",
        ),
        (
            json!({"popId": id, "sessionId": "s",
                   "content": {"pontosAtencao": "x", "etapas": [{"numero": 1}, "passo 2"]}}),
            "input.content.etapas.1",
        ),
        (
            json!({"popId": id, "sessionId": "s", "content": {"sistemas": "SEI"}}),
            "input.content.sistemas",
        ),
        (
            json!({"popId": id, "sessionId": "", "content": {"nomeProcesso": "x"}}),
            "input.sessionId",
        ),
        (
            json!({"sessionId": "   ", "content": {"nomeProcesso": "x"}}),
            "input.sessionId",
        ),
        (
            json!({"popId": "not-a-pop", "sessionId": "s", "content": {"nomeProcesso": "x"}}),
            "input.popId",
        ),
        (
            json!({"popId": id, "sessionId": "s", "idempotencyKey": "",
                   "content": {"nomeProcesso": "x"}}),
            "input.idempotencyKey",
        ),
    ];
    for (input, field) in cases {
        let err = autosave_error(&server, input.clone()).await;
        assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT", "{input}");
        assert_eq!(err["extensions"]["field"], field, "{input}");
        assert_eq!(state(&server, &id).await, before, "{input}");
    }
    // An id that is well formed but unknown.
    let err = autosave_error(
        &server,
        json!({"popId": "00000000-0000-4000-8000-000000000000", "sessionId": "s",
               "content": {"nomeProcesso": "x"}}),
    )
    .await;
    assert_eq!(err["extensions"]["code"], "NOT_FOUND");
    assert_eq!(state(&server, &id).await, before);
}

const WRITERS: usize = 16;

async fn concurrent_autosaves_lose_no_update(backend: Backend) {
    let server = std::sync::Arc::new(TestServer::start(backend).await);
    let created = create(&server, "s", json!({"pontosAtencao": "inicial"})).await;
    let id = created["id"].clone();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let server = server.clone();
            let id = id.clone();
            tokio::spawn(async move {
                autosave(
                    &server,
                    json!({"popId": id, "sessionId": "s",
                           "content": {"pontosAtencao": format!("valor {i}")}}),
                )
                .await
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    let mut sequences: Vec<i64> = results
        .iter()
        .map(|r| {
            assert_eq!(r["changed"], true);
            r["autosaveSequence"].as_i64().unwrap()
        })
        .collect();
    sequences.sort_unstable();
    let expected: Vec<i64> = (2..2 + WRITERS as i64).collect();
    assert_eq!(sequences, expected, "distinct and consecutive");

    let last = results
        .iter()
        .find(|r| r["autosaveSequence"] == 1 + WRITERS as i64)
        .unwrap();
    let final_pop = pop(&server, &id).await;
    assert_eq!(final_pop["autosaveSequence"], 1 + WRITERS as i64);
    assert_eq!(final_pop["pontosAtencao"], last["pop"]["pontosAtencao"]);
    assert_eq!(final_pop["integrityHash"], last["integrityHash"]);

    // One entry per accepted change, and they chain: each one's old value is the previous new one.
    let log: Vec<Value> = history(&server, &id)
        .await
        .into_iter()
        .filter(|e| e["action"] == "AUTOSAVE")
        .collect();
    assert_eq!(log.len(), WRITERS);
    let mut chain = log.clone();
    chain.sort_by_key(|e| e["autosaveSequence"].as_i64().unwrap());
    let mut previous = json!("inicial");
    for (entry, sequence) in chain.iter().zip(2..) {
        assert_eq!(entry["field"], "pontos_atencao");
        assert_eq!(entry["autosaveSequence"], sequence);
        assert_eq!(entry["oldValue"], previous);
        let writer = results
            .iter()
            .find(|r| r["autosaveSequence"] == sequence)
            .unwrap();
        assert_eq!(entry["newValue"], writer["pop"]["pontosAtencao"]);
        previous = entry["newValue"].clone();
    }
}

async fn concurrent_autosaves_with_one_hash_have_one_winner(backend: Backend) {
    let server = std::sync::Arc::new(TestServer::start(backend).await);
    let created = create(&server, "s", json!({"pontosAtencao": "inicial"})).await;
    let id = created["id"].clone();
    let hash = created["integrityHash"].clone();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let server = server.clone();
            let input = json!({"popId": id, "sessionId": "s", "expectedHash": hash,
                               "content": {"pontosAtencao": format!("valor {i}")}});
            tokio::spawn(async move {
                server
                    .gql(&common::pops::autosave_doc(), json!({"input": input}))
                    .await
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut conflicts = 0;
    for task in tasks {
        let body = task.await.unwrap();
        match body.get("errors") {
            None => winners.push(body["data"]["autosavePop"].clone()),
            Some(errors) => {
                assert_eq!(errors[0]["extensions"]["code"], "CONFLICT", "{body:#}");
                conflicts += 1;
            }
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(conflicts, WRITERS - 1);
    let winner = &winners[0];
    assert_eq!(winner["autosaveSequence"], 2);
    let final_pop = pop(&server, &id).await;
    assert_eq!(final_pop, winner["pop"]);
    let log = history(&server, &id).await;
    assert_eq!(log.len(), 2, "the create and the winner");
    assert_eq!(log[0]["newValue"], winner["pop"]["pontosAtencao"]);
}

async fn concurrent_first_autosaves_of_a_session_create_one_pop(backend: Backend) {
    let server = std::sync::Arc::new(TestServer::start(backend).await);
    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let server = server.clone();
            tokio::spawn(async move {
                autosave(
                    &server,
                    json!({"sessionId": "novo", "content": {"pontosAtencao": format!("valor {i}")}}),
                )
                .await
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    let ids: BTreeSet<String> = results
        .iter()
        .map(|r| r["pop"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "one POP for the session");
    let mut sequences: Vec<i64> = results
        .iter()
        .map(|r| r["autosaveSequence"].as_i64().unwrap())
        .collect();
    sequences.sort_unstable();
    assert_eq!(sequences, (1..=WRITERS as i64).collect::<Vec<_>>());
    assert_eq!(all_pops(&server).await["totalCount"], 1);
}

async fn concurrent_retries_of_one_key_write_once(backend: Backend) {
    let server = std::sync::Arc::new(TestServer::start(backend).await);
    let created = create(&server, "s", json!({"pontosAtencao": "inicial"})).await;
    let input = json!({"popId": created["id"], "sessionId": "s", "idempotencyKey": "retry-1",
                       "content": {"pontosAtencao": "uma vez"}});
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let server = server.clone();
            let input = input.clone();
            tokio::spawn(async move { autosave(&server, input).await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    for r in &results {
        assert_eq!(r["autosaveSequence"], 2);
        assert_eq!(r["integrityHash"], results[0]["integrityHash"]);
        assert_eq!(r["pop"], results[0]["pop"]);
    }
    assert_eq!(pop(&server, &created["id"]).await["autosaveSequence"], 2);
    assert_eq!(history(&server, &created["id"]).await.len(), 2);
}

both_backends!(
    creates_a_draft_then_finds_the_sessions_newest_pop,
    partial_update_changes_only_the_fields_given,
    the_hash_is_the_legacy_hash_of_the_document,
    a_stale_hash_is_a_conflict_with_the_server_state,
    each_accepted_autosave_bumps_the_sequence_and_logs_each_real_change,
    an_autosave_that_changes_nothing_writes_nothing,
    snapshots_every_n_autosaves_never_duplicating_the_latest,
    an_idempotent_retry_returns_the_first_result,
    published_and_archived_pops_are_locked,
    bad_input_names_the_field_and_writes_nothing,
    concurrent_autosaves_lose_no_update,
    concurrent_autosaves_with_one_hash_have_one_winner,
    concurrent_first_autosaves_of_a_session_create_one_pop,
    concurrent_retries_of_one_key_write_once,
    idempotency_records_hold_no_copy_of_the_form_state,
);

/// The statements PostgreSQL ran for one autosave of an existing POP, as logged with
/// `log_statement = all` (set on the test's database only, so other tests do not interfere),
/// with the server's extra settings `extra`.
async fn statements_of_one_autosave(extra: &[(&str, &str)]) -> Option<Vec<String>> {
    let cluster = common::pg_cluster()?;
    let (url, dir) = common::fresh_database(Backend::Postgres).await;
    let name = url::Url::parse(&url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    cluster.psql(
        "postgres",
        &format!("ALTER DATABASE \"{name}\" SET log_statement = 'all';"),
    );
    let server = TestServer::start_on(Backend::Postgres, url, dir, extra).await;
    let created = create(&server, "s-count", json!({"macroprocesso": "a"})).await;
    let before = cluster.log().len();
    save(&server, &created, json!({"macroprocesso": "b"})).await;
    let log = cluster.log();
    let statements: Vec<String> = log[before..]
        .lines()
        .filter(|l| l.contains("LOG:  statement: ") || l.contains("LOG:  execute "))
        .map(str::to_owned)
        .collect();
    println!(
        "{} statements per autosave:\n{}",
        statements.len(),
        statements.join("\n")
    );
    Some(statements)
}

/// The pool's liveness probe (`SELECT 1`, which diesel sends as `SELECT $1`).
fn pings(statements: &[String]) -> usize {
    statements
        .iter()
        .filter(|l| l.trim_end().ends_with("SELECT $1"))
        .count()
}

/// One `UPDATE` of the POP per autosave, of the columns that changed only, one read of its
/// documents, a snapshot written in one statement, and no liveness probe when connections are reused at
/// once (they are verified only after `DB_CONN_CHECK_IDLE`); with `DB_CONN_CHECK_IDLE=0` every
/// check-out is verified first, so the probe the default avoids is really there to avoid. The
/// change event's `NOTIFY` is sent after the write's `COMMIT`, not inside its transaction (where
/// PostgreSQL would serialize the commits of all concurrent writes). (One test: the cluster's log
/// is shared, so two logging databases at once would mix their lines.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_autosave_writes_the_pop_with_one_update() {
    let Some(statements) = statements_of_one_autosave(&[("SNAPSHOT_EVERY", "1")]).await else {
        return;
    };
    // In the write's transaction the POP's documents are read once, by the statement that locks
    // it: the permission check before the lock reads only the columns the access rules need.
    // (After it, the answer's `snapshot { pop }` reads the POP again, through its loader.)
    let transaction = statements
        .iter()
        .position(|l| l.trim_end().ends_with("COMMIT"))
        .map_or(&statements[..], |end| &statements[..end]);
    let document_reads: Vec<&String> = transaction
        .iter()
        .filter(|l| l.contains("SELECT") && l.contains("\"pops\".\"etapas\""))
        .collect();
    assert_eq!(document_reads.len(), 1, "{statements:#?}");
    assert!(document_reads[0].contains("FOR UPDATE"), "{statements:#?}");
    // The snapshot is one INSERT (its sequence computed in it) that returns what the database
    // chose, not the payload the server just sent.
    let snapshot_statements: Vec<&String> = statements
        .iter()
        .filter(|l| l.contains("\"pop_snapshots\""))
        .collect();
    let inserts: Vec<&&String> = snapshot_statements
        .iter()
        .filter(|l| l.contains("INSERT INTO \"pop_snapshots\""))
        .collect();
    assert_eq!(inserts.len(), 1, "{statements:#?}");
    let returning = inserts[0].split(" RETURNING ").nth(1).unwrap_or_default();
    assert_eq!(
        returning.trim(),
        "\"pop_snapshots\".\"id\", \"pop_snapshots\".\"sequence\"",
        "{statements:#?}"
    );
    // Besides it, only the newest snapshot's hash is read (to skip a snapshot of an unchanged
    // document).
    assert_eq!(snapshot_statements.len(), 2, "{statements:#?}");
    let updates = statements
        .iter()
        .filter(|l| l.contains("UPDATE \"pops\""))
        .count();
    assert_eq!(updates, 1, "{statements:#?}");
    assert_eq!(pings(&statements), 0, "{statements:#?}");
    // A partial update: the field saved and the control fields a save moves, nothing else (the
    // large documents of the other fields stay out of the statement and of the WAL).
    let update = statements
        .iter()
        .find(|l| l.contains("UPDATE \"pops\""))
        .unwrap();
    let set = update.split(" SET ").nth(1).unwrap();
    let set = set.split(" WHERE ").next().unwrap();
    let mut columns: Vec<&str> = set
        .split(", ")
        .filter_map(|a| a.split('"').nth(1))
        .collect();
    columns.sort_unstable();
    assert_eq!(
        columns,
        [
            "autosave_sequence",
            "integrity_hash",
            "last_activity_at",
            "last_autosave_at",
            "macroprocesso",
            "updated_at"
        ],
        "{update}"
    );

    // The event is announced once, after the transaction that wrote the POP has committed.
    let update_at = statements
        .iter()
        .position(|l| l.contains("UPDATE \"pops\""))
        .unwrap();
    let commit_at = update_at
        + statements[update_at..]
            .iter()
            .position(|l| l.trim_end().ends_with("COMMIT"))
            .unwrap_or_else(|| panic!("no COMMIT after the UPDATE: {statements:#?}"));
    let notifies: Vec<usize> = statements
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("pg_notify"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(notifies.len(), 1, "{statements:#?}");
    assert!(
        notifies[0] > commit_at,
        "the NOTIFY is inside the write's transaction: {statements:#?}"
    );

    let verified = statements_of_one_autosave(&[("DB_CONN_CHECK_IDLE", "0")])
        .await
        .unwrap();
    assert!(pings(&verified) >= 1, "{verified:#?}");
}

/// The round trips between the server and PostgreSQL of one autosave that takes a snapshot,
/// counted by a relay between them (one pooled connection, so its prepared statements are warm,
/// and no liveness check): `BEGIN`, the permission check, the lock, one round trip for the row,
/// its change event, its change log and the newest snapshot's hash (sent together: none depends
/// on another), the snapshot, `COMMIT`, the `NOTIFY` and the answer's read of the snapshot's POP.
/// One after another, the four statements sent together would take three round trips more; and
/// the statements diesel prepares anew on every run (an `UPDATE`, a multi-row `INSERT`, raw SQL)
/// are kept prepared, or each would cost one more. A `pop(id)` is one round trip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_autosave_takes_eight_round_trips_and_a_read_one() {
    let (url, dir) = common::fresh_database(Backend::Postgres).await;
    let (relay, relayed) = common::round_trips::RoundTrips::start(&url).await;
    let settings = [
        ("DB_POOL_SIZE", "1"),
        ("DB_CONN_CHECK_IDLE", "3600"),
        ("SNAPSHOT_EVERY", "1"),
    ];
    let server = TestServer::start_on(Backend::Postgres, relayed, dir, &settings).await;
    let created = create(&server, "s-trips", json!({"macroprocesso": "a"})).await;
    let warm = save(&server, &created, json!({"macroprocesso": "b"})).await;
    pop(&server, &created["id"]).await;
    let before = relay.count();
    let saved = save(&server, &warm["pop"], json!({"macroprocesso": "c"})).await;
    let trips = relay.count() - before;
    assert_eq!(saved["snapshotCreated"], true);
    assert_eq!(trips, 8, "round trips of one autosave");
    let before = relay.count();
    let read = pop(&server, &created["id"]).await;
    assert_eq!(read["macroprocesso"], "c");
    assert_eq!(relay.count() - before, 1, "round trips of one pop(id)");
}
