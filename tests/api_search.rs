//! `pops(search:)` and `pops(documentContains:)` over HTTP on both backends: the legacy fixture's
//! real texts, accents, inflections (PostgreSQL), ranking, ranked pagination both ways, every
//! writer keeping the index current, visibility, filters, hostile input, and `@>` semantics.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::pops::{backup, change_status, create, restore_doc, save, DELETE};
use common::{fixture, Backend, Client, TestServer};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use mapagov::cli::copy::copy_between;
use mapagov::db::migrate::{self, Direction};
use mapagov::db::Db;
use mapagov::transfer::import::{import, ImportOptions};
use mapagov::with_backend;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const POPS: &str = "query($s: String, $dc: JSON, $first: Int, $after: String, $last: Int, \
    $before: String, $status: PopStatus, $inc: Boolean! = false) { \
    pops(search: $s, documentContains: $dc, first: $first, after: $after, last: $last, \
    before: $before, status: $status, includeDeleted: $inc) { totalCount \
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } \
    nodes { id legacyId nomeProcesso status } } }";

async fn pops(client: &Client, vars: Value) -> Value {
    client.data(POPS, vars).await["pops"].clone()
}

fn field(connection: &Value, name: &str) -> Vec<Value> {
    connection["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n[name].clone())
        .collect()
}

fn legacy_ids(connection: &Value) -> BTreeSet<i64> {
    field(connection, "legacyId")
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect()
}

/// A server whose database holds the legacy fixture, imported as `import-django` does.
async fn fixture_server(backend: Backend) -> TestServer {
    let server = TestServer::start(backend).await;
    let db = server.db().await;
    let data = mapagov::legacy::read(&fixture("dump_pops.json"))
        .await
        .unwrap();
    import(&db, &data, &ImportOptions::default()).await.unwrap();
    server
}

/// The fixture's live POPs, read independently of the code under test: legacy id → fields.
fn fixture_pops() -> Vec<(i64, Value)> {
    let text = std::fs::read_to_string(fixture("dump_pops.json")).unwrap();
    let entries: Vec<Value> = serde_json::from_str(&text).unwrap();
    entries
        .into_iter()
        .filter(|e| e["model"] == "processos.pop" && e["fields"]["is_deleted"] == false)
        .map(|e| (e["pk"].as_i64().unwrap(), e["fields"].clone()))
        .collect()
}

/// Lower case without Portuguese accents.
fn fold(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'õ' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            other => other,
        })
        .collect()
}

