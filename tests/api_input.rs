//! Input both backends accept or refuse alike: numbers in one canonical form (stored, hashed and
//! compared the same, so `verify` passes and a resend is a no-op), numbers beyond 64 bits and
//! NUL characters refused with `BAD_USER_INPUT` and the field, and long text that search must
//! not turn into a failed write.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::pops::{all_pops, autosave, autosave_doc, create, save};
use common::{Backend, TestServer};
use mapagov::transfer::verify::verify;
use serde_json::{json, Value};

/// Steps holding numbers in the forms PostgreSQL's `jsonb` rewrites.
fn numeric_steps() -> Value {
    json!([{
        "descricao": "números",
        "exp": 1e16,
        "exp_frac": 1.5e16,
        "neg_zero": -0.0,
        "one": 1.0,
        "small": 1.5e-7,
        "tiny": 5e-324,
        "max_u64": 18_446_744_073_709_551_615_u64,
        "min_i64": i64::MIN,
        "fraction": 0.30000000000000004,
        "big_float": 9_999_999_999_999_998.0,
        "list": [1e-7, -1e16, 100.0, 123.456],
    }])
}

async fn numbers_have_one_form_stored_hashed_and_compared(backend: Backend) {
    let server = TestServer::start(backend).await;
    let pop = create(&server, "numbers", json!({"etapas": numeric_steps()})).await;
    let step = &pop["etapas"][0];
    assert_eq!(step["exp"], json!(10_000_000_000_000_000_u64), "{step}");
    assert_eq!(step["exp_frac"], json!(15_000_000_000_000_000_u64));
    assert_eq!(step["neg_zero"].to_string(), "0.0");
    assert_eq!(step["one"].to_string(), "1.0");
    assert_eq!(step["list"][1], json!(-10_000_000_000_000_000_i64));
    // The same content again (as the client first wrote it) is a no-op.
    let again = save(&server, &pop, json!({"etapas": numeric_steps()})).await;
    assert_eq!(again["changed"], false, "{again:#}");
    // rawPayload numbers take the same form.
    let with_raw = autosave(
        &server,
        json!({"popId": pop["id"], "sessionId": "numbers", "expectedHash": pop["integrityHash"],
               "rawPayload": {"n": 1e16, "z": -0.0}}),
    )
    .await;
    assert_eq!(with_raw["changed"], true);
    let report = verify(&server.db().await, None).await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.exit_code(), 0, "{report:?}");
    server.stop().await;
}

async fn numbers_beyond_64_bits_are_refused_with_the_field(backend: Backend) {
    let server = TestServer::start(backend).await;
    // Sent as raw text: a JSON library would already have rounded it to a float.
    let body = format!(
        r#"{{"query": {query}, "variables": {{"input": {{"sessionId": "big",
            "content": {{"etapas": [{{"descricao": "x", "n": 123456789012345678901234567890}}]}}}}}}}}"#,
        query = serde_json::to_string(&autosave_doc()).unwrap()
    );
    let response: Value = server
        .post()
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let error = &response["errors"][0];
    assert_eq!(
        error["extensions"]["code"], "BAD_USER_INPUT",
        "{response:#}"
    );
    assert_eq!(error["extensions"]["field"], "input.content.etapas.0.n");
    for (raw, field) in [
        (json!({"a": 1e20}), "input.rawPayload.a"),
        (json!([1, [-1e300]]), "input.rawPayload.1.0"),
    ] {
        let error = server
            .error(
                &autosave_doc(),
                json!({"input": {"sessionId": "big", "rawPayload": raw}}),
            )
            .await;
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error:#}");
        assert_eq!(error["extensions"]["field"], field);
    }
    assert_eq!(all_pops(&server).await["totalCount"], 0);
    server.stop().await;
}

