//! Publication and the catalogue over HTTP on both backends: areas (staff manage them; everyone
//! signed in lists them with their counts of published POPs).
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::pops::{change_status, create};
use common::{Backend, Client, TestServer};
use serde_json::{json, Value};

const AREA_FIELDS: &str = "fragment AreaFields on CatalogueArea { codigo nome nomeCurto slug \
    prefixo capPrefix ordem ativo parentCodigo publishedPopCount publishedPopCountWithSubareas }";

async fn create_area(client: &Client, input: Value) -> Value {
    let doc = format!(
        "mutation($input: CatalogueAreaInput!) {{ createArea(input: $input) {{ ...AreaFields }} }} \
         {AREA_FIELDS}"
    );
    client.data(&doc, json!({ "input": input })).await["createArea"].clone()
}

async fn area_error(client: &Client, mutation: &str, variables: Value) -> (String, Value) {
    let doc = match mutation {
        "create" => {
            "mutation($input: CatalogueAreaInput!) { createArea(input: $input) { codigo } }"
        }
        _ => {
            "mutation($codigo: String!, $input: CatalogueAreaInput!) { \
              updateArea(codigo: $codigo, input: $input) { codigo } }"
        }
    };
    let err = client.error(doc, variables).await;
    (
        err["extensions"]["code"].as_str().unwrap().to_owned(),
        err["extensions"]["field"].clone(),
    )
}

async fn areas(client: &Client) -> Vec<Value> {
    let doc = format!("{{ areas(includeInactive: true) {{ ...AreaFields }} }} {AREA_FIELDS}");
    client.data(&doc, json!({})).await["areas"]
        .as_array()
        .unwrap()
        .clone()
}

