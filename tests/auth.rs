//! Accounts, authorization and limits: nobody reaches a POP that is not theirs, and no request
//! can hurt the server.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Backend, Client, TestServer};
use serde_json::{json, Value};

const SAVE: &str = "mutation($input: AutosavePopInput!) {
  autosavePop(input: $input) { pop { id integrityHash } snapshot { id } } }";

async fn new_pop(client: &Client, session: &str, area: Option<&str>) -> (String, String) {
    let mut content = json!({"nomeProcesso": format!("Processo {session}")});
    if let Some(area) = area {
        content["area"] = json!({"codigo": area, "nome": "Área"});
    }
    let data = client
        .data(
            SAVE,
            json!({"input": {"sessionId": session, "content": content}}),
        )
        .await;
    let pop = &data["autosavePop"]["pop"];
    (
        pop["id"].as_str().unwrap().into(),
        pop["integrityHash"].as_str().unwrap().into(),
    )
}

async fn backup(client: &Client, session: &str) -> Vec<Value> {
    let data = client
        .data(
            "mutation($s: String!) { backupSession(sessionId: $s) { id } }",
            json!({"s": session}),
        )
        .await;
    data["backupSession"].as_array().unwrap().clone()
}

/// Every operation, against a POP id and a snapshot id; returns each outcome as
/// `(operation, data-or-error-code)`, so two users' answers can be compared.
async fn every_operation(
    client: &Client,
    pop_id: &str,
    snapshot_id: &str,
    session: &str,
) -> Vec<(&'static str, Value)> {
    let ops: Vec<(&str, &str, Value)> = vec![
        (
            "pop",
            "query($id: ID!) { pop(id: $id) { id } }",
            json!({"id": pop_id}),
        ),
        (
            "snapshot",
            "query($id: ID!) { snapshot(id: $id) { id } }",
            json!({"id": snapshot_id}),
        ),
        (
            "diff",
            "query($id: ID!) { snapshotDiff(fromId: $id) { changedFields } }",
            json!({"id": snapshot_id}),
        ),
        (
            "history",
            "query($id: ID!) { popHistory(popId: $id) { totalCount } }",
            json!({"id": pop_id}),
        ),
        (
            "autosave",
            SAVE,
            json!({"input": {"popId": pop_id, "sessionId": session, "content": {"pontosAtencao": "intruso"}}}),
        ),
        (
            "restore",
            "mutation($id: ID!) { restoreSnapshot(snapshotId: $id) { pop { id } } }",
            json!({"id": snapshot_id}),
        ),
        (
            "milestone",
            "mutation($id: ID!) { markMilestone(snapshotId: $id, label: \"x\") { id } }",
            json!({"id": snapshot_id}),
        ),
        (
            "status",
            "mutation($id: ID!) { changePopStatus(popId: $id, status: IN_REVIEW) { pop { id } } }",
            json!({"id": pop_id}),
        ),
        (
            "delete",
            "mutation($id: ID!) { deletePop(popId: $id) { id } }",
            json!({"id": pop_id}),
        ),
    ];
    let mut outcomes = Vec::new();
    for (name, query, vars) in ops {
        let body = client.gql(query, vars).await;
        let outcome = match body.get("errors") {
            Some(errors) => errors[0]["extensions"]["code"].clone(),
            None => body["data"].clone(),
        };
        outcomes.push((name, outcome));
    }
    outcomes
}