/// The words of a fixture POP's searchable text, folded.
fn searchable_words(fields: &Value) -> BTreeSet<String> {
    let mut text = String::new();
    for name in [
        "nome_processo",
        "entrega_esperada",
        "dispositivos_normativos",
        "pontos_atencao",
    ] {
        text.push_str(fields[name].as_str().unwrap_or_default());
        text.push(' ');
    }
    for step in fields["etapas"].as_array().into_iter().flatten() {
        text.push_str(step["descricao"].as_str().unwrap_or_default());
        text.push(' ');
    }
    fold(&text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Legacy ids of the fixture POPs whose text has all these (folded) words.
fn fixture_matching(words: &[&str]) -> BTreeSet<i64> {
    fixture_pops()
        .into_iter()
        .filter(|(_, f)| {
            let have = searchable_words(f);
            words.iter().all(|w| have.contains(*w))
        })
        .map(|(id, _)| id)
        .collect()
}

async fn accents_are_ignored_on_the_fixtures_real_texts(backend: Backend) {
    let server = fixture_server(backend).await;
    let staff = server.staff().await;
    let expected = fixture_matching(&["pensao"]);
    assert!(expected.len() >= 5, "{expected:?}");
    for query in ["pensao", "pensão", "PENSÃO", "  Pensao  "] {
        let found = pops(staff, json!({"s": query, "first": 100})).await;
        assert_eq!(legacy_ids(&found), expected, "{query}");
        assert_eq!(found["totalCount"], expected.len());
    }
    // Every word must match: "pensão" and "TCU" together is narrower than either.
    let both = pops(staff, json!({"s": "pensão TCU", "first": 100})).await;
    assert_eq!(legacy_ids(&both), fixture_matching(&["pensao", "tcu"]));
    assert!(!legacy_ids(&both).is_empty());
    // Legal basis and step descriptions are searched too.
    let law = pops(staff, json!({"s": "8.112", "first": 100})).await;
    assert!(!legacy_ids(&law).is_empty());
    let step = pops(staff, json!({"s": "confirmar documento", "first": 100})).await;
    assert_eq!(
        legacy_ids(&step),
        fixture_matching(&["confirmar", "documento"])
    );
    assert!(!legacy_ids(&step).is_empty());
    // Nothing matches a word that is nowhere.
    let none = pops(staff, json!({"s": "xilofone", "first": 100})).await;
    assert_eq!(none["totalCount"], 0);
}

async fn inflections_match_on_postgres_only(backend: Backend) {
    let server = fixture_server(backend).await;
    let staff = server.staff().await;
    // "Conceder pensão (...)" whose other fields never say "concedido".
    let conceder: BTreeSet<i64> = fixture_pops()
        .into_iter()
        .filter(|(_, f)| {
            let words = searchable_words(f);
            words.contains("conceder") && !words.contains("concedido")
        })
        .map(|(id, _)| id)
        .collect();
    assert!(!conceder.is_empty());
    let found = legacy_ids(&pops(staff, json!({"s": "concedido", "first": 100})).await);
    match backend {
        // Portuguese stemming: concedido, conceder, concedida share a stem.
        Backend::Postgres => {
            assert!(conceder.is_subset(&found), "{conceder:?} ⊄ {found:?}");
            let concedida = fixture_matching(&["concedida"]);
            assert!(!concedida.is_empty() && concedida.is_subset(&found));
        }
        // FTS5 matches words as written (accents folded): only the literal word.
        Backend::Sqlite => assert_eq!(found, fixture_matching(&["concedido"])),
    }
}

async fn results_are_ranked_and_paginate_both_ways(backend: Backend) {
    let server = TestServer::start(backend).await;
    let name = create(&server, "r1", json!({"nomeProcesso": "Conceder pensão"})).await;
    let attention = create(
        &server,
        "r2",
        json!({"nomeProcesso": "Outro processo", "pontosAtencao": "verificar a pensão"}),
    )
    .await;
    let step = create(
        &server,
        "r3",
        json!({"nomeProcesso": "Terceiro", "etapas": [{"numero": 1, "descricao": "abrir pensão"}]}),
    )
    .await;
    create(&server, "r4", json!({"nomeProcesso": "Sem relação"})).await;
    // Several equal scores, to exercise the id tie-break across pages.
    let mut same = Vec::new();
    for i in 0..4 {
        let p = create(
            &server,
            &format!("t{i}"),
            json!({"nomeProcesso": format!("Registro {i}"), "entregaEsperada": "pensão"}),
        )
        .await;
        same.push(p["id"].clone());
    }
    let all = pops(&server, json!({"s": "pensao", "first": 100})).await;
    let order = field(&all, "id");
    assert_eq!(all["totalCount"], 7);
    assert_eq!(order.len(), 7);
    // Process name (weight A) first, then the deliverable (B, newest first among equals), then
    // points of attention (C), then steps (D).
    let mut expected = vec![name["id"].clone()];
    expected.extend(same.iter().rev().cloned());
    expected.push(attention["id"].clone());
    expected.push(step["id"].clone());
    assert_eq!(order, expected);

    // Forward in pages of 2 gives the same order, each page saying whether another follows.
    let mut forward = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = pops(&server, json!({"s": "pensao", "first": 2, "after": after})).await;
        assert_eq!(page["totalCount"], 7);
        forward.extend(field(&page, "id"));
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(forward, order);
    // Backward from the end in pages of 3.
    let mut backward: Vec<Value> = Vec::new();
    let mut before = Value::Null;
    loop {
        let page = pops(&server, json!({"s": "pensao", "last": 3, "before": before})).await;
        let mut ids = field(&page, "id");
        ids.extend(backward);
        backward = ids;
        if page["pageInfo"]["hasPreviousPage"] == false {
            break;
        }
        before = page["pageInfo"]["startCursor"].clone();
    }
    assert_eq!(backward, order);

    // Cursors of one kind of list are refused by the other.
    let plain = pops(&server, json!({"first": 1})).await;
    let err = server
        .error(
            POPS,
            json!({"s": "pensao", "after": plain["pageInfo"]["endCursor"]}),
        )
        .await;
    assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT");
    let err = server
        .error(POPS, json!({"after": all["pageInfo"]["endCursor"]}))
        .await;
    assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT");
}

async fn every_write_keeps_search_and_document_current(backend: Backend) {
    let server = TestServer::start(backend).await;
    let count = |s: &'static str| {
        let server = &server;
        async move { pops(server, json!({"s": s})).await["totalCount"].clone() }
    };
    let contains = |dc: Value| {
        let server = &server;
        async move { pops(server, json!({"dc": dc})).await["totalCount"].clone() }
    };
    let first = create(
        &server,
        "w1",
        json!({"nomeProcesso": "Aposentadoria especial"}),
    )
    .await;
    assert_eq!(count("aposentadoria").await, 1);
    assert_eq!(
        contains(json!({"nome_processo": "Aposentadoria especial"})).await,
        1
    );
    let backed_up = backup(&server, "w1", None).await.remove(0);

    // Autosave: the new text is found, the old one no longer.
    let saved = save(&server, &first, json!({"nomeProcesso": "Revisão de cotas"})).await;
    assert_eq!(count("aposentadoria").await, 0);
    assert_eq!(count("revisao").await, 1);
    assert_eq!(
        contains(json!({"nome_processo": "Aposentadoria especial"})).await,
        0
    );
    assert_eq!(
        contains(json!({"nome_processo": "Revisão de cotas"})).await,
        1
    );

    // Restore of a snapshot: the old text is back.
    let restored = server
        .data(
            &restore_doc(),
            json!({"id": backed_up["id"], "hash": saved["integrityHash"]}),
        )
        .await;
    assert_eq!(
        restored["restoreSnapshot"]["pop"]["nomeProcesso"],
        "Aposentadoria especial"
    );
    assert_eq!(count("aposentadoria").await, 1);
    assert_eq!(count("revisao").await, 0);

    // Workflow: the document's status follows.
    change_status(&server, &first["id"], "IN_REVIEW", None).await;
    assert_eq!(contains(json!({"status": "in_review"})).await, 1);
    assert_eq!(contains(json!({"status": "draft"})).await, 0);

    // Delete: gone from the list unless deleted POPs are asked for.
    let other = create(
        &server,
        "w2",
        json!({"nomeProcesso": "Aposentadoria rural"}),
    )
    .await;
    server.data(DELETE, json!({"id": other["id"]})).await;
    let live = pops(&server, json!({"s": "rural"})).await;
    assert_eq!(live["totalCount"], 0);
    let with_deleted = pops(&server, json!({"s": "rural", "inc": true})).await;
    assert_eq!(field(&with_deleted, "id"), vec![other["id"].clone()]);
}

async fn the_document_column_is_the_document_field(backend: Backend) {
    let server = fixture_server(backend).await;
    let staff = server.staff().await;
    let listed = staff
        .data("{ pops(first: 100) { nodes { id document } } }", json!({}))
        .await;
    let api: Vec<(String, Value)> = listed["pops"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap().to_owned(), n["document"].clone()))
        .collect();
    assert_eq!(api.len(), fixture_pops().len());
    let db = server.db().await;
    let mut pooled = db.get().await.unwrap();
    for (id, document) in api {
        let uuid = mapagov::db::types::DbUuid(id.parse().unwrap());
        let mut conn = pooled.conn();
        let stored: Value = with_backend!(&mut conn, |c| schema::pops::table
            .filter(schema::pops::uuid.eq(uuid))
            .select(schema::pops::document)
            .first(c)
            .await)
        .unwrap();
        assert_eq!(stored, document, "{id}");
    }
}

