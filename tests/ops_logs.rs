//! Request logs of the real binary with `LOG_FORMAT=json`: every line is a JSON object, each
//! request gets exactly one `request` line with its id, method, route template, status, latency
//! and GraphQL operation name, and the id is echoed in `x-request-id`.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::binary::Served;
use common::Backend;
use serde_json::{json, Value};

both_backends!(one_json_line_per_request_with_its_id);

async fn one_json_line_per_request_with_its_id(backend: Backend) {
    let (database_url, sqlite_dir) = common::fresh_database(backend).await;
    let dir = sqlite_dir.unwrap_or_else(|| tempfile::tempdir().unwrap());
    // Migrate and create the user before the server starts, so its log holds only requests.
    common::binary::run_ok({
        let mut cmd = common::binary::command(&database_url, dir.path(), &[]);
        cmd.arg("migrate");
        cmd
    });
    let token = common::binary::create_user(&database_url, dir.path(), "maria");
    let served = Served::start(&database_url, dir.path(), &[("LOG_FORMAT", "json")]).await;
    let http = reqwest::Client::new();

    // A GraphQL operation with a sane request id: kept and echoed.
    let resp = http
        .post(format!("{}/graphql", served.base))
        .bearer_auth(&token)
        .header("x-request-id", "req-42.A_b")
        .json(&json!({"query": "query WhoAmI { me { username } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "req-42.A_b");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["me"]["username"], "maria");

    // An insane request id (too long, a space): replaced by a fresh one.
    let insane = format!("has space {}", "x".repeat(200));
    let resp = http
        .get(format!("{}/pops/123?secret=1", served.base))
        .header("x-request-id", &insane)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let generated = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(generated, insane);
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");

    // No id at all: one is generated.
    let resp = http
        .get(format!("{}/readyz", served.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let readyz_id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();

    let finished = served.terminate();
    assert!(finished.status.success());
    let lines: Vec<Value> = finished
        .stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let requests: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "mapagov::http" && l["fields"]["message"] == "request")
        .collect();
    // Besides the start-up health checks, the three requests above, each logged once.
    let others: Vec<&&Value> = requests
        .iter()
        .filter(|l| l["fields"]["route"] != "/healthz")
        .collect();
    assert_eq!(others.len(), 3, "one line per request: {others:#?}");
    assert!(requests.iter().any(|l| l["fields"]["route"] == "/healthz"));
    let by_id = |id: &str| -> Vec<&Value> {
        requests
            .iter()
            .copied()
            .filter(|l| l["fields"]["request_id"] == id)
            .collect()
    };

    let graphql = by_id("req-42.A_b");
    assert_eq!(graphql.len(), 1);
    let f = &graphql[0]["fields"];
    assert_eq!(f["method"], "POST");
    assert_eq!(f["route"], "/graphql");
    assert_eq!(f["status"], 200);
    assert_eq!(f["operation"], "WhoAmI");
    assert!(f["latency_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(graphql[0]["level"], "INFO");

    let missing = by_id(&generated);
    assert_eq!(missing.len(), 1);
    assert_eq!(
        missing[0]["fields"]["route"], "unmatched",
        "never the raw path"
    );
    assert_eq!(missing[0]["fields"]["status"], 404);
    assert_eq!(by_id(&readyz_id)[0]["fields"]["route"], "/readyz");

    assert!(!finished.stderr.contains(&token), "the token was logged");
    assert!(
        !finished.stderr.contains("secret=1"),
        "the query string was logged"
    );
    assert!(
        !finished.stderr.contains("/pops/123"),
        "the raw path was logged"
    );
}
