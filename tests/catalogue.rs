//! Publication and the catalogue over HTTP on both backends: areas (staff manage them; everyone
//! signed in lists them with their counts of published POPs).
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::pops::{change_status, create};
use common::{Backend, Client, TestServer};
use diesel_async::RunQueryDsl;
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

const VERSION_FIELDS: &str = "fragment VersionFields on PublishedVersion { popId versao \
    codigoProcesso nomeProcesso document integrityHash publishedAt publishedBy { username } \
    reason isCurrent }";

async fn published_version(
    client: &Client,
    slug: &str,
    codigo: &str,
    versao: Option<i64>,
) -> Value {
    let doc = format!(
        "query($slug: String!, $codigo: String!, $versao: Int) {{ \
         publishedVersion(areaSlug: $slug, codigo: $codigo, versao: $versao) {{ \
         ...VersionFields }} }} {VERSION_FIELDS}"
    );
    client
        .data(
            &doc,
            json!({"slug": slug, "codigo": codigo, "versao": versao}),
        )
        .await["publishedVersion"]
        .clone()
}

/// Publishing freezes the document as a version (with publisher, time and reason) that every
/// signed-in user can read by the catalogue address, while the draft itself stays private;
/// archiving leaves no current version but keeps the version readable by number; the database
/// refuses to change a version.
async fn publishing_freezes_a_version_read_by_catalogue_address(backend: Backend) {
    let server = TestServer::start(backend).await;
    let staff = server.staff().await;
    create_area(
        staff,
        json!({"codigo": "DIGEP", "nome": "Diretoria de Gestão de Pessoas", "slug": "digep",
               "prefixo": "05"}),
    )
    .await;
    let content = json!({"nomeProcesso": "Conceder férias", "codigoProcesso": "05.01.01.01.001",
                         "area": {"codigo": "DIGEP", "nome": "DIGEP"}});
    let pop = create(&server, "s1", content.clone()).await;
    let reader = server.user("reader", false, None).await;

    // Nothing is published yet: the address answers nothing, to the author as to anyone.
    assert_eq!(
        published_version(&reader, "digep", "05.01.01.01.001", None).await,
        Value::Null
    );
    change_status(&server, &pop["id"], "IN_REVIEW", None).await;
    assert_eq!(
        published_version(&reader, "digep", "05.01.01.01.001", None).await,
        Value::Null
    );
    let published = staff
        .data(
            "mutation($id: ID!) { changePopStatus(popId: $id, status: PUBLISHED, \
             reason: \"Revisão anual\") { pop { integrityHash document versao } } }",
            json!({"id": pop["id"]}),
        )
        .await["changePopStatus"]["pop"]
        .clone();

    let version = published_version(&reader, "digep", "05.01.01.01.001", None).await;
    assert_eq!(version["popId"], pop["id"]);
    // A new POP is version 1 as a draft; publishing adds one, as in the legacy system.
    assert_eq!(version["versao"], 2);
    assert_eq!(version["versao"], published["versao"]);
    assert_eq!(version["isCurrent"], true);
    assert_eq!(version["reason"], "Revisão anual");
    assert_eq!(version["publishedBy"]["username"], "staff");
    assert_eq!(version["nomeProcesso"], "Conceder férias");
    assert_eq!(version["document"], published["document"]);
    assert_eq!(version["integrityHash"], published["integrityHash"]);
    assert_eq!(
        version["integrityHash"].as_str().unwrap(),
        mapagov::domain::hash::integrity_hash(&version["document"])
    );
    // The reader sees the version, not the POP.
    let direct = reader
        .data(
            "query($id: ID!) { pop(id: $id) { id } }",
            json!({"id": pop["id"]}),
        )
        .await;
    assert_eq!(direct["pop"], Value::Null);
    // The POP lists it too.
    let listed = staff
        .data(
            &format!(
                "query($id: ID!) {{ pop(id: $id) {{ publishedVersions {{ ...VersionFields }} }} }} \
                 {VERSION_FIELDS}"
            ),
            json!({"id": pop["id"]}),
        )
        .await["pop"]["publishedVersions"]
        .clone();
    assert_eq!(listed, json!([version.clone()]));
    // Unknown addresses and versions answer nothing; a version number below 1 is bad input.
    assert_eq!(
        published_version(&reader, "nope", "05.01.01.01.001", None).await,
        Value::Null
    );
    assert_eq!(
        published_version(&reader, "digep", "05.01.01.01.001", Some(3)).await,
        Value::Null
    );
    let err = reader
        .error(
            "{ publishedVersion(areaSlug: \"digep\", codigo: \"x\", versao: 0) { versao } }",
            json!({}),
        )
        .await;
    assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(
        server
            .anonymous()
            .error_code(
                "{ publishedVersion(areaSlug: \"digep\", codigo: \"x\") { versao } }",
                json!({})
            )
            .await,
        "UNAUTHENTICATED"
    );

    // Archived: no version in force, version 2 still readable by number.
    change_status(&server, &pop["id"], "ARCHIVED", None).await;
    assert_eq!(
        published_version(&reader, "digep", "05.01.01.01.001", None).await,
        Value::Null
    );
    let old = published_version(&reader, "digep", "05.01.01.01.001", Some(2)).await;
    assert_eq!(old["isCurrent"], false);
    assert_eq!(old["document"], version["document"]);

    // Nobody rewrites a version, not even with SQL.
    let db = server.db().await;
    let mut pooled = db.get().await.unwrap();
    let mut conn = pooled.conn();
    let reader_id = "(SELECT id FROM users WHERE username = 'reader')";
    for forge in [
        "UPDATE pop_versions SET motivo = 'forged'".to_owned(),
        "UPDATE pop_versions SET payload = '{}'".to_owned(),
        format!("UPDATE pop_versions SET published_by_id = {reader_id}"),
    ] {
        let refused =
            mapagov::with_backend!(&mut conn, |c| diesel::sql_query(&forge).execute(c).await);
        let message = refused.unwrap_err().to_string();
        assert!(message.contains("immutable"), "{forge}: {message}");
    }
    // What may change: the current flag, and a publisher removed (a deleted user).
    for allowed in [
        "UPDATE pop_versions SET is_current = TRUE",
        "UPDATE pop_versions SET published_by_id = NULL",
    ] {
        mapagov::with_backend!(&mut conn, |c| diesel::sql_query(allowed).execute(c).await).unwrap();
    }
}

