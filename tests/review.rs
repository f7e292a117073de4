//! Review as people practise it, over HTTP on both backends: an area's queue (sub-areas
//! included, oldest submission first), and reviewers of an area reviewing its sub-areas.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::pops::{create, CHANGE_STATUS};
use common::{Backend, Client, TestServer};
use serde_json::{json, Value};

const QUEUE: &str = "query($area: String!) { reviewQueue(areaCodigo: $area) { \
    pop { id nomeProcesso status } submittedAt submittedBy { username } } }";

async fn queue(client: &Client, area: &str) -> Vec<Value> {
    client.data(QUEUE, json!({ "area": area })).await["reviewQueue"]
        .as_array()
        .unwrap()
        .clone()
}

fn names(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e["pop"]["nomeProcesso"].as_str().unwrap())
        .collect()
}

async fn a_queue_per_area_and_reviewers_of_sub_areas(backend: Backend) {
    let server = TestServer::start(backend).await;
    let staff = server.staff().await;
    common::areas::digep_and_coate(staff).await;
    let director = server.user("diretora", false, Some("DIGEP")).await;
    let regional = server.user("regional", false, Some("DIGEP-RO")).await;
    let other = server.user("coate", false, Some("COATE")).await;

    let submit = |name: &'static str, area: &'static str| {
        let server = &server;
        async move {
            let pop = create(
                server,
                name,
                json!({"nomeProcesso": name, "area": {"codigo": area, "nome": area}}),
            )
            .await;
            server
                .data(
                    CHANGE_STATUS,
                    json!({"id": pop["id"], "status": "IN_REVIEW"}),
                )
                .await;
            pop
        }
    };
    let in_sub = submit("Na regional", "DIGEP-RO").await;
    let in_area = submit("Na diretoria", "DIGEP").await;
    submit("Na coordenação", "COATE").await;
    create(
        &server,
        "rascunho",
        json!({"nomeProcesso": "Rascunho", "area": {"codigo": "DIGEP", "nome": "D"}}),
    )
    .await;

    // The area's queue holds its sub-areas' POPs, oldest submission first, with who submitted.
    let digep = queue(&director, "DIGEP").await;
    assert_eq!(names(&digep), ["Na regional", "Na diretoria"]);
    assert!(digep[0]["submittedAt"].as_str() <= digep[1]["submittedAt"].as_str());
    assert_eq!(digep[0]["submittedBy"]["username"], "tester");
    assert_eq!(names(&queue(&regional, "DIGEP-RO").await), ["Na regional"]);
    assert_eq!(
        names(&queue(staff, "DIGEP").await),
        ["Na regional", "Na diretoria"]
    );
    // A sub-area's reviewer does not review the area above; others review neither.
    for (client, area) in [
        (&regional, "DIGEP"),
        (&other, "DIGEP-RO"),
        (&server.user("x", false, None).await, "DIGEP"),
    ] {
        assert_eq!(
            client.error_code(QUEUE, json!({ "area": area })).await,
            "FORBIDDEN",
            "{area}"
        );
    }
    assert_eq!(
        director.error_code(QUEUE, json!({"area": "NOPE"})).await,
        "BAD_USER_INPUT"
    );

    // The area's reviewer reads and publishes the sub-area's POP; another area's cannot see it.
    let read = "query($id: ID!) { pop(id: $id) { id } }";
    let seen = director.data(read, json!({"id": in_sub["id"]})).await;
    assert_eq!(seen["pop"]["id"], in_sub["id"]);
    let hidden = other.data(read, json!({"id": in_sub["id"]})).await;
    assert_eq!(hidden["pop"], Value::Null);
    director
        .data(
            CHANGE_STATUS,
            json!({"id": in_sub["id"], "status": "PUBLISHED", "reason": "ok"}),
        )
        .await;
    director
        .data(
            CHANGE_STATUS,
            json!({"id": in_area["id"], "status": "DRAFT", "reason": "falta a base legal"}),
        )
        .await;
    assert!(queue(&director, "DIGEP").await.is_empty());

    // A sub-area created now is reviewed at once by the area's reviewer (whose token the server
    // has cached by now: a change to the area tree empties the cache).
    staff
        .data(
            "mutation($input: CatalogueAreaInput!) { createArea(input: $input) { codigo } }",
            json!({"input": {"codigo": "DIGEP-AC", "nome": "Regional AC", "slug": "digep-ac",
                             "parentCodigo": "DIGEP"}}),
        )
        .await;
    let acre = submit("No Acre", "DIGEP-AC").await;
    let mut visible = Value::Null;
    for _ in 0..50 {
        visible = director.data(read, json!({"id": acre["id"]})).await["pop"].clone();
        if !visible.is_null() {
            break;
        }
        // The cache hears of the change through PostgreSQL's NOTIFY, a moment after the commit.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(visible["id"], acre["id"]);
    assert_eq!(names(&queue(&director, "DIGEP").await), ["No Acre"]);
}

both_backends!(a_queue_per_area_and_reviewers_of_sub_areas);