async fn a_copy_to_the_other_backend_searches_the_same(backend: Backend) {
    // Imported on the other backend, copied here (rows written by `copy`, not by the API).
    let (source_url, _source_dir) = common::fresh_database(backend.other()).await;
    let source = common::database_config(&source_url, &[]);
    migrate::run(&source, Direction::Up).await.unwrap();
    let data = mapagov::legacy::read(&fixture("dump_pops.json"))
        .await
        .unwrap();
    import(
        &Db::connect(&source).await.unwrap(),
        &data,
        &ImportOptions::default(),
    )
    .await
    .unwrap();
    let (url, dir) = common::fresh_database(backend).await;
    copy_between(&source, &common::database_config(&url, &[]), false, false)
        .await
        .unwrap();
    let server = TestServer::start_on(backend, url, dir, &[]).await;
    let staff = server.staff().await;
    let found = pops(staff, json!({"s": "pensão", "first": 100})).await;
    assert_eq!(legacy_ids(&found), fixture_matching(&["pensao"]));
    let found = pops(staff, json!({"s": "subsídios judiciais", "first": 100})).await;
    assert_eq!(
        legacy_ids(&found),
        fixture_matching(&["subsidios", "judiciais"])
    );
    let no_area: BTreeSet<i64> = fixture_pops()
        .into_iter()
        .filter(|(_, f)| f["area_codigo"].is_null())
        .map(|(id, _)| id)
        .collect();
    assert!(!no_area.is_empty());
    let found = pops(
        staff,
        json!({"dc": {"area": {"codigo": null}}, "first": 100}),
    )
    .await;
    assert_eq!(legacy_ids(&found), no_area);
}

