//! The POP's content as GraphQL types on both backends: `typedContent` writes steps (with
//! decision scenarios and unknown keys), documents used and lists of strings; `content` reads
//! them back typed from a POP and a snapshot with nothing lost (unknown keys, and known keys
//! holding another type, in `extra`; sent back as read, they change nothing); `clear` empties
//! fields; a field given twice is `BAD_USER_INPUT` and writes nothing.
#![allow(clippy::unwrap_used)]

mod common;

use common::pops::{autosave, create};
use common::{Backend, TestServer};
use serde_json::{json, Value};

const CONTENT: &str = "content { nomeProcesso pontosAtencao sistemas fluxosEntrada fluxosSaida \
    documentosUtilizados { tipoDocumento tipoUso obrigatorio descricao sistema extra } \
    etapas { id numero ordem descricao acaoPrincipal detalhes operador sistemas tipo \
    antesDecisao tipoCondicional schemaVersion extra \
    cenarios { descricao proximoPasso proximaEtapaDescricao extra } } }";

fn save_doc() -> String {
    format!(
        "mutation($input: AutosavePopInput!) {{ autosavePop(input: $input) {{ integrityHash \
         autosaveSequence pop {{ id integrityHash document {CONTENT} }} }} }}"
    )
}

async fn typed_content_round_trips_without_loss(backend: Backend) {
    let server = TestServer::start(backend).await;
    let pop = create(&server, "typed", json!({"nomeProcesso": "Tipado"})).await;
    let steps = json!([
        {"numero": 1, "descricao": "Receber", "detalhes": ["conferir", "protocolar"],
         "operador": "Servidor", "sistemas": ["SEI"], "extra": {"cor": "azul", "peso": 2}},
        {"numero": 2, "tipo": "condicional", "antesDecisao": "Analisar",
         "tipoCondicional": "MULTIPLOS",
         "cenarios": [{"descricao": "Deferido", "proximoPasso": "3"},
                      {"descricao": "Indeferido", "proximoPasso": "4", "extra": {"prazo": 5}}]},
        {"descricao": "Numerada à moda antiga", "extra": {"numero": "2.a"}}
    ]);
    let saved = server
        .data(
            &save_doc(),
            json!({"input": {
                "popId": pop["id"], "sessionId": "typed", "expectedHash": pop["integrityHash"],
                "content": {"pontosAtencao": "Atenção"},
                "typedContent": {
                    "etapas": steps,
                    "sistemas": ["SEI", "SIAPE"],
                    "fluxosEntrada": ["Protocolo"],
                    "documentosUtilizados": [{"tipoDocumento": "Ofício", "obrigatorio": true,
                                              "extra": {"codigo": "X1"}}]
                }
            }}),
        )
        .await["autosavePop"]
        .clone();
    let pop_now = &saved["pop"];
    // Stored under the legacy keys, unknown keys as they were sent.
    let document = &pop_now["document"];
    let first = &document["etapas"][0];
    assert_eq!(first["descricao"], "Receber");
    assert_eq!(first["detalhes"], json!(["conferir", "protocolar"]));
    assert_eq!(first["cor"], "azul");
    assert_eq!(first["peso"], 2);
    assert!(first["id"].is_string(), "{first}");
    let decision = &document["etapas"][1];
    assert_eq!(decision["tipo_condicional"], "multiplos");
    assert_eq!(decision["antes_decisao"], "Analisar");
    assert_eq!(decision["cenarios"][1]["proximo_passo"], "4");
    assert_eq!(decision["cenarios"][1]["prazo"], 5);
    assert_eq!(document["sistemas"], json!(["SEI", "SIAPE"]));
    assert_eq!(document["documentos_utilizados"][0]["codigo"], "X1");
    assert_eq!(document["documentos_utilizados"][0]["obrigatorio"], true);

    // Read back typed, the unknown keys in extra.
    let content = &pop_now["content"];
    assert_eq!(content["pontosAtencao"], "Atenção");
    assert_eq!(content["sistemas"], json!(["SEI", "SIAPE"]));
    assert_eq!(content["fluxosEntrada"], json!(["Protocolo"]));
    assert_eq!(content["fluxosSaida"], json!([]));
    let typed_first = &content["etapas"][0];
    assert_eq!(typed_first["id"], first["id"]);
    assert_eq!(typed_first["numero"], 1);
    assert_eq!(typed_first["detalhes"], json!(["conferir", "protocolar"]));
    assert_eq!(typed_first["extra"], json!({"cor": "azul", "peso": 2}));
    assert_eq!(typed_first["tipoCondicional"], Value::Null);
    let typed_decision = &content["etapas"][1];
    assert_eq!(typed_decision["tipoCondicional"], "MULTIPLOS");
    assert_eq!(typed_decision["cenarios"][1]["extra"], json!({"prazo": 5}));
    assert_eq!(
        content["documentosUtilizados"][0]["extra"],
        json!({"codigo": "X1"})
    );
    // A known key holding another type is not forced into the type: it stays in extra.
    assert_eq!(document["etapas"][2]["numero"], "2.a");
    assert_eq!(content["etapas"][2]["numero"], Value::Null);
    assert_eq!(content["etapas"][2]["extra"], json!({"numero": "2.a"}));

    // Sending the typed steps back as read (ids and extra included) changes nothing.
    let echo: Vec<Value> = content["etapas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| {
            let mut step = step.as_object().unwrap().clone();
            step.retain(|_, v| !v.is_null());
            if let Some(Value::Array(cenarios)) = step.get_mut("cenarios") {
                for c in cenarios {
                    c.as_object_mut().unwrap().retain(|_, v| !v.is_null());
                }
            }
            Value::Object(step)
        })
        .collect();
    let again = autosave(
        &server,
        json!({"popId": pop["id"], "sessionId": "typed", "expectedHash": saved["integrityHash"],
               "typedContent": {"etapas": echo}}),
    )
    .await;
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(again["integrityHash"], saved["integrityHash"]);

    // A snapshot reads the same way.
    let kept = server
        .data(
            &format!("mutation {{ backupSession(sessionId: \"typed\") {{ {CONTENT} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(kept["backupSession"][0]["content"], *content);

    // Clearing is explicit: text becomes empty, lists empty; null in `content` still changes nothing.
    let cleared = server
        .data(
            &save_doc(),
            json!({"input": {
                "popId": pop["id"], "sessionId": "typed", "expectedHash": saved["integrityHash"],
                "content": {"nomeProcesso": null},
                "typedContent": {"clear": ["PONTOS_ATENCAO", "ETAPAS", "SISTEMAS"]}
            }}),
        )
        .await["autosavePop"]
        .clone();
    let content = &cleared["pop"]["content"];
    assert_eq!(content["nomeProcesso"], "Tipado");
    assert_eq!(content["pontosAtencao"], "");
    assert_eq!(content["etapas"], json!([]));
    assert_eq!(content["sistemas"], json!([]));
    assert_eq!(
        cleared["autosaveSequence"],
        saved["autosaveSequence"].as_i64().unwrap() + 1
    );

    // A field given twice, or an extra repeating a typed key, is refused and writes nothing.
    for (typed, field) in [
        (json!({"sistemas": ["A"]}), "input.typedContent.sistemas"),
        (json!({"clear": ["SISTEMAS"]}), "input.typedContent.clear"),
        (
            json!({"etapas": [{"descricao": "x", "extra": {"descricao": "y"}}]}),
            "input.typedContent.etapas.0.extra",
        ),
        (
            json!({"etapas": [{"extra": [1]}]}),
            "input.typedContent.etapas.0.extra",
        ),
    ] {
        let error = server
            .error(
                &save_doc(),
                json!({"input": {
                    "popId": pop["id"], "sessionId": "typed",
                    "expectedHash": cleared["integrityHash"],
                    "content": {"sistemas": ["B"]}, "typedContent": typed
                }}),
            )
            .await;
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
        assert_eq!(error["extensions"]["field"], field, "{error}");
    }
}

both_backends!(typed_content_round_trips_without_loss);
