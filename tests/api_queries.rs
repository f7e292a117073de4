//! The read side over HTTP on both backends: `pops` (filters, totalCount, Relay pagination both
//! ways) and `popHistory` (newest first, pagination, the field filter).
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use mapagov::graphql::node::GlobalId;

use common::pops::{change_status, create, history, save, DELETE, HISTORY_FIELDS};
use common::{Backend, TestServer};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const POPS: &str = "query($first: Int, $after: String, $last: Int, $before: String, \
    $status: PopStatus, $session: String, $area: String, $inc: Boolean! = false) { \
    pops(first: $first, after: $after, last: $last, before: $before, status: $status, \
    sessionId: $session, area: $area, includeDeleted: $inc) { totalCount \
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } \
    nodes { id status sessionId area { codigo } deletedAt } } }";

async fn pops(server: &TestServer, vars: Value) -> Value {
    server.data(POPS, vars).await["pops"].clone()
}

fn ids(connection: &Value) -> Vec<Value> {
    connection["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].clone())
        .collect()
}

/// Six POPs in two areas and three sessions, in every status, one of them deleted; returns them
/// oldest first as the server last returned each.
async fn seed(server: &TestServer) -> Vec<Value> {
    let mut made = Vec::new();
    for (i, (session, area)) in [
        ("s1", "COATE"),
        ("s2", "COATE"),
        ("s3", "CGBEN"),
        ("s4", "CGBEN"),
        ("s5", "COATE"),
        ("s6", "CGBEN"),
    ]
    .into_iter()
    .enumerate()
    {
        let p = create(
            server,
            session,
            json!({"nomeProcesso": format!("POP {i}"), "area": {"codigo": area}}),
        )
        .await;
        made.push(p);
    }
    change_status(server, &made[1]["id"], "IN_REVIEW", None).await;
    for to in ["IN_REVIEW", "PUBLISHED"] {
        change_status(server, &made[2]["id"], to, None).await;
    }
    for to in ["IN_REVIEW", "PUBLISHED", "ARCHIVED"] {
        change_status(server, &made[3]["id"], to, None).await;
    }
    server.data(DELETE, json!({"id": made[4]["id"]})).await;
    made
}

/// What the test knows of a POP: id, status, session, area code, deleted.
type Known = (Value, &'static str, String, &'static str, bool);

/// A filter case: the variables and which known POPs it must return.
type Case = (Value, Box<dyn Fn(&Known) -> bool>);

async fn filters_select_the_matching_pops(backend: Backend) {
    let server = TestServer::start(backend).await;
    let made = seed(&server).await;
    // The model: (id, status, session, area, deleted), newest first.
    let statuses = [
        "DRAFT",
        "IN_REVIEW",
        "PUBLISHED",
        "ARCHIVED",
        "DRAFT",
        "DRAFT",
    ];
    let model: Vec<Known> = made
        .iter()
        .enumerate()
        .rev()
        .map(|(i, p)| {
            (
                p["id"].clone(),
                statuses[i],
                format!("s{}", i + 1),
                if [0, 1, 4].contains(&i) {
                    "COATE"
                } else {
                    "CGBEN"
                },
                i == 4,
            )
        })
        .collect();
    let cases: Vec<Case> = vec![
        (json!({}), Box::new(|m| !m.4)),
        (json!({"inc": true}), Box::new(|_| true)),
        (
            json!({"status": "DRAFT"}),
            Box::new(|m| m.1 == "DRAFT" && !m.4),
        ),
        (
            json!({"status": "DRAFT", "inc": true}),
            Box::new(|m| m.1 == "DRAFT"),
        ),
        (
            json!({"status": "PUBLISHED"}),
            Box::new(|m| m.1 == "PUBLISHED"),
        ),
        (
            json!({"status": "ARCHIVED"}),
            Box::new(|m| m.1 == "ARCHIVED"),
        ),
        (
            json!({"area": "COATE"}),
            Box::new(|m| m.3 == "COATE" && !m.4),
        ),
        (
            json!({"area": "CGBEN", "status": "DRAFT"}),
            Box::new(|m| m.3 == "CGBEN" && m.1 == "DRAFT"),
        ),
        (json!({"session": "s2"}), Box::new(|m| m.2 == "s2")),
        (json!({"session": "s5"}), Box::new(|_| false)),
        (
            json!({"session": "s5", "inc": true}),
            Box::new(|m| m.2 == "s5"),
        ),
        (json!({"area": "NADA"}), Box::new(|_| false)),
    ];
    for (vars, keep) in cases {
        let got = pops(&server, vars.clone()).await;
        let expected: Vec<Value> = model
            .iter()
            .filter(|m| keep(m))
            .map(|m| m.0.clone())
            .collect();
        assert_eq!(ids(&got), expected, "{vars}");
        assert_eq!(got["totalCount"], expected.len(), "{vars}");
        for node in got["nodes"].as_array().unwrap() {
            let m = model.iter().find(|m| m.0 == node["id"]).unwrap();
            assert_eq!(node["status"], m.1);
            assert_eq!(node["sessionId"], m.2.as_str());
            assert_eq!(node["area"]["codigo"], m.3);
            assert_eq!(node["deletedAt"].is_string(), m.4);
        }
    }
}

async fn pagination_visits_every_pop_once_in_both_directions(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(
            create(
                &server,
                &format!("s{i}"),
                json!({"nomeProcesso": format!("{i}")}),
            )
            .await["id"]
                .clone(),
        );
    }
    let newest_first: Vec<Value> = created.iter().rev().cloned().collect();
    let all = pops(&server, json!({"first": 100})).await;
    assert_eq!(ids(&all), newest_first);

    // Forwards.
    let mut seen = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let page = pops(&server, json!({"first": 3, "after": after})).await;
        assert_eq!(page["totalCount"], 7);
        assert_eq!(page["pageInfo"]["hasPreviousPage"], !after.is_null());
        seen.extend(ids(&page));
        pages += 1;
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
        assert!(pages < 10);
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, newest_first);

    // Backwards: each page goes before the ones already seen.
    let mut seen: Vec<Value> = Vec::new();
    let mut before = Value::Null;
    let mut pages = 0;
    loop {
        let page = pops(&server, json!({"last": 3, "before": before})).await;
        assert_eq!(page["totalCount"], 7);
        assert_eq!(page["pageInfo"]["hasNextPage"], !before.is_null());
        let mut chunk = ids(&page);
        chunk.extend(seen);
        seen = chunk;
        pages += 1;
        if page["pageInfo"]["hasPreviousPage"] == false {
            break;
        }
        before = page["pageInfo"]["startCursor"].clone();
        assert!(pages < 10);
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, newest_first);

    // Out-of-range and contradictory arguments.
    for (vars, field) in [
        (json!({"first": 101}), "first"),
        (json!({"last": 101}), "last"),
        (json!({"first": -1}), "first"),
        (json!({"first": 2, "last": 2}), "first"),
        (json!({"after": "not a cursor"}), "after"),
    ] {
        let err = server.error(POPS, vars.clone()).await;
        assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT", "{vars}");
        assert_eq!(err["extensions"]["field"], field, "{vars}");
    }
    assert_eq!(ids(&pops(&server, json!({"first": 100})).await).len(), 7);
}