/// With `CATALOGUE_PUBLIC`, readers without a token read the catalogue (published versions
/// only, without their publisher); drafts and the rest still need a token.
async fn a_public_catalogue_answers_readers_without_a_token(backend: Backend) {
    let server = TestServer::start_with(backend, &[("CATALOGUE_PUBLIC", "true")]).await;
    let staff = server.staff().await;
    create_area(
        staff,
        json!({"codigo": "COATE", "nome": "Coordenação", "slug": "coate", "prefixo": "07"}),
    )
    .await;
    let content = json!({"nomeProcesso": "Atender", "codigoProcesso": "07.01.01.01.001",
                         "area": {"codigo": "COATE", "nome": "COATE"}});
    let pop = create(&server, "s1", content).await;
    let anonymous = server.anonymous();
    assert_eq!(
        published_version(&anonymous, "coate", "07.01.01.01.001", None).await,
        Value::Null
    );
    change_status(&server, &pop["id"], "IN_REVIEW", None).await;
    change_status(&server, &pop["id"], "PUBLISHED", None).await;
    let version = published_version(&anonymous, "coate", "07.01.01.01.001", None).await;
    assert_eq!(version["popId"], pop["id"]);
    assert_eq!(version["publishedBy"], Value::Null);
    let signed_in = published_version(staff, "coate", "07.01.01.01.001", None).await;
    assert_eq!(signed_in["publishedBy"]["username"], "staff");
    let by_slug = anonymous
        .data("{ area(slug: \"coate\") { codigo } }", json!({}))
        .await;
    assert_eq!(by_slug["area"]["codigo"], "COATE");
    let listed = anonymous
        .data("{ areas { codigo publishedPopCount } }", json!({}))
        .await;
    assert_eq!(
        listed["areas"],
        json!([{"codigo": "COATE", "publishedPopCount": 1}])
    );
    let listed = anonymous
        .data(
            "{ catalogue { popId } catalogueStats { byStatus { status count } } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["catalogue"], json!([{"popId": pop["id"]}]));
    assert_eq!(
        listed["catalogueStats"]["byStatus"],
        json!([{"status": "PUBLISHED", "count": 1}])
    );
    create(&server, "rascunho", json!({"nomeProcesso": "Rascunho"})).await;
    let signed_in = staff
        .data("{ catalogueStats { byStatus { status } } }", json!({}))
        .await;
    assert_eq!(
        signed_in["catalogueStats"]["byStatus"],
        json!([{"status": "DRAFT"}, {"status": "PUBLISHED"}])
    );
    let anonymous_stats = anonymous
        .data("{ catalogueStats { byStatus { status } } }", json!({}))
        .await;
    assert_eq!(
        anonymous_stats["catalogueStats"]["byStatus"],
        json!([{"status": "PUBLISHED"}])
    );
    for (query, variables) in [
        (
            "query($id: ID!) { pop(id: $id) { id } }",
            json!({"id": pop["id"]}),
        ),
        ("{ pops { totalCount } }", json!({})),
    ] {
        assert_eq!(
            anonymous.error_code(query, variables).await,
            "UNAUTHENTICATED",
            "{query}"
        );
    }
}

/// The catalogue lists current published versions (never drafts or archived POPs), by area with
/// its sub-areas and by ranked search, and counts POPs by status and area and recent
/// publications.
async fn the_catalogue_lists_searches_and_counts(backend: Backend) {
    let server = TestServer::start(backend).await;
    let staff = server.staff().await;
    common::areas::digep_and_coate(staff).await;
    let publish = |name: &'static str, area: &'static str, deliverable: &'static str| {
        let server = &server;
        async move {
            let pop = create(
                server,
                name,
                json!({"nomeProcesso": name, "entregaEsperada": deliverable,
                       "area": {"codigo": area, "nome": area}}),
            )
            .await;
            change_status(server, &pop["id"], "IN_REVIEW", None).await;
            change_status(server, &pop["id"], "PUBLISHED", None).await;
            pop
        }
    };
    publish("Conceder aposentadoria", "DIGEP", "Aposentadoria concedida").await;
    publish("Revisar pensão", "DIGEP-RO", "Pensão revista").await;
    let archived = publish("Pagar diárias", "COATE", "Diárias pagas").await;
    change_status(&server, &archived["id"], "ARCHIVED", None).await;
    create(
        &server,
        "draft",
        json!({"nomeProcesso": "Rascunho de aposentadoria", "area": {"codigo": "DIGEP", "nome": "D"}}),
    )
    .await;

    let reader = server.user("leitora", false, None).await;
    let list = |args: &'static str| {
        let reader = &reader;
        async move {
            let doc = format!("{{ catalogue{args} {{ nomeProcesso isCurrent }} }}");
            let data = reader.data(&doc, json!({})).await;
            data["catalogue"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| {
                    assert_eq!(v["isCurrent"], true);
                    v["nomeProcesso"].as_str().unwrap().to_owned()
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list("").await, ["Revisar pensão", "Conceder aposentadoria"]);
    assert_eq!(
        list("(areaCodigo: \"DIGEP\")").await,
        ["Revisar pensão", "Conceder aposentadoria"]
    );
    assert_eq!(list("(areaCodigo: \"DIGEP-RO\")").await, ["Revisar pensão"]);
    assert!(list("(areaCodigo: \"COATE\")").await.is_empty());
    assert_eq!(
        list("(search: \"aposentadoria\")").await,
        ["Conceder aposentadoria"]
    );
    assert_eq!(
        list("(search: \"pensão revista\")").await,
        ["Revisar pensão"]
    );
    for (args, field) in [
        ("(search: \"ap\")", "search"),
        ("(areaCodigo: \"NOPE\")", "areaCodigo"),
        ("(first: 0)", "first"),
    ] {
        let err = reader
            .error(&format!("{{ catalogue{args} {{ versao }} }}"), json!({}))
            .await;
        assert_eq!(
            (&err["extensions"]["code"], &err["extensions"]["field"]),
            (&json!("BAD_USER_INPUT"), &json!(field)),
            "{args}"
        );
    }

    let stats = reader
        .data(
            "{ catalogueStats { byStatus { status count } byArea { areaCodigo published } \
             publishedLast30Days } }",
            json!({}),
        )
        .await["catalogueStats"]
        .clone();
    assert_eq!(
        stats["byStatus"],
        json!([{"status": "ARCHIVED", "count": 1}, {"status": "DRAFT", "count": 1},
               {"status": "PUBLISHED", "count": 2}])
    );
    assert_eq!(
        stats["byArea"],
        json!([{"areaCodigo": "DIGEP", "published": 1}, {"areaCodigo": "DIGEP-RO", "published": 1}])
    );
    assert_eq!(stats["publishedLast30Days"], 3);
}

both_backends!(
    the_catalogue_lists_searches_and_counts,
    a_public_catalogue_answers_readers_without_a_token,
    areas_are_managed_by_staff_and_listed_with_published_counts,
    publishing_freezes_a_version_read_by_catalogue_address,
);
