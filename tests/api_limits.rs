//! Request limits through the real server on both backends: documents that would cost exponential
//! time or memory, response amplification, request errors that say what they are, and validation
//! that reveals nothing of the schema when introspection is off.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::pops::create;
use common::{Backend, TestServer};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A document whose fragments each spread the next one twice: `leaf` is selected 2^n times.
fn doubling(n: usize, leaf: &str) -> String {
    let mut query = String::from("query Boom { ...F0 }\n");
    for i in 0..n {
        query.push_str(&format!(
            "fragment F{i} on Query {{ ...F{0} ...F{0} }}\n",
            i + 1
        ));
    }
    query.push_str(&format!("fragment F{n} on Query {{ {leaf} }}\n"));
    query
}

/// POSTs `body` as JSON and returns the status and the parsed response.
async fn post(server: &TestServer, body: Value) -> (u16, Value) {
    let resp = server.post().json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    e["extensions"]["code"]
                        .as_str()
                        .unwrap_or("NONE")
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// One request without a token used to grow the server without bound (2^N `__typename`
/// selections) or to spend minutes costing the document; now both are refused at once, and the
/// server stays healthy.
async fn exponential_fragments_are_refused_at_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let anonymous = server.anonymous();
    for (n, leaf) in [
        (22, "__typename"),
        (24, "me { username }"),
        (30, "__typename"),
    ] {
        let started = Instant::now();
        let body = anonymous.gql(&doubling(n, leaf), json!({})).await;
        let took = started.elapsed();
        assert_eq!(codes(&body), ["QUERY_TOO_COMPLEX"], "N = {n}: {body:#}");
        assert!(body["data"].is_null(), "N = {n}: nothing runs");
        assert!(took < Duration::from_secs(2), "N = {n} took {took:?}");
    }
    // A fragment cycle with branching is refused too, not walked to a recursion limit.
    let cycle = "query { ...A } fragment A on Query { ...B ...B __typename } \
                 fragment B on Query { ...A ...A }";
    let body = anonymous.gql(cycle, json!({})).await;
    assert_eq!(codes(&body), ["GRAPHQL_VALIDATION_FAILED"], "{body:#}");
    // Ordinary fragment use still works.
    let data = server
        .data(&doubling(3, "me { username }"), json!({}))
        .await;
    assert_eq!(data["me"]["username"], "tester");
    let health = server
        .http()
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

/// Aliases are limited; large values are charged by their size against the response budget.
async fn responses_cannot_be_amplified(backend: Backend) {
    let server =
        TestServer::start_with(backend, &[("GRAPHQL_MAX_RESPONSE_BYTES", "3000000")]).await;
    let big = "palavra ".repeat(128 * 1024); // 1 MiB
    let pop = create(
        &server,
        "big",
        json!({ "nomeProcesso": "Grande", "pontosAtencao": big }),
    )
    .await;
    let id = pop["id"].clone();

    let aliases: String = (0..400)
        .map(|i| format!("p{i}: pop(id: $id) {{ document }} "))
        .collect();
    let body = server
        .gql(
            &format!("query($id: ID!) {{ {aliases} }}"),
            json!({ "id": id }),
        )
        .await;
    assert_eq!(codes(&body), ["TOO_MANY_ALIASES"], "{body:#}");

    // Within the alias limit, each copy of the 1 MiB document is charged: the third one is over
    // the 3 MB budget and answers an error in its place.
    let aliases: String = (0..10)
        .map(|i| format!("p{i}: pop(id: $id) {{ id document }} "))
        .collect();
    let resp = server
        .post()
        .json(&json!({ "query": format!("query($id: ID!) {{ {aliases} }}"), "variables": { "id": id } }))
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    assert!(text.len() < 4_000_000, "response of {} bytes", text.len());
    let body: Value = serde_json::from_str(&text).unwrap();
    let errors = codes(&body);
    assert!(!errors.is_empty(), "some copies must be refused");
    assert!(
        errors.iter().all(|c| c == "RESPONSE_TOO_LARGE"),
        "{errors:?}"
    );
    // The copies resolve concurrently, so which ones fit depends on which finish first; how many
    // fit does not: the budget takes two 1 MiB documents, not three.
    let fitted = (0..10)
        .filter(|i| body["data"][format!("p{i}")]["document"].is_object())
        .count();
    assert!((1..=2).contains(&fitted), "{fitted} copies fit");

    // The same through a list.
    for i in 0..3 {
        create(
            &server,
            &format!("s{i}"),
            json!({ "nomeProcesso": format!("P{i}"), "pontosAtencao": big }),
        )
        .await;
    }
    let resp = server
        .post()
        .json(&json!({ "query": "{ pops(first: 100) { nodes { document rawPayload etapas } } }" }))
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    assert!(text.len() < 4_000_000, "response of {} bytes", text.len());
    let body: Value = serde_json::from_str(&text).unwrap();
    assert!(
        codes(&body).contains(&"RESPONSE_TOO_LARGE".to_owned()),
        "{body:#}"
    );
}

/// Request errors say what they are, and echo nothing they were sent.
async fn request_errors_say_what_they_are(backend: Backend) {
    let server = TestServer::start(backend).await;

    let (status, body) = post(&server, json!([])).await;
    assert_eq!(
        (status, codes(&body)),
        (400, vec!["BAD_REQUEST".to_owned()])
    );
    let (status, body) = post(&server, json!({ "variables": {} })).await;
    assert_eq!(
        (status, codes(&body)),
        (400, vec!["BAD_REQUEST".to_owned()])
    );

    let deep = format!("{}{}", "{ me ".repeat(100), "}".repeat(100));
    assert_eq!(server.error_code(&deep, json!({})).await, "QUERY_TOO_DEEP");
    // Field depth beyond GRAPHQL_MAX_DEPTH (15), within what parses.
    let nest = |k: usize| {
        format!(
            "{{ pops(first: 1) {{ nodes {{ {} id {} }} }} }}",
            "snapshots(first: 1) { nodes { pop { ".repeat(k),
            "} } } ".repeat(k)
        )
    };
    assert!(server
        .gql(&nest(4), json!({}))
        .await
        .get("errors")
        .is_none());
    assert_eq!(
        server.error_code(&nest(5), json!({})).await,
        "QUERY_TOO_DEEP"
    );

    let name = format!("Op{}\u{0}\n{}", "x".repeat(10_000), "y".repeat(10));
    let resp = server
        .post()
        .json(&json!({ "query": "query A { me { username } }", "operationName": name }))
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    assert!(!text.contains("xxxx"), "operationName echoed: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(codes(&body), ["BAD_REQUEST"]);

    let directives = format!(
        "{{ me {{ username {} }} }}",
        "@skip(if: false) ".repeat(5_000)
    );
    let body = server.gql(&directives, json!({})).await;
    assert_eq!(codes(&body), ["TOO_MANY_DIRECTIVES"]);
    assert!(body.to_string().len() < 1_000);

    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request = server.post().body(r#"{"query":"{ me { username } }"}"#);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let resp = request.send().await.unwrap();
        assert_eq!(resp.status(), 415, "{content_type:?}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(codes(&body), ["UNSUPPORTED_MEDIA_TYPE"]);
    }
    let resp = server
        .post()
        .header("content-type", "application/json; charset=utf-8")
        .body(r#"{"query":"{ me { username } }"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

/// With introspection off, a validation error names nothing of the schema.
async fn validation_reveals_nothing_without_introspection(backend: Backend) {
    let server = TestServer::start_with(backend, &[("GRAPHQL_INTROSPECTION", "false")]).await;
    for (query, revealing) in [
        ("{ po { id } }", vec!["pop", "Did you mean", "Query"]),
        (
            "{ pop(id: \"x\") { nomeProcess } }",
            vec!["nomeProcesso", "Pop"],
        ),
        ("{ pop(i: \"x\") { id } }", vec!["\"id\"", "argument"]),
        (
            "query($a: Nope) { me { username } }",
            vec!["Nope", "Unknown type"],
        ),
    ] {
        for client in [server.anonymous(), (*server).clone()] {
            let body = client.gql(query, json!({})).await;
            assert_eq!(
                codes(&body),
                ["GRAPHQL_VALIDATION_FAILED"],
                "{query}: {body:#}"
            );
            let text = body.to_string();
            for word in &revealing {
                assert!(!text.contains(word), "{query}: reveals {word}: {text}");
            }
        }
    }
    // With introspection on (development), the message helps.
    let dev = TestServer::start(backend).await;
    let body = dev.gql("{ po { id } }", json!({})).await;
    assert!(body.to_string().contains("po"), "{body:#}");
    assert_eq!(codes(&body), ["GRAPHQL_VALIDATION_FAILED"]);
}

/// A document the server has seen validate is answered as a new one would be: a variable of
/// another kind is still a request error, with the same body, before anything runs.
async fn a_repeated_document_still_checks_its_variables(backend: Backend) {
    let server = TestServer::start(backend).await;
    let pop = create(&server, "s-repeat", json!({"nomeProcesso": "Um"})).await;
    let read = "query($id: ID!) { pop(id: $id) { id } }";
    for _ in 0..3 {
        let body = server.gql(read, json!({ "id": pop["id"] })).await;
        assert_eq!(body["data"]["pop"]["id"], pop["id"], "{body:#}");
    }
    for bad in [json!(true), json!(1.5), json!(null), json!({"id": 1})] {
        // The same operation in a text the server has not seen: validated from scratch.
        let fresh = format!("{read} # {bad}");
        let (status, first) = post(
            &server,
            json!({ "query": fresh, "variables": { "id": bad } }),
        )
        .await;
        let (again_status, again) = post(
            &server,
            json!({ "query": read, "variables": { "id": bad } }),
        )
        .await;
        assert_eq!((again_status, &again), (status, &first), "{bad}");
        assert!(again.get("data").is_none(), "{bad}: {again:#}");
        assert_eq!(
            codes(&again),
            ["GRAPHQL_VALIDATION_FAILED"],
            "{bad}: {again:#}"
        );
    }
    let body = server.gql(read, json!({ "id": pop["id"] })).await;
    assert_eq!(body["data"]["pop"]["id"], pop["id"], "{body:#}");
}

both_backends!(
    a_repeated_document_still_checks_its_variables,
    exponential_fragments_are_refused_at_once,
    responses_cannot_be_amplified,
    request_errors_say_what_they_are,
    validation_reveals_nothing_without_introspection,
);