async fn areas_are_managed_by_staff_and_listed_with_published_counts(backend: Backend) {
    let server = TestServer::start(backend).await;
    let staff = server.staff().await;
    let digep = json!({"codigo": "DIGEP", "nome": "Diretoria de Gestão de Pessoas",
                       "slug": "digep", "prefixo": "05", "ordem": 2});
    // Only staff manage areas.
    let (code, _) = area_error(&server, "create", json!({ "input": digep })).await;
    assert_eq!(code, "FORBIDDEN");

    let created = create_area(staff, digep.clone()).await;
    assert_eq!(created["capPrefix"], "05");
    assert_eq!(created["ativo"], true);
    let sub = create_area(
        staff,
        json!({"codigo": "DIGEP-RO", "nome": "Regional RO", "slug": "digep-ro",
               "parentCodigo": "DIGEP", "ordem": 1}),
    )
    .await;
    assert_eq!(
        (&sub["prefixo"], &sub["capPrefix"], &sub["parentCodigo"]),
        (&Value::Null, &json!("05"), &json!("DIGEP"))
    );
    create_area(
        staff,
        json!({"codigo": "COATE", "nome": "Coordenação", "slug": "coate", "prefixo": "07",
               "ordem": 1}),
    )
    .await;

    // Bad input names the field; nothing is written.
    for (input, field) in [
        (
            json!({"codigo": "DIGEP RO", "nome": "x", "slug": "x", "prefixo": "01"}),
            "input.codigo",
        ),
        (
            json!({"codigo": "X", "nome": "x", "slug": "digep", "prefixo": "01"}),
            "input.slug",
        ),
        (
            json!({"codigo": "DIGEP", "nome": "x", "slug": "x", "prefixo": "01"}),
            "input.codigo",
        ),
        (
            json!({"codigo": "X", "nome": "x", "slug": "x", "prefixo": "1"}),
            "input.prefixo",
        ),
        (
            json!({"codigo": "X", "nome": "x", "slug": "x"}),
            "input.prefixo",
        ),
        (
            json!({"codigo": "X", "nome": "x", "slug": "x", "parentCodigo": "NOPE"}),
            "input.parentCodigo",
        ),
    ] {
        let (code, got) = area_error(staff, "create", json!({ "input": input })).await;
        assert_eq!(
            (code.as_str(), got),
            ("BAD_USER_INPUT", json!(field)),
            "{input}"
        );
    }
    assert_eq!(areas(staff).await.len(), 3);

    // One published POP in the sub-area, a draft in the area: only the published one counts.
    let published = create(
        &server,
        "s1",
        json!({"nomeProcesso": "Conceder", "area": {"codigo": "DIGEP-RO", "nome": "RO"}}),
    )
    .await;
    change_status(&server, &published["id"], "IN_REVIEW", None).await;
    change_status(&server, &published["id"], "PUBLISHED", None).await;
    create(
        &server,
        "s2",
        json!({"nomeProcesso": "Rascunho", "area": {"codigo": "DIGEP", "nome": "D"}}),
    )
    .await;

    // Every signed-in user lists them, by `ordem` then name.
    let reader = server.user("reader", false, None).await;
    let listed = areas(&reader).await;
    let summary: Vec<(&str, i64, i64)> = listed
        .iter()
        .map(|a| {
            (
                a["codigo"].as_str().unwrap(),
                a["publishedPopCount"].as_i64().unwrap(),
                a["publishedPopCountWithSubareas"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![("COATE", 0, 0), ("DIGEP-RO", 1, 1), ("DIGEP", 0, 1)]
    );
    let by_slug = reader
        .data(
            &format!("{{ area(slug: \"digep-ro\") {{ ...AreaFields }} }} {AREA_FIELDS}"),
            json!({}),
        )
        .await;
    assert_eq!(by_slug["area"]["codigo"], "DIGEP-RO");
    let code = server
        .anonymous()
        .error_code("{ areas { codigo } }", json!({}))
        .await;
    assert_eq!(code, "UNAUTHENTICATED");

    // Changes: no cycles, no new code for an area in use; the rest is replaced.
    let (code, field) = area_error(
        staff,
        "update",
        json!({"codigo": "DIGEP", "input": {"codigo": "DIGEP", "nome": "D", "slug": "digep",
               "prefixo": "05", "parentCodigo": "DIGEP-RO"}}),
    )
    .await;
    assert_eq!(
        (code.as_str(), field),
        ("BAD_USER_INPUT", json!("input.parentCodigo"))
    );
    let (code, field) = area_error(
        staff,
        "update",
        json!({"codigo": "DIGEP-RO", "input": {"codigo": "DIGEP-RR", "nome": "RR",
               "slug": "digep-ro", "parentCodigo": "DIGEP"}}),
    )
    .await;
    assert_eq!(
        (code.as_str(), field),
        ("BAD_USER_INPUT", json!("input.codigo"))
    );
    let (code, _) = area_error(
        &reader,
        "update",
        json!({"codigo": "COATE", "input": {"codigo": "COATE", "nome": "C", "slug": "coate",
               "prefixo": "07"}}),
    )
    .await;
    assert_eq!(code, "FORBIDDEN");
    let updated = staff
        .data(
            &format!(
                "mutation($input: CatalogueAreaInput!) {{ updateArea(codigo: \"COATE\", \
                 input: $input) {{ ...AreaFields }} }} {AREA_FIELDS}"
            ),
            json!({"input": {"codigo": "COATE-2", "nome": "Coordenação Geral",
                   "slug": "coate-2", "prefixo": "08", "ativo": false}}),
        )
        .await["updateArea"]
        .clone();
    assert_eq!(
        (&updated["codigo"], &updated["prefixo"], &updated["ativo"]),
        (&json!("COATE-2"), &json!("08"), &json!(false))
    );
    let active = reader.data("{ areas { codigo } }", json!({})).await;
    assert_eq!(
        active["areas"],
        json!([{"codigo": "DIGEP-RO"}, {"codigo": "DIGEP"}])
    );
}

both_backends!(areas_are_managed_by_staff_and_listed_with_published_counts);