async fn search_respects_visibility_and_composes_with_filters(backend: Backend) {
    let server = fixture_server(backend).await;
    // The imported POPs have no owner: an ordinary user finds only their own.
    let mine = create(&server, "v1", json!({"nomeProcesso": "Minha pensão"})).await;
    let found = pops(&server, json!({"s": "pensao", "first": 100})).await;
    assert_eq!(field(&found, "id"), vec![mine["id"].clone()]);
    assert_eq!(found["totalCount"], 1);
    let contained = pops(&server, json!({"dc": {"sistemas": []}, "first": 100})).await;
    assert_eq!(field(&contained, "id"), vec![mine["id"].clone()]);
    // A reviewer of an area finds that area's POPs.
    let reviewer = server.user("revisora", false, Some("CGBEN")).await;
    let theirs = reviewer
        .data(
            "mutation { autosavePop(input: {sessionId: \"v2\", content: {nomeProcesso: \"Pensão da área\", area: {codigo: \"CGBEN\"}}}) { pop { id } } }",
            json!({}),
        )
        .await;
    let by_reviewer = pops(&reviewer, json!({"s": "pensao", "first": 100})).await;
    assert_eq!(
        field(&by_reviewer, "id"),
        vec![theirs["autosavePop"]["pop"]["id"].clone()]
    );

    // Staff: search AND status AND containment.
    let staff = server.staff().await;
    let all = pops(staff, json!({"s": "pensao", "first": 100})).await;
    let expected_all = fixture_matching(&["pensao"]);
    assert_eq!(all["totalCount"], expected_all.len() + 2);
    change_status(&server, &mine["id"], "IN_REVIEW", None).await;
    let in_review = pops(
        staff,
        json!({"s": "pensao", "status": "IN_REVIEW", "first": 100}),
    )
    .await;
    assert_eq!(field(&in_review, "id"), vec![mine["id"].clone()]);
    let drafts = pops(
        staff,
        json!({"s": "pensao", "status": "DRAFT", "first": 100}),
    )
    .await;
    assert_eq!(drafts["totalCount"], expected_all.len() + 1);
    let in_area = pops(
        staff,
        json!({"s": "pensao", "dc": {"area": {"codigo": "CGBEN"}}, "first": 100}),
    )
    .await;
    assert_eq!(
        field(&in_area, "id"),
        vec![theirs["autosavePop"]["pop"]["id"].clone()]
    );
}