const HISTORY_PAGE: &str = "query($id: ID!, $first: Int, $after: String, $field: String) { \
    popHistory(popId: $id, first: $first, after: $after, field: $field) { totalCount \
    pageInfo { hasNextPage endCursor } nodes { ...HistoryFields } } }";

async fn history_page(server: &TestServer, vars: Value) -> Value {
    let doc = format!("{HISTORY_PAGE} {HISTORY_FIELDS}");
    server.data(&doc, vars).await["popHistory"].clone()
}

async fn history_is_newest_first_paginated_and_filterable(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut current = create(
        &server,
        "s",
        json!({"nomeProcesso": "A", "pontosAtencao": "p0"}),
    )
    .await;
    let id = current["id"].clone();
    // (sequence, action, fields) of every write, in order.
    let mut writes: Vec<(i64, &str, BTreeSet<&str>)> = vec![(
        1,
        "CREATE",
        BTreeSet::from(["nome_processo", "pontos_atencao"]),
    )];
    for (i, edit) in [
        json!({"pontosAtencao": "p1"}),
        json!({"pontosAtencao": "p2", "operadores": "X"}),
        json!({"nomeProcesso": "B", "pontosAtencao": "p3", "macroprocesso": "M"}),
        json!({"pontosAtencao": "p4"}),
    ]
    .into_iter()
    .enumerate()
    {
        current = save(&server, &current, edit.clone()).await["pop"].clone();
        let fields: BTreeSet<&str> = edit
            .as_object()
            .unwrap()
            .keys()
            .map(|k| match k.as_str() {
                "pontosAtencao" => "pontos_atencao",
                "operadores" => "operadores",
                "nomeProcesso" => "nome_processo",
                _ => "macroprocesso",
            })
            .collect();
        writes.push((i as i64 + 2, "AUTOSAVE", fields));
    }
    change_status(&server, &id, "IN_REVIEW", None).await;
    writes.push((6, "STATUS", BTreeSet::from(["status"])));

    let full = history(&server, &id).await;
    let expected_total: usize = writes.iter().map(|w| w.2.len()).sum();
    assert_eq!(full.len(), expected_total);
    // Newest first: sequences never go up, entry ids strictly go down.
    let entry_ids: Vec<i64> = full
        .iter()
        .map(
            |e| match GlobalId::decode(e["id"].as_str().unwrap()).unwrap() {
                GlobalId::HistoryEntry(id) => id,
                other => panic!("not a history entry id: {other:?}"),
            },
        )
        .collect();
    assert!(entry_ids.windows(2).all(|w| w[0] > w[1]), "{entry_ids:?}");
    for (sequence, action, fields) in &writes {
        let at: Vec<&Value> = full
            .iter()
            .filter(|e| e["autosaveSequence"] == *sequence)
            .collect();
        let got: BTreeSet<&str> = at.iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(&got, fields, "sequence {sequence}");
        assert!(at.iter().all(|e| e["action"] == *action));
    }
    let sequences: Vec<i64> = full
        .iter()
        .map(|e| e["autosaveSequence"].as_i64().unwrap())
        .collect();
    let mut sorted = sequences.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(sequences, sorted);

    // Pages of 2 cover everything exactly once, in the same order.
    let mut paged = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = history_page(&server, json!({"id": id, "first": 2, "after": after})).await;
        assert_eq!(page["totalCount"], expected_total);
        paged.extend(page["nodes"].as_array().unwrap().iter().cloned());
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
        assert!(paged.len() <= expected_total);
    }
    assert_eq!(paged, full);

    // One field's entries: its values, newest first, each old value the next one's new value.
    let filtered = history_page(
        &server,
        json!({"id": id, "first": 100, "field": "pontos_atencao"}),
    )
    .await;
    let expected: Vec<&Value> = full
        .iter()
        .filter(|e| e["field"] == "pontos_atencao")
        .collect();
    assert_eq!(filtered["totalCount"], expected.len());
    let nodes: Vec<&Value> = filtered["nodes"].as_array().unwrap().iter().collect();
    assert_eq!(nodes, expected);
    let values: Vec<&Value> = nodes.iter().map(|e| &e["newValue"]).collect();
    assert_eq!(values, vec!["p4", "p3", "p2", "p1", "p0"]);
    for pair in nodes.windows(2) {
        assert_eq!(pair[0]["oldValue"], pair[1]["newValue"]);
    }
    let none = history_page(&server, json!({"id": id, "field": "fluxos_saida"})).await;
    assert_eq!(none["totalCount"], 0);
    assert_eq!(none["nodes"], json!([]));

    // Paging one field.
    let first = history_page(
        &server,
        json!({"id": id, "first": 3, "field": "pontos_atencao"}),
    )
    .await;
    let rest = history_page(
        &server,
        json!({"id": id, "first": 3, "field": "pontos_atencao", "after": first["pageInfo"]["endCursor"]}),
    )
    .await;
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);
    let mut both: Vec<Value> = first["nodes"].as_array().unwrap().clone();
    both.extend(rest["nodes"].as_array().unwrap().iter().cloned());
    assert_eq!(both.iter().collect::<Vec<_>>(), expected);

    // Errors.
    let doc = format!("{HISTORY_PAGE} {HISTORY_FIELDS}");
    let err = server
        .error(&doc, json!({"id": "00000000-0000-4000-8000-000000000000"}))
        .await;
    assert_eq!(err["extensions"]["code"], "NOT_FOUND");
    let err = server.error(&doc, json!({"id": id, "first": 101})).await;
    assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT");
}