async fn nobody_reaches_a_pop_that_is_not_theirs(backend: Backend) {
    let server = TestServer::start_with(backend, &[("SNAPSHOT_EVERY", "1")]).await;
    let alice = server.user("alice", false, None).await;
    let bob = server.user("bob", false, None).await;
    let (pop_id, _) = new_pop(&alice, "user_1760235456618", None).await;
    let snapshot_id = backup(&alice, "user_1760235456618").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Bob gets, for Alice's POP, exactly what he gets for ids that do not exist.
    let real = every_operation(&bob, &pop_id, &snapshot_id, "user_1760235456618").await;
    let unknown = every_operation(
        &bob,
        &uuid::Uuid::new_v4().to_string(),
        "999999",
        "user_1760235456618",
    )
    .await;
    assert_eq!(real, unknown);
    assert!(
        real.iter().all(|(_, outcome)| outcome == "NOT_FOUND"
            || outcome["pop"].is_null()
            || outcome["snapshot"].is_null()),
        "{real:?}"
    );

    // Lists and session ids grant nothing either.
    let listed = bob.data("{ pops { totalCount } }", json!({})).await;
    assert_eq!(listed["pops"]["totalCount"], 0);
    assert!(backup(&bob, "user_1760235456618").await.is_empty());
    let (bobs_pop, _) = new_pop(&bob, "user_1760235456618", None).await;
    assert_ne!(
        bobs_pop, pop_id,
        "the same session id gave Bob a POP of his own"
    );
    // Nor does comparing a snapshot of his own with one of hers: `toId` is checked as `fromId` is.
    let bobs_snapshot = backup(&bob, "user_1760235456618").await[0]["id"].clone();
    let diff =
        "query($from: ID!, $to: ID) { snapshotDiff(fromId: $from, toId: $to) { changedFields } }";
    for to in [json!(snapshot_id), json!("999999")] {
        let err = bob
            .error(diff, json!({"from": bobs_snapshot, "to": to}))
            .await;
        assert_eq!(err["extensions"]["code"], "NOT_FOUND", "toId {to}");
    }

    // Nothing Bob tried changed Alice's POP.
    let history = alice
        .data("query($id: ID!) { popHistory(popId: $id) { totalCount } pop(id: $id) { pontosAtencao deletedAt status } }", json!({"id": pop_id}))
        .await;
    assert_eq!(history["pop"]["pontosAtencao"], Value::Null);
    assert_eq!(history["pop"]["status"], "DRAFT");
    assert!(history["pop"]["deletedAt"].is_null());

    // Staff see every POP and act on it (the last operation deletes it).
    let staff = server.user("chefe", true, None).await;
    let listed = staff.data("{ pops { totalCount } }", json!({})).await;
    assert_eq!(listed["pops"]["totalCount"], 2);
    let seen = every_operation(&staff, &pop_id, &snapshot_id, "s").await;
    assert!(
        seen.iter().all(|(_, outcome)| !outcome.is_string()),
        "{seen:?}"
    );
}

async fn area_reviewers_read_and_review_but_do_not_edit(backend: Backend) {
    let server = TestServer::start(backend).await;
    let author = server.user("autora", false, None).await;
    let reviewer = server.user("revisor", false, Some("COATE")).await;
    let other_area = server.user("outro", false, Some("CGBEN")).await;
    let (pop_id, _) = new_pop(&author, "s1", Some("COATE")).await;

    let read = "query($id: ID!) { pop(id: $id) { id } pops { totalCount } }";
    let seen = reviewer.data(read, json!({"id": pop_id})).await;
    assert_eq!(seen["pop"]["id"], pop_id);
    assert_eq!(seen["pops"]["totalCount"], 1);
    let unseen = other_area.data(read, json!({"id": pop_id})).await;
    assert!(unseen["pop"].is_null());
    assert_eq!(unseen["pops"]["totalCount"], 0);

    let edit =
        json!({"input": {"popId": pop_id, "sessionId": "s1", "content": {"pontosAtencao": "x"}}});
    assert_eq!(reviewer.error_code(SAVE, edit).await, "FORBIDDEN");

    let status = "mutation($id: ID!, $s: PopStatus!, $r: String) { changePopStatus(popId: $id, status: $s, reason: $r) { pop { status } } }";
    assert_eq!(
        reviewer
            .error_code(status, json!({"id": pop_id, "s": "IN_REVIEW"}))
            .await,
        "FORBIDDEN"
    );
    author
        .data(status, json!({"id": pop_id, "s": "IN_REVIEW"}))
        .await;
    assert_eq!(
        author
            .error_code(status, json!({"id": pop_id, "s": "PUBLISHED"}))
            .await,
        "FORBIDDEN"
    );
    reviewer
        .data(
            status,
            json!({"id": pop_id, "s": "DRAFT", "r": "faltam etapas"}),
        )
        .await;
    author
        .data(status, json!({"id": pop_id, "s": "IN_REVIEW"}))
        .await;
    let published = reviewer
        .data(status, json!({"id": pop_id, "s": "PUBLISHED"}))
        .await;
    assert_eq!(published["changePopStatus"]["pop"]["status"], "PUBLISHED");
}

