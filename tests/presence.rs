//! Presence on both backends: `heartbeatPop` and `popEditors` say who has a POP open (people,
//! their tabs, the caller marked), `leavePop` removes a tab at once, a silent tab stops counting
//! after `PRESENCE_TTL`, and nobody who may not read the POP can beat or look. The same rows
//! through two server processes are in `tests/live_processes.rs`.
#![allow(clippy::unwrap_used)]

mod common;

use common::pops::create;
use common::{Backend, Client, TestServer};
use serde_json::{json, Value};
use std::time::Duration;

const EDITORS: &str = "user { username } tabs isMe lastSeenAt";

async fn beat(client: &Client, pop: &Value, tab: &str) -> Vec<Value> {
    let doc = format!(
        "mutation($p: ID!, $c: String!) {{ heartbeatPop(popId: $p, clientId: $c) {{ {EDITORS} }} }}"
    );
    let data = client.data(&doc, json!({"p": pop, "c": tab})).await;
    data["heartbeatPop"].as_array().unwrap().clone()
}

async fn editors(client: &Client, pop: &Value) -> Vec<Value> {
    let doc = format!("query($p: ID!) {{ popEditors(popId: $p) {{ {EDITORS} }} }}");
    let data = client.data(&doc, json!({"p": pop})).await;
    data["popEditors"].as_array().unwrap().clone()
}

/// `(username, tabs, isMe)` of each editor.
fn who(editors: &[Value]) -> Vec<(String, i64, bool)> {
    let mut who: Vec<(String, i64, bool)> = editors
        .iter()
        .map(|e| {
            (
                e["user"]["username"].as_str().unwrap().to_owned(),
                e["tabs"].as_i64().unwrap(),
                e["isMe"].as_bool().unwrap(),
            )
        })
        .collect();
    who.sort();
    who
}

async fn presence_tells_who_has_a_pop_open(backend: Backend) {
    let server = TestServer::start_with(backend, &[("PRESENCE_TTL", "2")]).await;
    let pop = create(&server, "presence", json!({"nomeProcesso": "Aberto"})).await["id"].clone();
    let staff = server.staff().await.clone();

    assert_eq!(
        who(&beat(&server, &pop, "tab-a").await),
        [("tester".into(), 1, true)]
    );
    assert_eq!(
        who(&beat(&staff, &pop, "tab-b").await),
        [("staff".into(), 1, true), ("tester".into(), 1, false)]
    );
    // A second tab of the same person counts once, with two tabs; a repeated beat adds nothing.
    beat(&server, &pop, "tab-a2").await;
    beat(&server, &pop, "tab-a2").await;
    assert_eq!(
        who(&editors(&staff, &pop).await),
        [("staff".into(), 1, true), ("tester".into(), 2, false)]
    );

    // Leaving takes effect at once, and only once.
    let leave = "mutation($p: ID!, $c: String!) { leavePop(popId: $p, clientId: $c) }";
    let left = staff.data(leave, json!({"p": pop, "c": "tab-b"})).await;
    assert_eq!(left["leavePop"], true);
    let again = staff.data(leave, json!({"p": pop, "c": "tab-b"})).await;
    assert_eq!(again["leavePop"], false);
    assert_eq!(
        who(&editors(&server, &pop).await),
        [("tester".into(), 2, true)]
    );

    // Someone who may not read the POP can neither beat nor look.
    let stranger = server.user("stranger", false, None).await;
    let beat_doc = "mutation($p: ID!) { heartbeatPop(popId: $p, clientId: \"x\") { tabs } }";
    assert_eq!(
        stranger.error_code(beat_doc, json!({"p": pop})).await,
        "NOT_FOUND"
    );
    let look = "query($p: ID!) { popEditors(popId: $p) { tabs } }";
    assert_eq!(
        stranger.error_code(look, json!({"p": pop})).await,
        "NOT_FOUND"
    );
    let anonymous = server.anonymous();
    assert_eq!(
        anonymous.error_code(look, json!({"p": pop})).await,
        "UNAUTHENTICATED"
    );
    for bad in ["", "   ", &"x".repeat(101)] {
        let doc =
            "mutation($p: ID!, $c: String!) { heartbeatPop(popId: $p, clientId: $c) { tabs } }";
        let error = server.error(doc, json!({"p": pop, "c": bad})).await;
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
    }

    // Tabs that stop beating stop counting after PRESENCE_TTL; one that beats stays.
    beat(&staff, &pop, "tab-b").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    beat(&staff, &pop, "tab-b").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        who(&editors(&staff, &pop).await),
        [("staff".into(), 1, true)]
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(editors(&staff, &pop).await.is_empty());
}

both_backends!(presence_tells_who_has_a_pop_open);
