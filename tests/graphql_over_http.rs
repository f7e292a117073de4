//! GraphQL over HTTP as the specification and mainstream clients expect it: `GET` for queries
//! (never mutations), `Accept` negotiation between `application/graphql-response+json` and
//! `application/json` with the status codes each asks for, GraphiQL only for browsers, and the
//! `graphql-http` audit suite run from Node against the real server.
#![allow(clippy::unwrap_used)]

mod common;

use common::{node, Backend, TestServer};
use serde_json::{json, Value};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// `GET /graphql` with `params` in the URL and `accept`; returns status, content type, body.
async fn get(
    server: &TestServer,
    params: &[(&str, &str)],
    accept: Option<&str>,
) -> (u16, String, String) {
    let mut request = server.http().get(server.url("/graphql")).query(params);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    if let Some(token) = &server.token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

/// POSTs `body` with `accept`; returns status, content type and the JSON body.
async fn post(server: &TestServer, body: Value, accept: &str) -> (u16, String, Value) {
    let response = server
        .post()
        .header("accept", accept)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (status, content_type, response.json().await.unwrap())
}

async fn get_runs_queries_and_refuses_mutations(backend: Backend) {
    let server = TestServer::start(backend).await;
    let created = server
        .data(
            r#"mutation { autosavePop(input: {sessionId: "s1", content: {nomeProcesso: "Por GET"}}) { pop { id } } }"#,
            json!({}),
        )
        .await;
    let id = created["autosavePop"]["pop"]["id"].as_str().unwrap();

    let (status, content_type, body) = get(
        &server,
        &[
            (
                "query",
                "query One($id: ID!) { pop(id: $id) { nomeProcesso } }",
            ),
            ("variables", &json!({"id": id}).to_string()),
            ("operationName", "One"),
        ],
        Some(GRAPHQL_RESPONSE),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(content_type.starts_with(GRAPHQL_RESPONSE), "{content_type}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["data"]["pop"]["nomeProcesso"], "Por GET");

    let mutation = r#"mutation { autosavePop(input: {sessionId: "s1", content: {nomeProcesso: "x"}}) { changed } }"#;
    for accept in [None, Some("application/json"), Some(GRAPHQL_RESPONSE)] {
        let response = server
            .http()
            .get(server.url("/graphql"))
            .query(&[("query", mutation)])
            .bearer_auth(server.token.as_deref().unwrap())
            .header("accept", accept.unwrap_or("*/*"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{accept:?}");
        assert_eq!(response.headers()["allow"], "POST");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            "METHOD_NOT_ALLOWED"
        );
        assert!(body.get("data").is_none(), "{body}");
    }
    let after = server.data("{ pops { totalCount } }", json!({})).await;
    assert_eq!(after["pops"]["totalCount"], 1, "no POP was created by GET");
    let unchanged = server
        .data(
            "query($id: ID!) { pop(id: $id) { nomeProcesso autosaveSequence } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(unchanged["pop"]["nomeProcesso"], "Por GET");

    // A GET without a query is a request error, not GraphiQL, for a client that wants JSON.
    let (status, content_type, _) = get(&server, &[], Some(GRAPHQL_RESPONSE)).await;
    assert_eq!(status, 400);
    assert!(content_type.starts_with(GRAPHQL_RESPONSE));
}

async fn accept_chooses_the_media_type_and_the_status(backend: Backend) {
    let server = TestServer::start(backend).await;
    let cases = [
        (json!({"query": "{"}), "GRAPHQL_PARSE_FAILED"),
        (
            json!({"query": "{ nothingHere }"}),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            json!({"query": "query($id: ID!) { pop(id: $id) { id } }", "variables": {"id": null}}),
            "",
        ),
    ];
    for (body, code) in cases {
        let (status, content_type, answer) = post(&server, body.clone(), GRAPHQL_RESPONSE).await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert_eq!(
            content_type,
            "application/graphql-response+json; charset=utf-8"
        );
        assert!(
            answer.get("data").is_none(),
            "a request error has no data: {answer}"
        );
        if !code.is_empty() {
            assert_eq!(answer["errors"][0]["extensions"]["code"], code);
        }
        let (status, content_type, answer) = post(&server, body.clone(), "application/json").await;
        assert_eq!(status, 200, "{body} → {answer}");
        assert_eq!(content_type, "application/json; charset=utf-8");
        assert!(answer["errors"][0]["extensions"]["code"].is_string());
    }
    // A field error is still 200 with data, in either type.
    let anonymous = server.anonymous();
    for accept in [GRAPHQL_RESPONSE, "application/json"] {
        let response = anonymous
            .post()
            .header("accept", accept)
            .json(&json!({"query": "{ pops { totalCount } __typename }"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    }
    // Nothing acceptable.
    let (status, _, answer) = post(&server, json!({"query": "{ __typename }"}), "text/plain").await;
    assert_eq!(status, 406);
    assert_eq!(answer["errors"][0]["extensions"]["code"], "NOT_ACCEPTABLE");
    // A malformed body is 400 in both types.
    for accept in [GRAPHQL_RESPONSE, "application/json"] {
        let response = server
            .post()
            .header("accept", accept)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(accept));
    }
}

async fn date_times_are_rfc3339_utc_with_milliseconds(backend: Backend) {
    let server = TestServer::start(backend).await;
    let saved = server
        .data(
            r#"mutation { autosavePop(input: {sessionId: "s1", content: {nomeProcesso: "Datas"}}) { pop { createdAt updatedAt lastAutosaveAt } } }"#,
            json!({}),
        )
        .await;
    for field in ["createdAt", "updatedAt", "lastAutosaveAt"] {
        let value = saved["autosavePop"]["pop"][field].as_str().unwrap();
        let shape = value.len() == 24
            && value.ends_with('Z')
            && value.as_bytes()[19] == b'.'
            && chrono::DateTime::parse_from_rfc3339(value).is_ok();
        assert!(shape, "{field}: {value} is not YYYY-MM-DDTHH:MM:SS.mmmZ");
    }
    let scalars = server
        .data(
            r#"{ dt: __type(name: "DateTime") { description specifiedByURL }
                 d: __type(name: "Date") { specifiedByURL } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        scalars["dt"]["specifiedByURL"],
        "https://www.rfc-editor.org/rfc/rfc3339"
    );
    assert!(!scalars["dt"]["description"]
        .as_str()
        .unwrap()
        .contains("Implement"));
    assert!(scalars["d"]["specifiedByURL"].is_string());
}

both_backends!(
    get_runs_queries_and_refuses_mutations,
    accept_chooses_the_media_type_and_the_status,
    date_times_are_rfc3339_utc_with_milliseconds,
);

const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_get_graphiql_and_clients_get_json() {
    let server = TestServer::start(Backend::Sqlite).await;
    let (status, content_type, page) = get(&server, &[], Some(BROWSER_ACCEPT)).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(page.contains("<title>MapaGov GraphiQL</title>"));
    let (status, content_type, body) = get(&server, &[("query", "{ __typename }")], None).await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/json; charset=utf-8")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["data"]["__typename"],
        "Query"
    );

    let locked = TestServer::start_with(Backend::Sqlite, &[("GRAPHIQL", "false")]).await;
    let (status, _, body) = get(&locked, &[], Some("text/html")).await;
    assert_eq!(status, 406, "GraphiQL is off: {body}");
    let (status, content_type, _) = get(&locked, &[], Some(BROWSER_ACCEPT)).await;
    assert_eq!(status, 400, "no query, and JSON is acceptable");
    assert!(content_type.starts_with("application/json"));
}

/// The `graphql-http` audits and mainstream clients' defaults, from Node (tests/js/audit.mjs).
/// The HTTP layer is the same on both backends, so this runs on SQLite only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graphql_over_http_audit_passes() {
    let server = TestServer::start(Backend::Sqlite).await;
    let out = node::run("audit.mjs", &[&server.url("/graphql")]).await;
    let text = node::text(&out);
    println!("{text}");
    assert!(out.status.success(), "audit failed:\n{text}");
    assert!(text.contains("summary:"), "{text}");
}