async fn hostile_and_empty_searches(backend: Backend) {
    let server = fixture_server(backend).await;
    let staff = server.staff().await;
    let before = pops(staff, json!({})).await["totalCount"].clone();
    for raw in ["", "   ", "\t\n", "\"\" * - ( ) : ^", "'\"", "&|!<->"] {
        let err = staff.error(POPS, json!({"s": raw})).await;
        assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT", "{raw:?}");
        assert_eq!(err["extensions"]["field"], "search", "{raw:?}");
    }
    let long = "pensão ".repeat(100);
    assert_eq!(
        staff.error_code(POPS, json!({"s": long})).await,
        "BAD_USER_INPUT"
    );
    // Operators are words: "OR" is looked for, not applied, so nothing has foo, or and bar.
    for raw in [
        "\"foo\" OR bar*",
        "pensão OR xilofone",
        "'); DROP TABLE pops; --",
        "pensão\" OR \"1\"=\"1",
        "NEAR(pensão aposentadoria)",
        "pens*",
        "-pensão",
        "pensão & !tcu",
        "nome_processo:pensão",
    ] {
        let found = pops(staff, json!({"s": raw, "first": 100})).await;
        let n = found["totalCount"].as_u64().unwrap();
        assert!(
            n <= fixture_matching(&["pensao"]).len() as u64,
            "{raw}: {n}"
        );
        if raw.contains("xilofone") || raw.contains("foo") || raw.contains("DROP") {
            assert_eq!(n, 0, "{raw}");
        }
    }
    // "-pensão" is the word pensão, not its negation; "pens*" is the word pens.
    assert_eq!(
        legacy_ids(&pops(staff, json!({"s": "-pensão", "first": 100})).await),
        fixture_matching(&["pensao"])
    );
    assert_eq!(pops(staff, json!({})).await["totalCount"], before);
}

async fn containment_semantics(backend: Backend) {
    let server = TestServer::start(backend).await;
    let a = create(
        &server,
        "c1",
        json!({
            "nomeProcesso": "A",
            "area": {"codigo": "CGBEN", "nome": "Benefícios"},
            "sistemas": ["SIAPE", "SEI", "SOUGOV"],
            "etapas": [{"numero": 1, "descricao": "abrir", "detalhes": ["x", "y"]}],
        }),
    )
    .await;
    let b = create(
        &server,
        "c2",
        json!({
            "nomeProcesso": "B",
            "area": {"codigo": "COATE"},
            "sistemas": ["SEI"],
            "etapas": [{"numero": 2, "descricao": "fechar"}],
        }),
    )
    .await;
    let (a, b) = (a["id"].clone(), b["id"].clone());
    let cases: Vec<(Value, Vec<&Value>)> = vec![
        (json!({}), vec![&b, &a]),
        (json!({"area": {"codigo": "CGBEN"}}), vec![&a]),
        (
            json!({"area": {"codigo": "CGBEN", "nome": "Benefícios"}}),
            vec![&a],
        ),
        (json!({"area": {"nome": "Outra"}}), vec![]),
        (json!({"sistemas": ["SEI"]}), vec![&b, &a]),
        (json!({"sistemas": ["SOUGOV", "SIAPE"]}), vec![&a]),
        (json!({"sistemas": ["SEI", "SEI"]}), vec![&b, &a]),
        (json!({"sistemas": ["SEI", "DOU"]}), vec![]),
        (json!({"sistemas": "SEI"}), vec![]),
        (json!({"etapas": [{"numero": 1}]}), vec![&a]),
        (json!({"etapas": [{"detalhes": ["y"]}]}), vec![&a]),
        (json!({"etapas": [{"numero": 2.0}]}), vec![&b]),
        (json!({"etapas": [{"numero": "2"}]}), vec![]),
        (json!({"versao": 1, "status": "draft"}), vec![&b, &a]),
        (json!({"nome_processo": "A"}), vec![&a]),
        (json!({"nome_processo": "a"}), vec![]),
        (json!({"macroprocesso": null}), vec![&b, &a]),
        (json!({"inexistente": null}), vec![]),
    ];
    for (needle, expected) in cases {
        let found = pops(&server, json!({"dc": needle})).await;
        let expected: Vec<Value> = expected.into_iter().cloned().collect();
        assert_eq!(field(&found, "id"), expected, "{needle}");
        assert_eq!(found["totalCount"], expected.len(), "{needle}");
    }
    // Pagination with containment.
    let page = pops(&server, json!({"dc": {"sistemas": ["SEI"]}, "first": 1})).await;
    assert_eq!(field(&page, "id"), vec![b.clone()]);
    let next = pops(
        &server,
        json!({"dc": {"sistemas": ["SEI"]}, "first": 1, "after": page["pageInfo"]["endCursor"]}),
    )
    .await;
    assert_eq!(field(&next, "id"), vec![a.clone()]);
    assert_eq!(next["pageInfo"]["hasNextPage"], false);
    // Not an object.
    for bad in [json!([1]), json!("x"), json!(1), json!(true)] {
        let err = server.error(POPS, json!({"dc": bad})).await;
        assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT", "{bad}");
        assert_eq!(err["extensions"]["field"], "documentContains", "{bad}");
    }
    // Not JSON at all: the JSON scalar takes any GraphQL value, so a string literal is a string.
    let err = server
        .error(
            "{ pops(documentContains: \"{oops\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT");
}