async fn nul_is_refused_in_every_string_with_the_field(backend: Backend) {
    let server = TestServer::start(backend).await;
    let pop = create(&server, "nul", json!({"nomeProcesso": "Conceder"})).await;
    let id = pop["id"].clone();
    let autosave_with = |input: Value| (autosave_doc(), json!({ "input": input }));
    let cases: Vec<(String, Value, &str)> = vec![
        {
            let (q, v) =
                autosave_with(json!({"sessionId": "nul", "content": {"nomeProcesso": "a\u{0}b"}}));
            (q, v, "input.content.nomeProcesso")
        },
        {
            let (q, v) = autosave_with(
                json!({"sessionId": "nul", "content": {"etapas": [{"descricao": "\u{0}"}]}}),
            );
            (q, v, "input.content.etapas.0.descricao")
        },
        {
            let (q, v) =
                autosave_with(json!({"sessionId": "nul", "content": {"etapas": [{"k\u{0}": 1}]}}));
            (q, v, "input.content.etapas.0")
        },
        {
            let (q, v) = autosave_with(json!({"sessionId": "\u{0}s"}));
            (q, v, "input.sessionId")
        },
        {
            let (q, v) = autosave_with(json!({"sessionId": "nul", "idempotencyKey": "k\u{0}"}));
            (q, v, "input.idempotencyKey")
        },
        {
            let (q, v) = autosave_with(json!({"sessionId": "nul", "rawPayload": {"a": "\u{0}"}}));
            (q, v, "input.rawPayload.a")
        },
        (
            "query($s: String) { pops(search: $s) { totalCount } }".into(),
            json!({"s": "pens\u{0}ao"}),
            "search",
        ),
        (
            "query($s: String) { pops(sessionId: $s, area: \"x\") { totalCount } }".into(),
            json!({"s": "\u{0}"}),
            "sessionId",
        ),
        (
            "query { pops(createdBy: \"te\\u0000ster\") { totalCount } }".into(),
            json!({}),
            "createdBy",
        ),
        (
            "query($d: JSON) { pops(documentContains: $d) { totalCount } }".into(),
            json!({"d": {"nome_processo": "\u{0}"}}),
            "documentContains.nome_processo",
        ),
        (
            "mutation($s: String!, $l: String) { backupSession(sessionId: $s, label: $l) { id } }"
                .into(),
            json!({"s": "nul", "l": "\u{0}label"}),
            "label",
        ),
        (
            "mutation($id: ID!, $r: String) { changePopStatus(popId: $id, status: IN_REVIEW, \
             reason: $r) { pop { id } } }"
                .into(),
            json!({"id": id, "r": "\u{0}"}),
            "reason",
        ),
    ];
    for (query, variables, field) in cases {
        let error = server.error(&query, variables.clone()).await;
        assert_eq!(
            error["extensions"]["code"], "BAD_USER_INPUT",
            "{query} {variables}: {error:#}"
        );
        assert_eq!(error["extensions"]["field"], field, "{query}");
    }
    // Without a token, login refuses it the same way (not an internal error).
    let error = server
        .anonymous()
        .error(
            "mutation($u: String!) { login(username: $u, password: \"x\") { token } }",
            json!({"u": "\u{0}admin"}),
        )
        .await;
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error:#}");
    assert_eq!(error["extensions"]["field"], "username");
    // Nothing was written.
    let pops = all_pops(&server).await;
    assert_eq!(pops["totalCount"], 1);
    assert_eq!(pops["nodes"][0]["autosaveSequence"], 1);
    assert_eq!(pops["nodes"][0]["status"], "DRAFT");
    server.stop().await;
}

/// About 1.3 MB of distinct words (under `MAX_DOCUMENT_BYTES`): more than a `tsvector` holds.
fn distinct_words(bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + 16);
    let mut n: u64 = 0;
    while text.len() < bytes {
        // Base-26 words of letters only, so each one is a distinct lexeme.
        let mut word = String::new();
        let mut rest = n + 26 * 26 * 26;
        while rest > 0 {
            word.push(char::from(b'a' + (rest % 26) as u8));
            rest /= 26;
        }
        text.push_str(&word);
        text.push(' ');
        n += 1;
    }
    text
}

async fn long_text_of_distinct_words_saves_and_stays_searchable(backend: Backend) {
    let server = TestServer::start(backend).await;
    let text = distinct_words(1_300_000);
    let pop = create(
        &server,
        "long",
        json!({"nomeProcesso": "Conceder pensão", "entregaEsperada": text}),
    )
    .await;
    assert_eq!(pop["entregaEsperada"].as_str().unwrap().len(), text.len());
    let found = server
        .data(
            "query($s: String) { pops(search: $s) { totalCount } }",
            json!({"s": "pensão"}),
        )
        .await;
    assert_eq!(found["pops"]["totalCount"], 1);
    // A later save recomputes the search column over the same long text.
    let again = save(
        &server,
        &pop,
        json!({"nomeProcesso": "Conceder aposentadoria"}),
    )
    .await;
    assert_eq!(again["changed"], true);
    let found = server
        .data(
            "query($s: String) { pops(search: $s) { totalCount } }",
            json!({"s": "aposentadoria"}),
        )
        .await;
    assert_eq!(found["pops"]["totalCount"], 1);
    server.stop().await;
}

both_backends!(
    numbers_have_one_form_stored_hashed_and_compared,
    numbers_beyond_64_bits_are_refused_with_the_field,
    nul_is_refused_in_every_string_with_the_field,
    long_text_of_distinct_words_saves_and_stays_searchable,
);