async fn the_change_log_records_who_changed_what(backend: Backend) {
    let server = TestServer::start(backend).await;
    let staff = server.user("chefe", true, None).await;
    let (pop_id, _) = new_pop(&server, "s1", None).await;
    staff
        .data(SAVE, json!({"input": {"popId": pop_id, "sessionId": "s1", "content": {"pontosAtencao": "revisado"}}}))
        .await;
    let history = server
        .data("query($id: ID!) { popHistory(popId: $id) { edges { node { field actor { username } } } } }", json!({"id": pop_id}))
        .await;
    let entries: Vec<(String, String)> = history["popHistory"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["node"]["field"].as_str().unwrap().into(),
                e["node"]["actor"]["username"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        vec![
            ("pontos_atencao".into(), "chefe".into()),
            ("nome_processo".into(), "tester".into())
        ]
    );
}

async fn tokens_login_logout_and_me(backend: Backend) {
    let server = TestServer::start(backend).await;
    let db = server.db().await;
    mapagov::auth::create_user(
        &db,
        mapagov::auth::NewAccount {
            username: "maria".into(),
            password: Some("s3nha-da-maria".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let anonymous = server.anonymous();

    assert_eq!(
        anonymous
            .error_code("{ pops { totalCount } }", json!({}))
            .await,
        "UNAUTHENTICATED"
    );
    assert_eq!(
        anonymous.error_code("{ me { username } }", json!({})).await,
        "UNAUTHENTICATED"
    );
    assert_eq!(
        anonymous.data("{ __typename }", json!({})).await["__typename"],
        "Query"
    );

    let login = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token user { username } } }";
    assert_eq!(
        anonymous
            .error_code(login, json!({"u": "maria", "p": "errada"}))
            .await,
        "BAD_USER_INPUT"
    );
    let unknown = anonymous
        .error(login, json!({"u": "ninguem", "p": "errada"}))
        .await;
    let wrong = anonymous
        .error(login, json!({"u": "maria", "p": "errada"}))
        .await;
    assert_eq!(
        unknown["message"], wrong["message"],
        "an unknown user looks like a wrong password"
    );

    let data = anonymous
        .data(login, json!({"u": "maria", "p": "s3nha-da-maria"}))
        .await;
    let token = data["login"]["token"].as_str().unwrap().to_owned();
    let maria = anonymous.with_token(&token);
    assert_eq!(
        maria.data("{ me { username isStaff } }", json!({})).await["me"]["username"],
        "maria"
    );
    assert_eq!(
        maria.data("mutation { logout }", json!({})).await["logout"],
        true
    );

    // One rule for auth failures: a revoked token gets the body a missing token gets (200,
    // `UNAUTHENTICATED` on the field), plus a `WWW-Authenticate` that says the token was rejected.
    let query = json!({"query": "{ __typename me { username } }"});
    let resp = maria.post().json(&query).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    assert_eq!(body["errors"][0]["path"], json!(["me"]));
    let missing = anonymous.post().json(&query).send().await.unwrap();
    assert_eq!(missing.status(), 200);
    assert!(missing.headers().get("www-authenticate").is_none());
    assert_eq!(
        missing.json::<Value>().await.unwrap(),
        body,
        "the same answer"
    );
    let malformed = anonymous
        .post()
        .header("authorization", "Basic bWFyaWE6c2VuaGE=")
        .json(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 200);
    assert!(malformed.headers().get("www-authenticate").is_some());
    assert_eq!(malformed.json::<Value>().await.unwrap(), body);

    let garbage = anonymous.with_token("mgv_not-a-real-token");
    assert_eq!(
        garbage.error_code("{ me { username } }", json!({})).await,
        "UNAUTHENTICATED"
    );
}

async fn legacy_django_passwords_log_in_and_are_upgraded(backend: Backend) {
    let server = TestServer::start(backend).await;
    let db = server.db().await;
    // Produced by Django's algorithm: base64(pbkdf2_hmac('sha256', password, salt, iterations)).
    let django =
        "pbkdf2_sha256$870000$q2vN8dBwYkR1xZ0a$y3ls86YP69dEiRPH5iR4KmwVw75Ccy/2PUlugLZEN78=";
    {
        let mut pooled = db.get().await.unwrap();
        mapagov::db::queries::insert_user(
            &mut pooled.conn(),
            &mapagov::db::queries::NewUser {
                username: "autora",
                password_hash: django,
                is_staff: false,
                area_codigo: None,
                created_at: chrono::Utc::now(),
            },
        )
        .await
        .unwrap();
    }
    let login = "mutation($p: String!) { login(username: \"autora\", password: $p) { token } }";
    let anonymous = server.anonymous();
    assert_eq!(
        anonymous.error_code(login, json!({"p": "wrong"})).await,
        "BAD_USER_INPUT"
    );
    anonymous
        .data(login, json!({"p": "correct horse battery staple"}))
        .await;
    let stored = {
        let mut pooled = db.get().await.unwrap();
        mapagov::db::queries::user_credentials(&mut pooled.conn(), "autora")
            .await
            .unwrap()
            .unwrap()
            .1
    };
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    anonymous
        .data(login, json!({"p": "correct horse battery staple"}))
        .await;
}

async fn abusive_requests_are_refused_cheaply(backend: Backend) {
    let server = TestServer::start_with(
        backend,
        &[
            ("GRAPHQL_MAX_DEPTH", "6"),
            ("GRAPHQL_MAX_COMPLEXITY", "500"),
            ("MAX_BODY_BYTES", "20000"),
            ("GRAPHQL_MAX_BATCH", "3"),
            ("MAX_DOCUMENT_BYTES", "3000"),
            ("LOGIN_ATTEMPTS_PER_MINUTE", "3"),
        ],
    )
    .await;
    let deep = "{ pops(first: 1) { edges { node { snapshots(first: 1) { edges { node { pop { id } } } } } } } }";
    assert_eq!(server.error_code(deep, json!({})).await, "QUERY_TOO_DEEP");
    let complex = "{ pops(first: 100) { edges { node { id snapshots(first: 100) { edges { node { id } } } } } } }";
    assert_eq!(
        server.error_code(complex, json!({})).await,
        "QUERY_TOO_COMPLEX"
    );
    assert!(server
        .gql("{ pops(first: 5) { totalCount } }", json!({}))
        .await
        .get("errors")
        .is_none());

    let huge = "x".repeat(30_000);
    let resp = server
        .post()
        .json(&json!({"query": "{ __typename }", "variables": {"pad": huge}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "PAYLOAD_TOO_LARGE");

    let batch: Vec<Value> = (0..4).map(|_| json!({"query": "{ __typename }"})).collect();
    let body: Value = server
        .post()
        .json(&batch)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BATCH_TOO_LARGE");
    let ok: Value = server
        .post()
        .json(&batch[..3])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ok.as_array().unwrap().len(), 3);

    let resp = server
        .post()
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        server.error_code("{ pops { ", json!({})).await,
        "GRAPHQL_PARSE_FAILED"
    );
    assert_eq!(
        server.error_code("{ nothingHere }", json!({})).await,
        "GRAPHQL_VALIDATION_FAILED"
    );

    let (pop_id, hash) = new_pop(&server, "s1", None).await;
    let steps: Vec<Value> = (0..40)
        .map(|i| json!({"numero": i, "descricao": "uma etapa bem descrita ".repeat(4)}))
        .collect();
    let err = server
        .error(SAVE, json!({"input": {"popId": pop_id, "sessionId": "s1", "expectedHash": hash, "content": {"etapas": steps}}}))
        .await;
    assert_eq!(err["extensions"]["code"], "DOCUMENT_TOO_LARGE");
    let after = server
        .data(
            "query($id: ID!) { pop(id: $id) { integrityHash etapas } }",
            json!({"id": pop_id}),
        )
        .await;
    assert_eq!(after["pop"]["integrityHash"], hash.as_str());
    assert_eq!(after["pop"]["etapas"], json!([]));

    let login = "mutation { login(username: \"tester\", password: \"guess\") { token } }";
    let anonymous = server.anonymous();
    for _ in 0..3 {
        assert_eq!(
            anonymous.error_code(login, json!({})).await,
            "BAD_USER_INPUT"
        );
    }
    assert_eq!(
        anonymous.error_code(login, json!({})).await,
        "TOO_MANY_REQUESTS"
    );
}

both_backends!(
    nobody_reaches_a_pop_that_is_not_theirs,
    area_reviewers_read_and_review_but_do_not_edit,
    the_change_log_records_who_changed_what,
    tokens_login_logout_and_me,
    legacy_django_passwords_log_in_and_are_upgraded,
    abusive_requests_are_refused_cheaply,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_graphiql_and_cors_follow_the_configuration() {
    let locked = TestServer::start_with(
        Backend::Sqlite,
        &[("APP_ENV", "production"), ("DB_SSLMODE", "disable")],
    )
    .await;
    let hidden = locked
        .data("{ __schema { types { name } } }", json!({}))
        .await;
    assert!(
        hidden["__schema"].is_null(),
        "introspection is off: {hidden}"
    );
    let page = locked
        .http()
        .get(locked.url("/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 406, "GraphiQL is off: only JSON is served");

    let open = TestServer::start_with(
        Backend::Sqlite,
        &[("CORS_ALLOWED_ORIGINS", "https://mapagov.example.gov.br")],
    )
    .await;
    assert!(open
        .gql("{ __schema { queryType { name } } }", json!({}))
        .await
        .get("errors")
        .is_none());
    let page = open
        .http()
        .get(open.url("/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let preflight = |origin: &'static str| {
        open.http()
            .request(reqwest::Method::OPTIONS, open.url("/graphql"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let allowed = preflight("https://mapagov.example.gov.br").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://mapagov.example.gov.br"
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}