both_backends!(
    accents_are_ignored_on_the_fixtures_real_texts,
    inflections_match_on_postgres_only,
    results_are_ranked_and_paginate_both_ways,
    every_write_keeps_search_and_document_current,
    the_document_column_is_the_document_field,
    a_copy_to_the_other_backend_searches_the_same,
    search_respects_visibility_and_composes_with_filters,
    hostile_and_empty_searches,
    containment_semantics,
);

/// SQLite's containment function decides exactly as PostgreSQL's `@>`, case by case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_containment_agrees_with_jsonb() {
    let url = common::fresh_pg_database().await;
    let mut pg =
        <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(&url)
            .await
            .unwrap();
    let docs = [
        json!({"a": 1, "b": [1, 2, [3, 4]], "c": {"d": [{"e": "f", "g": null}], "h": true}}),
        json!([1, "x", {"a": 1}, [2]]),
        json!({"n": 1.5, "m": 10, "s": "", "z": false}),
        json!("x"),
        json!(1),
    ];
    let needles = [
        json!({}),
        json!([]),
        json!({"a": 1}),
        json!({"a": 1.0}),
        json!({"a": "1"}),
        json!({"b": [2, 1, 1]}),
        json!({"b": [[4]]}),
        json!({"b": [3]}),
        json!({"b": 1}),
        json!({"c": {"d": [{"e": "f"}]}}),
        json!({"c": {"d": [{"g": null}], "h": true}}),
        json!({"c": {"d": {"e": "f"}}}),
        json!({"n": 1.50, "m": 10.0}),
        json!({"s": null}),
        json!({"z": false, "x": null}),
        json!("x"),
        json!(1),
        json!([1]),
        json!(["x", 1]),
        json!([{"a": 1}]),
        json!([{}]),
        json!([[2]]),
        json!([2]),
        json!({"0": 1}),
    ];
    let mut checked = 0;
    for doc in &docs {
        for needle in &needles {
            let expected: bool = diesel::select(
                diesel::dsl::sql::<diesel::sql_types::Bool>("")
                    .bind::<diesel::sql_types::Jsonb, _>(doc)
                    .sql(" @> ")
                    .bind::<diesel::sql_types::Jsonb, _>(needle),
            )
            .get_result(&mut pg)
            .await
            .unwrap();
            assert_eq!(
                mapagov::domain::search::json_contains(doc, needle),
                expected,
                "{doc} @> {needle}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, docs.len() * needles.len());
}