/// A POP's `document` goes out as the text of its value, whatever order and spacing the database
/// keeps its JSON columns in (PostgreSQL's `jsonb` sorts keys by length, then bytes): keys in
/// code-point order, no whitespace, numbers as `serde_json` writes them. Written straight from the
/// stored text, so the test reads the response body as text.
async fn a_document_is_written_as_the_text_of_its_value(backend: Backend) {
    let server = TestServer::start(backend).await;
    let step = |n: u64| {
        json!({
            "numero": n, "descricao": format!("Etapa \"{n}\"\n\u{1}ç"), "bb": 2.50,
            "c": [1e2, -0.0, 18446744073709551615u64, {"zz": null, "é": true, "e": "\u{1F600}"}],
            "a\u{0301}": {}, "A": [], "z": "/"
        })
    };
    let pop = create(
        &server,
        "doc-text",
        json!({"nomeProcesso": "Texto", "etapas": [step(1), step(2)], "sistemas": ["SEI", "SIAPE"],
            "documentosUtilizados": [{"tipo": "Formulário", "descricao": "x"}], "fluxosEntrada": [], "fluxosSaida": ["Área"]}),
    )
    .await;
    let body = server
        .gql_text(
            "query($id: ID!) { pop(id: $id) { document } }",
            json!({"id": pop["id"]}),
        )
        .await;
    let parsed: Value = serde_json::from_str(&body).unwrap();
    let document = &parsed["data"]["pop"]["document"];
    assert_eq!(document["etapas"][0]["bb"], json!(2.5), "{body}");
    assert_eq!(document["documentos_utilizados"][0]["tipo"], "Formulário");
    let text = serde_json::to_string(document).unwrap();
    assert!(
        body.contains(&format!("{{\"document\":{text}}}")),
        "the document is not written as its value's text:\n{body}\nexpected:\n{text}"
    );
}

both_backends!(
    a_document_is_written_as_the_text_of_its_value,
    filters_select_the_matching_pops,
    pagination_visits_every_pop_once_in_both_directions,
    history_is_newest_first_paginated_and_filterable,
);
