//! The reference TypeScript client (`clients/typescript`) against the real server on both
//! backends: its generated types are current with `schema.graphql` (drift fails the build), it
//! type-checks, and its autosave controller's tests (`src/test/autosave.test.ts`: debounce with
//! one save in flight, a lost answer retried with the same key, a merge of two people's edits, a
//! conflict kept and resolved either way, a disposed controller, the save on page exit) pass
//! against the server from Node.
#![allow(clippy::unwrap_used)]

mod common;

use common::{node, Backend, TestServer};
use std::process::Command;

async fn autosave_controller_works_against_the_server(backend: Backend) {
    let dir = tokio::task::spawn_blocking(node::typescript_client)
        .await
        .unwrap();
    let server = TestServer::start(backend).await;
    let staff = server.staff().await.token.clone().unwrap();
    let author = server.token.clone().unwrap();
    let url = server.url("/graphql");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args(["--test", "--test-reporter=tap", "dist/test/"])
            .env("MAPAGOV_URL", url)
            .env("MAPAGOV_TOKEN", author)
            .env("MAPAGOV_STAFF_TOKEN", staff)
            .current_dir(dir)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let report = node::text(&out);
    assert!(out.status.success(), "{report}");
    // Every test of the file ran and passed.
    let source = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("clients/typescript/src/test/autosave.test.ts"),
    )
    .unwrap();
    let tests = source.matches("\ntest(").count();
    assert!(tests >= 8, "{tests}");
    assert!(report.contains(&format!("# pass {tests}\n")), "{report}");
    assert!(report.contains("# fail 0\n"), "{report}");
}

both_backends!(autosave_controller_works_against_the_server);

/// A schema change the checked-in types do not have fails `npm run check`.
#[tokio::test]
async fn generated_types_that_drift_from_the_schema_fail_the_check() {
    let dir = tokio::task::spawn_blocking(node::typescript_client)
        .await
        .unwrap();
    let schema = std::fs::read_to_string(dir.join("../../schema.graphql")).unwrap();
    let changed = schema.replacen(
        "\tpontosAtencao: String\n",
        "\tpontosAtencao: [String!]\n",
        1,
    );
    assert_ne!(changed, schema, "the field to change is in the schema");
    let file = tempfile::Builder::new()
        .suffix(".graphql")
        .tempfile()
        .unwrap();
    std::fs::write(file.path(), changed).unwrap();
    let out = Command::new("node")
        .args(["scripts/check-generated.mjs", "--schema"])
        .arg(file.path())
        .current_dir(&dir)
        .output()
        .unwrap();
    let report = node::text(&out);
    assert!(!out.status.success(), "{report}");
    assert!(
        report.contains("src/generated/graphql.ts is stale"),
        "{report}"
    );
}
